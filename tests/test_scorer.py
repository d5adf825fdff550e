"""The fitted scorer: its parameters file, and what the fitting script does with labelled candidates."""

import importlib.util
import json

import numpy as np
import pytest

from conftest import ROOT
from rag.errors import ConfigError
from rag.features import FEATURES
from rag.scorer import Scorer, confidence_features


def test_shipped_scorer_weighs_only_known_features():
    s = Scorer()
    assert set(s.rank_weights) <= set(FEATURES)
    known = set(confidence_features([1.0, 0.5], {f: 1.0 for f in FEATURES}))
    assert s.conf_weights and set(s.conf_weights) <= known
    assert 0.0 < s.threshold < 1.0 and s.support >= 0
    assert s.info.get("made_by") == "python scripts/fit_scorer.py"


def test_a_damaged_scorer_file_names_the_fix(tmp_path):
    bad = tmp_path / "scorer.json"
    bad.write_text(json.dumps({"ranker": {}}), encoding="utf-8")
    with pytest.raises(ConfigError, match="refit it with: python scripts/fit_scorer.py"):
        Scorer(bad)


def test_confidence_reads_the_lead_and_gates_fact_features():
    f = confidence_features([3.0, 1.0], {"asks_num": 1.0, "span_fits": 1.0})
    assert f["lead"] == 2.0 and f["fact:span_fits"] == 1.0 and f["top:span_fits"] == 1.0
    f = confidence_features([3.0], {"asks_how": 1.0, "span_fits": 1.0})
    assert f["lead"] == 5.0 and f["fact:span_fits"] == 0.0


@pytest.fixture(scope="module")
def fit():
    spec = importlib.util.spec_from_file_location("fit_scorer", ROOT / "scripts" / "fit_scorer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Cand:
    def __init__(self, rank, features):
        self.rank, self.features = rank, features


def _item(rng, right_at, n=8, trap=False):
    """Candidates whose right one has a fitting span near the question's words; the others not."""
    x = rng.normal(0, 1, (n, len(FEATURES)))
    x[:, FEATURES.index("span_fits")] = 0.0
    y = np.zeros(n, bool)
    if not trap:
        x[right_at, FEATURES.index("span_fits")] = 1.0
        x[right_at, FEATURES.index("span_near_pred")] += 2.0
        y[right_at] = True
    return {"x": x, "y": y, "cands": [_Cand(i, dict(zip(FEATURES, x[i]))) for i in range(n)], "weight": 1.0,
            "row": {"answer": None if trap else "a", "origin": "labelled"}}


def test_the_ranker_learns_what_puts_the_right_sentence_first(fit):
    rng = np.random.default_rng(1)
    train = [_item(rng, int(rng.integers(8))) for _ in range(60)]
    ranker = fit.fit_ranker(train, list(FEATURES))
    assert ranker["weights"]["span_fits"] > 0 and ranker["weights"]["span_near_pred"] > 0
    test = [_item(rng, int(rng.integers(8))) for _ in range(30)]
    firsts = [it["y"][fit.ranked(it, ranker)[1][0]] for it in test]
    assert np.mean(firsts) >= 0.9


def test_the_confidence_model_tells_answerable_from_traps(fit):
    rng = np.random.default_rng(2)
    items = [_item(rng, 0) for _ in range(60)] + [_item(rng, 0, trap=True) for _ in range(60)]
    ranker = fit.fit_ranker(items, list(FEATURES))
    rows = [fit.conf_row(it, ranker) for it in items]
    model = fit.fit_confidence([(r, ok and it["row"]["answer"] is not None) for (r, ok), it in zip(rows, items)],
                               [1.0] * len(items))
    scorer = Scorer.from_dict({"ranker": ranker, "confidence": model, "threshold": 0.5, "support": 1.0})
    conf = [scorer.confidence(sorted(it["x"] @ np.array([ranker["weights"][f] for f in FEATURES]))[::-1],
                              dict(zip(FEATURES, it["x"][fit.ranked(it, ranker)[1][0]]))) for it in items]
    answerable, traps = np.array(conf[:60]), np.array(conf[60:])
    assert answerable.mean() > 0.7 > 0.3 > traps.mean()


def test_the_span_model_learns_which_span_answers():
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    from fit_spans import fit_span_model, is_gold_span
    rng = np.random.default_rng(3)
    examples = []
    for _ in range(40):
        right = int(rng.integers(4))
        x = [{"span_fits": float(i == right), "span_near": float(rng.random()), "how_name": 1.0} for i in range(4)]
        examples.append({"x": x, "y": np.array([i == right for i in range(4)]), "weight": 1.0})
    model = fit_span_model(examples)
    assert model["span_fits"] > 0 and abs(model.get("span_near", 0.0)) < model["span_fits"]
    assert is_gold_span("7个停车位", "7个停车位") and is_gold_span("41戶居民", "41戶")
    assert not is_gold_span("3500", "3500余人次")
    assert not is_gold_span("居委", "北梅园居委党支部")


def test_shipped_span_model_reads_span_features():
    from rag.spans import HOWS
    s = Scorer()
    names = set(s.span_weights)
    assert names and s.span_weights.get("span_fits", 0) > 0
    assert names <= {f"how_{h}" for h in HOWS} | {"span_near_pred", "after_term"} | {
        n for n in names if n.startswith("span_")}
