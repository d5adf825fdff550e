"""The fitted answer scorer: which candidate sentence answers, and whether any does.

Two small linear models, both fitted on labelled questions by ``scripts/fit_scorer.py`` and
kept in ``rag/data/scorer.json`` (plain JSON, no pickle):

* the ranker weighs a candidate's features (:data:`rag.features.FEATURES`) into a score; the
  best-scoring sentence is the answer;
* the confidence model reads the ranked list (the best score, its lead over the next one,
  and the best candidate's own features) as the probability that the best sentence really
  answers. The answer is given when that probability clears the one threshold, calibrated
  on questions the sources do not answer; otherwise the answer is a refusal.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from .errors import ConfigError

__all__ = ["Scorer", "SCORER_FILE", "confidence_features"]

SCORER_FILE = "scorer.json"


_FACT = ("asks_num", "asks_date", "asks_who", "asks_where")


def confidence_features(scores: Sequence[float], best: Mapping[str, float]) -> dict[str, float]:
    """What the confidence model reads: the best score, its lead over the runner-up, and the
    best candidate's features (prefixed ``top:``), each also gated by whether the question
    asks for one fact (``fact:``): a fitting span near the question's words says much for
    多少/哪天/谁/哪里 and little for 怎么/为什么."""
    top = scores[0] if scores else 0.0
    lead = min(top - scores[1], 5.0) if len(scores) > 1 else 5.0
    fact = 1.0 if any(best.get(a) for a in _FACT) else 0.0
    out = {"top_score": top, "lead": lead, "fact:top_score": fact * top, "fact:lead": fact * lead}
    for k, v in best.items():
        out[f"top:{k}"] = v
        if not k.startswith("asks_"):
            out[f"fact:{k}"] = fact * v
    return out


def _linear(weights: Mapping[str, float], bias: float, features: Mapping[str, float]) -> float:
    return bias + sum(w * features.get(name, 0.0) for name, w in weights.items())


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


class Scorer:
    """Ranks candidates and decides whether the best one answers.

    Args:
        path: a scorer JSON file; None reads the one shipped in the package.

    Attributes:
        threshold: the confidence the best candidate needs to be given as the answer.
        support: a further sentence of the same article joins a what/how/why answer when
            its score is at most this much below the best one.

    Example:
        >>> s = Scorer()
        >>> 0.0 <= s.confidence([s.rank({})], {}) <= 1.0
        True
    """

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            text = (resources.files("rag") / "data" / SCORER_FILE).read_text(encoding="utf-8")
            where = f"rag/data/{SCORER_FILE}"
        else:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        try:
            data = json.loads(text)
            self.rank_weights = {k: float(v) for k, v in data["ranker"]["weights"].items()}
            self.rank_bias = float(data["ranker"].get("bias", 0.0))
            self.conf_weights = {k: float(v) for k, v in data["confidence"]["weights"].items()}
            self.conf_bias = float(data["confidence"]["bias"])
            self.threshold = float(data["threshold"])
            self.support = float(data["support"])
            self.span_weights = {k: float(v) for k, v in data.get("span", {}).get("weights", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"{where}: not a scorer file ({e}); refit it with: python scripts/fit_scorer.py") from None
        self.info = data.get("info", {})

    @classmethod
    def from_dict(cls, data: dict) -> "Scorer":
        """A scorer from parameters in memory (what the fitting script tries out)."""
        self = cls.__new__(cls)
        self.rank_weights, self.rank_bias = dict(data["ranker"]["weights"]), float(data["ranker"].get("bias", 0.0))
        self.conf_weights, self.conf_bias = dict(data["confidence"]["weights"]), float(data["confidence"]["bias"])
        self.threshold, self.support = float(data["threshold"]), float(data["support"])
        self.span_weights = dict(data.get("span", {}).get("weights", {}))
        self.info = data.get("info", {})
        return self

    def rank(self, features: Mapping[str, float]) -> float:
        """The ranker's score of one candidate (higher is better; features it does not know count 0)."""
        return _linear(self.rank_weights, self.rank_bias, features)

    def confidence(self, scores: Sequence[float], best: Mapping[str, float]) -> float:
        """The probability that the best candidate answers, from the ranked scores (best
        first) and the best candidate's features."""
        return _sigmoid(_linear(self.conf_weights, self.conf_bias, confidence_features(scores, best)))
