"""Reciprocal rank fusion of a dense and a lexical result list (Cormack et al., 2009)."""

from __future__ import annotations

__all__ = ["rrf"]


def rrf(dense: list[tuple[int, float]], lexical: list[tuple[int, float]], k: int) -> dict[int, list]:
    """Reciprocal rank fusion: row -> [fused, dense score, lexical score, dense rank, lexical rank]."""
    fused: dict[int, list] = {}
    for side, results in ((0, dense), (1, lexical)):
        for rank, (row, score) in enumerate(results, start=1):
            entry = fused.setdefault(row, [0.0, 0.0, 0.0, 0, 0])
            entry[0] += 1.0 / (k + rank)
            entry[1 + side] = score
            entry[3 + side] = rank
    return fused
