"""Fit the answer scorer (rag/data/scorer.json) on labelled questions, and report it out of fold.

    python scripts/fit_scorer.py [--index-dir DIR] [--real DIR] [--out FILE] [--ablate]

1. One index holds every article the questions are about: seeds/, the real set
   (../shared/eval/real/corpus) and training/corpus (built once into --index-dir if missing).
2. Every question is searched as the chat searches it, and every sentence of the retrieved
   chunks becomes a candidate with its features (rag/features.py). A candidate is right when
   it comes from the gold source and holds the gold answer (for a 是/否 question: it is the
   evidence sentence).
3. The ranker is a logistic regression on pairs (a right candidate's features minus a wrong
   one's, per question): it learns what puts the answer above the other sentences of the
   same question. The confidence model is a logistic regression over the ranked list (best
   score, lead, the best candidate's features) fitted on out-of-fold ranker scores, labelled
   1 when the best candidate is right and 0 when it is wrong or the question is a trap. One
   threshold on the confidence balances the share of answerable questions answered right
   and the share of traps refused (the weaker of the two is maximised: both have the same
   target, and an answer to a trap is a wrong fact); the support margin (extra sentences
   for what/how/why) is chosen with it.
4. Out of fold: questions are split five ways by article (a trap goes with the article it
   was written about, else the one it retrieves first); each fold is answered by models and a
   threshold fitted on the other four only (the confidence model and the threshold from an
   inner split of those four). The figures printed are those answers, judged like `rag eval`.
5. The shipped scorer is fitted on everything the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from fit_data import (AUTO_WEIGHT, FOLDS, QUESTION_SETS, REAL, SOURCES, collect, flat, fold_of,  # noqa: E402
                      is_right, load, search_all)
from fit_spans import fit_span_model, span_examples, span_report  # noqa: E402
from rag.features import FEATURE_GROUPS, FEATURES  # noqa: E402
from rag.scorer import Scorer, confidence_features  # noqa: E402
from rag.service import Assistant  # noqa: E402
from rag.sync import sync_index  # noqa: E402

MAX_PAIRS = 30         # wrong candidates paired with the right one, per question
SUPPORTS = (0.5, 1.0, 2.0, 4.0)
THRESHOLDS = np.round(np.arange(0.02, 0.95, 0.01), 2)
PLATEAU = 0.01         # thresholds this close to the best value count as equally good
# What the confidence model reads of the best candidate, besides its score and lead.
CONFIDENCE_FEATURES = ("cov_s", "cov_ctx", "subj_ctx", "subj_s", "name_miss", "miss_max", "focus_s", "near_s",
                       "pred_s", "has_span", "span_fits", "span_unit", "span_near", "span_near_pred", "span_focus",
                       "bigram_ctx", "cov_prev", "cov_next", "year_clash", "year_miss_ctx", "ordinal_clash",
                       *FEATURE_GROUPS["asks"])


def fit_ranker(items, features) -> dict:
    """A pairwise logistic regression: right-minus-wrong feature differences against their negations."""
    from sklearn.linear_model import LogisticRegression
    cols = [FEATURES.index(f) for f in features]
    rng = np.random.default_rng(0)
    diffs, weights = [], []
    for it in items:
        y = it["y"]
        if not y.any() or y.all():
            continue
        pos, neg = it["x"][y][:, cols].mean(0), it["x"][~y][:, cols]
        if len(neg) > MAX_PAIRS:
            neg = neg[rng.choice(len(neg), MAX_PAIRS, replace=False)]
        diffs.append(pos - neg)
        weights.append(np.full(len(neg), it["weight"] / len(neg)))
    d, w = np.vstack(diffs), np.concatenate(weights)
    sd = d.std(0) + 1e-9
    model = LogisticRegression(max_iter=3000, fit_intercept=False).fit(
        np.vstack([d / sd, -d / sd]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w] * len(w) / w.sum())
    return {"weights": {f: float(c) for f, c in zip(features, model.coef_[0] / sd)}, "bias": 0.0}


def ranked(it, ranker) -> tuple[np.ndarray, np.ndarray]:
    """Scores of an item's candidates and their order, best first."""
    wv = np.array([ranker["weights"].get(f, 0.0) for f in FEATURES])
    scores = it["x"] @ wv if len(it["x"]) else np.zeros(0)
    order = np.lexsort((np.array([c.rank for c in it["cands"]]), -scores)) if len(scores) else np.zeros(0, int)
    return scores, order


