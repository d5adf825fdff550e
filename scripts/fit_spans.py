"""The span model of ``rag/spans.py``: which span of an answering sentence is the short answer.

Used by ``scripts/fit_scorer.py`` before the ranker is fitted (the ranker reads the chosen
span's features). Examples: every sentence that holds a question's gold answer, each of its
spans labelled right when it is the gold answer (give or take a few characters of unit or
title). A pairwise logistic regression learns what puts the right span above the others of
the same sentence. ``span_report`` measures it out of fold (5 ways by article) against the
fixed sum ``best_span`` uses without a model.
"""

from __future__ import annotations

import numpy as np

from rag.spans import best_span, find_spans, span_vector
from rag.tokenize import simplified_aligned, to_simplified


def _flat(text: str) -> str:
    return "".join(to_simplified(text or "").split())


def is_gold_span(span_text: str, gold: str) -> bool:
    t, g = _flat(span_text), _flat(gold)
    return bool(t and g) and (t == g or (g in t and len(t) <= len(g) + 4) or (t in g and len(t) >= 0.6 * len(g)))


def span_examples(composer, rows, all_hits, is_right, fold_of) -> list[dict]:
    """One example per (question, sentence holding its gold answer) with two spans or more."""
    fm = composer.features
    out = []
    for row in rows:
        if row["answer"] is None or row.get("type") == "yesno":
            continue
        qc = fm.question(row["question"])
        if not qc.q.chinese:
            continue
        terms = [t for t in qc.weights if len(t) > 1]
        for c in fm.candidates(qc, all_hits[row["question"]]):
            if not is_right(row, c):
                continue
            s = simplified_aligned(c.sentence)
            spans = find_spans(qc.q, s, fm.tokenizer.words, fm.tokenizer.freq)
            y = [is_gold_span(c.sentence[sp.start:sp.end], row["answer"]) for sp in spans]
            if len(spans) >= 2 and any(y):
                out.append({"q": qc.q, "s": s, "spans": spans, "terms": terms, "weights": qc.weights, "near": qc.near,
                            "x": [span_vector(qc.q, s, sp, terms, qc.weights, qc.near) for sp in spans],
                            "y": np.array(y), "fold": fold_of(row["source"]),
                            "weight": 0.3 if row["origin"] == "auto" else 1.0})
    return out


def fit_span_model(examples) -> dict[str, float]:
    """Pairwise logistic regression: the right spans' mean features minus each wrong span's."""
    from sklearn.linear_model import LogisticRegression
    names = sorted({k for ex in examples for f in ex["x"] for k in f})
    diffs, weights = [], []
    for ex in examples:
        x = np.array([[f.get(k, 0.0) for k in names] for f in ex["x"]])
        y = ex["y"]
        if y.all():
            continue
        d = x[y].mean(0) - x[~y]
        diffs.append(d)
        weights.append(np.full(len(d), ex["weight"] / len(d)))
    d, w = np.vstack(diffs), np.concatenate(weights)
    sd = d.std(0) + 1e-9
    model = LogisticRegression(max_iter=3000, fit_intercept=False, C=1.0).fit(
        np.vstack([d / sd, -d / sd]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w] * len(w) / w.sum())
    return {k: round(float(c), 5) for k, c in zip(names, model.coef_[0] / sd) if abs(c) > 1e-9}


def _chosen_right(ex, model) -> bool:
    sp, _ = best_span(ex["q"], ex["s"], ex["spans"], ex["terms"], ex["weights"], model, ex["near"])
    return bool(ex["y"][ex["spans"].index(sp)])


def span_report(examples, folds: int) -> str:
    """Share of answering sentences whose chosen span is the gold one: the fixed sum, and the
    fitted model out of fold."""
    fixed = np.mean([_chosen_right(ex, None) for ex in examples])
    fitted = []
    for k in range(folds):
        model = fit_span_model([ex for ex in examples if ex["fold"] != k])
        fitted += [_chosen_right(ex, model) for ex in examples if ex["fold"] == k]
    return (f"span choice in {len(examples)} answering sentences: fixed sum {fixed:.3f}, "
            f"fitted model out of fold {np.mean(fitted):.3f}")
