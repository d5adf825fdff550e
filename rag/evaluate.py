"""Score answers against a question file (JSON lines with id, question, answer, source)."""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from .errors import RagError
from .question import analyse_question
from .service import Assistant

__all__ = ["load_questions", "evaluate"]


def load_questions(path: str | Path) -> list[dict]:
    """Read a JSONL question file; each line needs ``question``; ``answer``/``source`` may be null."""
    path = Path(path)
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise RagError(f"{path}: cannot read the question file ({e})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise RagError(f"{path}:{n}: not valid JSON ({e})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str):
            raise RagError(f"{path}:{n}: each line needs a \"question\" string")
        rows.append(row)
    return rows


def evaluate(assistant: Assistant, questions: list[dict]) -> dict:
    """Answer every question and compute the metrics.

    answer_accuracy: answerable questions whose answer text holds the gold answer and
    that cite the gold source (for a 是/否 question: whose short answer is the gold one).
    citation_accuracy: answerable questions citing the gold source. refusal_accuracy:
    unanswerable questions answered ``found=False``. recall@1/@5 and MRR: rank of the gold
    source among retrieved chunks. ``by_type``: answer accuracy per question type (the
    row's ``type``, else the kind the question is read as). ``misses``: how the wrong
    answers went wrong: refused although answerable, answered wrong, trap answered.
    """
    rows, latencies = [], []
    for q in questions:
        started = time.perf_counter()
        a = assistant.ask(q["question"])
        latencies.append((time.perf_counter() - started) * 1000)
        hits = assistant.search(q["question"], k=10)
        sources = [h.chunk.source for h in hits]
        gold, gold_src = q.get("answer"), q.get("source")
        cited = {c.source for c in a.citations}
        kind = q.get("type") or analyse_question(q["question"]).asks
        row = {"id": q.get("id"), "question": q["question"], "type": kind, "found": a.found, "answer": a.text,
               "short_answer": a.short_answer, "gold": gold, "source": gold_src}
        if gold is not None:
            holds = a.short_answer == gold if kind == "yesno" else _flat(gold) in _flat(a.text)
            row["correct"] = a.found and holds and gold_src in cited
            row["cites_source"] = gold_src in cited
            rank = sources.index(gold_src) + 1 if gold_src in sources else 0
            row["rank"] = rank
            row["miss"] = None if row["correct"] else "answered_wrong" if a.found else "refused_answerable"
        else:
            row["correct"] = not a.found
            row["miss"] = None if row["correct"] else "trap_answered"
        rows.append(row)
    answerable = [r for r in rows if r["gold"] is not None]
    unanswerable = [r for r in rows if r["gold"] is None]

    def share(xs) -> float:
        xs = list(xs)
        return round(sum(xs) / len(xs), 4) if xs else 0.0

    latencies.sort()
    metrics = {
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "answer_accuracy": share(r["correct"] for r in answerable),
        "citation_accuracy": share(r["cites_source"] for r in answerable),
        "refusal_accuracy": share(r["correct"] for r in unanswerable),
        "recall@1": share(r["rank"] == 1 for r in answerable),
        "recall@5": share(0 < r["rank"] <= 5 for r in answerable),
        "mrr": share(1 / r["rank"] if r["rank"] else 0 for r in answerable),
        "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else 0.0,
        "latency_ms_p95": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1)
        if latencies else 0.0,
    }
    by_type = {}
    for kind in sorted({r["type"] for r in answerable}):
        of = [r["correct"] for r in answerable if r["type"] == kind]
        by_type[kind] = {"questions": len(of), "accuracy": share(of)}
    misses = {m: sum(r["miss"] == m for r in rows) for m in ("refused_answerable", "answered_wrong", "trap_answered")}
    return {"metrics": metrics, "by_type": by_type, "misses": misses, "results": rows}


def _flat(text: str) -> str:
    """Whitespace does not count: quotes are compared the way citations are checked."""
    return "".join(text.split())