def conf_row(it, ranker) -> tuple[dict, bool]:
    scores, order = ranked(it, ranker)
    if not len(order):
        return {}, False
    best = it["cands"][order[0]].features
    feats = confidence_features(list(scores[order[:2]]), {k: best.get(k, 0.0) for k in CONFIDENCE_FEATURES})
    return feats, bool(it["y"][order[0]])


def fit_confidence(rows_and_labels, weights) -> dict:
    from sklearn.linear_model import LogisticRegression
    names = sorted({k for r, _ in rows_and_labels for k in r})
    x = np.array([[r.get(k, 0.0) for k in names] for r, _ in rows_and_labels])
    y = np.array([label for _, label in rows_and_labels])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(max_iter=3000, C=0.5).fit((x - mu) / sd, y, sample_weight=np.array(weights))
    coef = model.coef_[0] / sd
    return {"weights": {k: float(c) for k, c in zip(names, coef)}, "bias": float(model.intercept_[0] - (coef * mu).sum())}


def fit_scorer(composer, items, features, k_outer=None) -> dict:
    """Ranker on all of ``items``; confidence model, threshold and support from an inner
    out-of-fold split of them (folds other than ``k_outer``)."""
    folds = sorted({fold_of(it["article"]) for it in items})
    oof_rows, oof_weights, oof_items, oof_rankers = [], [], [], []
    for j in folds:
        inner_train = [it for it in items if fold_of(it["article"]) != j]
        inner_test = [it for it in items if fold_of(it["article"]) == j]
        r = fit_ranker(inner_train, features)
        for it in inner_test:
            row, right = conf_row(it, r)
            oof_rows.append((row, right and it["row"]["answer"] is not None))
            oof_weights.append(it["weight"])
            oof_items.append(it)
            oof_rankers.append(r)
    confidence = fit_confidence(oof_rows, oof_weights)
    labelled = [i for i, it in enumerate(oof_items) if it["row"]["origin"] != "auto"]
    threshold, support = choose_threshold(composer, [oof_items[i] for i in labelled], [oof_rankers[i] for i in labelled],
                                          confidence)
    return {"ranker": fit_ranker(items, features), "confidence": confidence, "threshold": threshold, "support": support}


def answer(composer, it, scorer: Scorer):
    cands = it["cands"]
    for c in cands:
        c.score = scorer.rank(c.features)
    cands = sorted(cands, key=lambda c: (-c.score, c.rank, c.sentence))
    return composer.decide(it["row"]["question"], it["qc"], cands, scorer)


def judge(row, a) -> bool:
    if row["answer"] is None:
        return not a.found
    cited = {c.source for c in a.citations}
    if row.get("type") == "yesno":
        return a.found and a.short_answer == row["answer"] and row["source"] in cited
    return a.found and flat(row["answer"]) in flat(a.text) and row["source"] in cited


def balance(answered: float, refused: float) -> float:
    """What a threshold is worth: the weaker of the two shares (both have the same target),
    the sum breaking ties."""
    return min(answered, refused) + 0.01 * (answered + refused)


def choose_threshold(composer, items, rankers, confidence) -> tuple[float, float]:
    """The threshold and support margin that balance the answered-right share of answerable
    questions and the refused share of traps (``balance``; the middle of the near-best thresholds).

    Whether an answer is right does not depend on the threshold, only whether it is given:
    each item is answered once per support margin with the threshold at 0, and the sweep is
    then a comparison with each item's confidence."""
    trap = np.array([it["row"]["answer"] is None for it in items])
    curves = {}
    for support in SUPPORTS:
        right, conf = [], []
        for it, r in zip(items, rankers):
            s = Scorer.from_dict({"ranker": r, "confidence": confidence, "threshold": 0.0, "support": support})
            a = answer(composer, it, s)
            right.append(judge(it["row"], a) and it["row"]["answer"] is not None)
            conf.append(a.citations[0].score if a.found else 0.0)
        right, conf = np.array(right), np.array(conf)
        curves[support] = [balance((right & (conf >= t))[~trap].mean(), (conf < t)[trap].mean() if trap.any() else 1.0)
                           for t in THRESHOLDS]
    support = max(SUPPORTS, key=lambda sup: max(curves[sup]))
    # The curve is flat near its top and its argmax jumps with a few questions: take the
    # middle of the thresholds within PLATEAU of the best value.
    values = np.array(curves[support])
    near = THRESHOLDS[values >= values.max() - PLATEAU]
    return round(float(np.median(near)), 2), support


