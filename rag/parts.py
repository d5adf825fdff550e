"""One part of an index: a folder with its chunks, vectors, dense index and lexical index.

    chunks.sqlite   the chunk store (rag.store)
    vectors.npy     float32 (n, dim), L2-normalised: the embedding cache and exact search
    dense.faiss     IndexFlatIP below ``exact_limit`` rows, else HNSW over 8-bit scalar codes
    lexical/        BM25 weights in bm25s's files (rag.lexical)

A part is written once and then only read (memory-mapped where it is large); a new
generation hard-links the parts it keeps. The base part takes the bulk; the tail part
takes new issues and is rewritten by every sync until it is merged into the base.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator

import faiss
import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .lexical import LexicalPart, build_lexical
from .store import ChunkStore, write_store

__all__ = ["Part", "write_part", "HNSW_M", "EF_SEARCH"]

log = logging.getLogger(__name__)

HNSW_M = 32              # links per node; measured: recall@10 ~0.98 with SQ8 at ef 128
EF_CONSTRUCTION = 80
EF_SEARCH = 128
_FILTER_EXACT = 20000    # a filter leaving fewer rows than this is searched exactly


def _new_hnsw(dim: int, sample: np.ndarray) -> faiss.Index:
    index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.train(sample)
    return index


def write_part(folder: Path, rows: Iterable[tuple[Chunk, list[str], np.ndarray]], n: int, dim: int,
               exact_limit: int, grow: Path | None = None, grown: int = 0) -> dict:
    """Write a part of ``n`` rows (chunk, tokens, vector) to ``folder``; returns its manifest entry.

    ``grow``, when given, is the previous base's HNSW file holding its first ``grown`` rows:
    only the rows after them are added to a copy of it (an approximate index is never
    rebuilt to grow).
    """
    folder.mkdir(parents=True)
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float32, (n, dim))

    def stream() -> Iterator[tuple[Chunk, list[str]]]:
        for i, (chunk, tokens, vector) in enumerate(rows):
            if i >= n:
                raise IndexFormatError(f"more rows than the {n} announced for {folder}")
            vectors[i] = vector
            yield chunk, tokens
    written = write_store(folder / "chunks.sqlite", stream())
    if written != n:
        raise IndexFormatError(f"{written} rows written to {folder}, {n} announced")
    vectors.flush()
    store = ChunkStore(folder / "chunks.sqlite", n)
    lex = build_lexical(folder / "lexical", store.tokens())
    if n >= exact_limit:
        kind = "hnsw-sq8"
        if grow is None or grown == 0:
            sample = vectors[np.random.default_rng(0).choice(n, min(n, 100_000), replace=False)]
            dense, grown = _new_hnsw(dim, np.ascontiguousarray(sample)), 0
        else:
            dense = faiss.read_index(str(grow))
        dense.hnsw.efConstruction = EF_CONSTRUCTION
        for lo in range(grown, n, 50_000):
            dense.add(np.ascontiguousarray(vectors[lo:lo + 50_000]))
    else:
        kind = "flat"
        dense = faiss.IndexFlatIP(dim)
        for lo in range(0, n, 50_000):
            dense.add(np.ascontiguousarray(vectors[lo:lo + 50_000]))
    faiss.write_index(dense, str(folder / "dense.faiss"))
    del vectors
    return {"chunks": n, "dense": kind, "avgdl": lex["avgdl"], "vocab": lex["vocab"]}


class Part:
    """A part opened for reading; rows are numbered from ``offset`` in the whole index."""

    def __init__(self, folder: Path, entry: dict, dim: int, offset: int) -> None:
        self.folder, self.offset, self.n, self.kind = folder, offset, int(entry["chunks"]), entry["dense"]
        self.store = ChunkStore(folder / "chunks.sqlite", self.n)
        try:
            self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            self.dense = faiss.read_index(str(folder / "dense.faiss"))
        except (OSError, ValueError, RuntimeError) as e:
            raise IndexFormatError(f"{folder}: damaged vectors or dense index ({e})") from None
        if self.vectors.shape != (self.n, dim) or self.dense.ntotal != self.n or self.dense.d != dim:
            raise IndexFormatError(f"{folder}: {self.vectors.shape[0]} stored vectors of dimension "
                                   f"{self.vectors.shape[-1]}, {self.dense.ntotal} in the dense index of "
                                   f"dimension {self.dense.d}; the manifest says {self.n} of dimension {dim}")
        if self.kind == "hnsw-sq8":
            self.dense.hnsw.efSearch = EF_SEARCH
        self.lexical = LexicalPart(folder / "lexical", self.n)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Nearest rows (whole-index numbers) to one query; ``allowed`` is a bool mask of this part's rows."""
        k = min(k, self.n)
        if k < 1:
            return []
        q = query.reshape(1, -1)
        if allowed is None:
            scores, rows = self.dense.search(q, k)
        else:
            count = int(allowed.sum())
            if count == 0:
                return []
            if count <= _FILTER_EXACT and self.kind != "flat":
                # A narrow filter: HNSW would wander far to find k allowed nodes; exact is cheaper.
                rows = np.flatnonzero(allowed)
                sims = self.vectors[rows] @ q[0]
                top = np.argsort(-sims, kind="stable")[:k]
                return [(self.offset + int(rows[i]), float(sims[i])) for i in top]
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bits))
            params = (faiss.SearchParametersHNSW(sel=sel, efSearch=max(EF_SEARCH, k)) if self.kind != "flat"
                      else faiss.SearchParameters(sel=sel))
            scores, rows = self.dense.search(q, min(k, count), params=params)
        return [(self.offset + int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
