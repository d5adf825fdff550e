"""The questions and candidates ``scripts/fit_scorer.py`` fits on: the question files by
origin, the retrieved chunks of each question (cached beside the index), every candidate
with its features, and which candidates are right."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.compose import Composer, _display  # noqa: E402
from rag.features import FEATURES  # noqa: E402
from rag.question import is_chinese  # noqa: E402
from rag.retrieve import Hit  # noqa: E402
from rag.service import Assistant  # noqa: E402

REAL = ROOT.parent / "shared" / "eval" / "real"     # the real articles given to the project
QUESTION_SETS = {   # origin -> question file
    "seeds": ROOT / "tests" / "data" / "dev_questions.jsonl",
    "real": REAL / "questions.jsonl",
    "labelled": ROOT / "training" / "questions.jsonl",
    "auto": ROOT / "training" / "auto_questions.jsonl",
}
SOURCES = [ROOT / "seeds", REAL / "corpus", ROOT / "training" / "corpus"]
FOLDS = 5
AUTO_WEIGHT = 0.3      # an auto-generated question counts this much of a labelled one

def flat(text: str | None) -> str:
    return "".join((text or "").split())


def load(origins) -> list[dict]:
    rows = []
    for origin in origins:
        path = QUESTION_SETS[origin]
        if not path.exists():
            print(f"(no {path}; skipped)")
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if is_chinese(row["question"]):    # English questions take their own path
                    rows.append({**row, "origin": origin})
    return rows


def is_right(row: dict, cand) -> bool:
    if row["answer"] is None or cand.hit.chunk.source != row["source"]:
        return False
    if row.get("type") == "yesno":
        ev, s = flat(row.get("evidence")), flat(cand.sentence)
        return bool(ev) and (s in ev or ev in s)
    return flat(row["answer"]) in flat(_display(cand))


def search_all(bot: Assistant, rows: list[dict], index_dir: Path) -> dict[str, list[Hit]]:
    """The retrieved chunks of every question, kept in a file beside the index: retrieval
    does not change while the features and the models are worked on."""
    cache_file = index_dir / "fit-hits.json"
    gen = bot.index.manifest.get("generation")
    cache = json.loads(cache_file.read_text(encoding="utf-8")) if cache_file.exists() else {}
    if cache.get("generation") != gen:
        cache = {"generation": gen, "hits": {}}
    row_of = {c.id: i for i, c in enumerate(bot.index.chunks)}
    for n, row in enumerate(rows):
        if row["question"] not in cache["hits"]:
            cache["hits"][row["question"]] = [[h.chunk.id, h.score, h.dense_score, h.lexical_score, h.dense_rank,
                                               h.lexical_rank] for h in bot.search(row["question"])]
            if n % 100 == 0:
                print(f"  searched {n}/{len(rows)}", flush=True)
                cache_file.write_text(json.dumps(cache, ensure_ascii=False), encoding="utf-8")
    cache_file.write_text(json.dumps(cache, ensure_ascii=False), encoding="utf-8")
    return {q: [Hit(bot.index.chunks[row_of[cid]], *rest) for cid, *rest in hs] for q, hs in cache["hits"].items()}


def collect(bot: Assistant, rows: list[dict], index_dir: Path) -> list[dict]:
    """Every question with its candidates, their features and whether each is right."""
    composer: Composer = bot._state[2]
    all_hits = search_all(bot, rows, index_dir)
    items = []
    for i, row in enumerate(rows):
        hits = all_hits[row["question"]]
        qc = composer.features.question(row["question"])
        cands = composer.features.candidates(qc, hits)
        x = np.array([[c.features.get(f, 0.0) for f in FEATURES] for c in cands], dtype=np.float64)
        # A trap goes with the article it was written about, else the one it is closest to.
        article = row["source"] or row.get("about") or (hits[0].chunk.source if hits else "none")
        items.append({"row": row, "qc": qc, "cands": cands, "x": x.reshape(-1, len(FEATURES)),
                      "y": np.array([is_right(row, c) for c in cands], dtype=bool), "article": article,
                      "weight": AUTO_WEIGHT if row["origin"] == "auto" else 1.0})
        if (i + 1) % 400 == 0:
            print(f"  {i + 1}/{len(rows)} questions described", flush=True)
    return items


def fold_of(article: str) -> int:
    return int(hashlib.md5(article.encode()).hexdigest(), 16) % FOLDS