def out_of_fold(composer, items, features, misses: list | None = None) -> dict[int, bool]:
    """Each labelled question answered by a scorer fitted without its fold's articles."""
    oof = {}
    for k in range(FOLDS):
        scorer = Scorer.from_dict(fit_scorer(composer, [it for it in items if fold_of(it["article"]) != k], features))
        for it in items:
            if fold_of(it["article"]) == k and it["row"]["origin"] != "auto":
                a = answer(composer, it, scorer)
                oof[id(it)] = judge(it["row"], a)
                if misses is not None and not oof[id(it)]:
                    right = [c for c in it["cands"] if is_right(it["row"], c)]
                    misses.append({**{k_: it["row"].get(k_) for k_ in ("id", "type", "question", "answer", "source")},
                                   "found": a.found, "said": a.text, "short": a.short_answer,
                                   "confidence": a.citations[0].score if a.found else None,
                                   "right_rank": next((i for i, c in enumerate(sorted(it["cands"], key=lambda c: -c.score))
                                                       if is_right(it["row"], c)), None),
                                   "right_sentence": right[0].sentence if right else None})
        print(f"  fold {k}: threshold {scorer.threshold:.2f}, support {scorer.support}", flush=True)
    return oof


def report(items, oof, title) -> None:
    print(f"\n{title}")
    by = defaultdict(list)
    for it in items:
        if id(it) in oof:
            by[(it["row"]["origin"], "trap" if it["row"]["answer"] is None else "answer")].append(oof[id(it)])
    for (origin, kind), rs in sorted(by.items()):
        print(f"  {origin:9} {kind:6} {np.mean(rs):.3f}  ({sum(rs)}/{len(rs)})")
    types = defaultdict(list)
    for it in items:
        if id(it) in oof and it["row"]["answer"] is not None and it["row"]["origin"] in ("real", "labelled"):
            types[it["row"].get("type", "?")].append(oof[id(it)])
    print("  per type (real + labelled): " + ", ".join(f"{t} {np.mean(r):.2f} ({len(r)})" for t, r in sorted(types.items())))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", default=str(ROOT / ".fit-index"), help="index over every labelled article")
    p.add_argument("--real", default=str(REAL), help="folder of the real set (questions.jsonl, corpus/)")
    p.add_argument("--out", default=str(ROOT / "rag" / "data" / "scorer.json"))
    p.add_argument("--no-auto", action="store_true", help="leave out the auto-generated questions")
    p.add_argument("--misses", help="write the out-of-fold misses to this JSON file")
    p.add_argument("--ablate", action="store_true", help="also report out-of-fold figures without each feature group")
    args = p.parse_args(argv)
    QUESTION_SETS["real"] = Path(args.real) / "questions.jsonl"
    SOURCES[1] = Path(args.real) / "corpus"
    index_dir = Path(args.index_dir)
    if not (index_dir / "manifest.json").exists():
        print(f"building {index_dir} from {', '.join(map(str, SOURCES))}")
        sync_index(index_dir, SOURCES, progress=True)
    import torch
    torch.set_num_threads(1)    # a busy machine slows two threads far more than one
    bot = Assistant(index_dir)
    composer = bot._state[2]
    rows = load(["seeds", "real", "labelled"] + ([] if args.no_auto else ["auto"]))
    counts = dict(Counter(r["origin"] for r in rows))
    print("questions by origin:", counts)
    examples = span_examples(composer, rows, search_all(bot, rows, index_dir), is_right, fold_of)
    print(span_report(examples, FOLDS))
    composer.features.span_model = span_model = fit_span_model(examples)
    items = collect(bot, rows, index_dir)
    misses: list = []
    report(items, out_of_fold(composer, items, list(FEATURES), misses), "out of fold, all features")
    if args.misses:
        Path(args.misses).write_text(json.dumps(misses, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.ablate:
        for name, group in FEATURE_GROUPS.items():
            report(items, out_of_fold(composer, items, [f for f in FEATURES if f not in group]), f"without {name}")
    data = fit_scorer(composer, items, list(FEATURES))
    data["span"] = {"weights": span_model}
    data["info"] = {"ranker": "pairwise logistic regression over rag/features.py FEATURES",
                    "span": "pairwise logistic regression over rag/spans.py span_vector (scripts/fit_spans.py)",
                    "confidence": "logistic regression over the ranked list, on out-of-fold ranker scores",
                    "questions": counts, "auto_weight": AUTO_WEIGHT, "folds": FOLDS,
                    "made_by": "python scripts/fit_scorer.py"}
    for part in ("ranker", "confidence"):
        data[part]["weights"] = {k: round(v, 5) for k, v in data[part]["weights"].items()}
    Path(args.out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}: threshold {data['threshold']:.2f}, support {data['support']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
