"""One part of an index: a folder with its chunks, vectors, dense index and lexical index.

    chunks.sqlite   the chunk store (rag.store)
    files.json      each source file's runs of rows ([source, first row, rows], in row order)
    vectors.npy     float32 (n, dim), L2-normalised: the embedding cache and exact search
    dense.faiss     IndexFlatIP below ``exact_limit`` rows, else IVF over half-precision codes
    lexical/        BM25 weights in bm25s's files (rag.lexical)

A part is written once and then only read (memory-mapped where it is large); a new
generation hard-links the parts it keeps. The base part takes the bulk; the tail part
takes new issues and is rewritten by every sync until it is merged into the base.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterable, Iterator

import faiss
import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .lexical import LexicalPart, build_lexical
from .store import ChunkStore, write_store

__all__ = ["Part", "write_part", "lists_for"]

log = logging.getLogger(__name__)

_FILTER_EXACT = 20000    # a filter leaving fewer rows than this is searched exactly
# Approximate search: IVF lists over half-precision codes, a quarter of the lists probed.
# Measured on 2 shared cores (recall@10 against exact, the dev questions' real query vectors):
# on the benchmark's synthetic vectors (mixtures of three of the 66 real seed vectors plus
# noise: the 100th neighbour within 0.03 of the first, the hardest case we have) at 100k,
# 512 lists: 0.82 / 0.92 / 0.97 / 0.98 probing 1/32 / 1/8 / 1/4 / 1/3; 1024 lists: 0.83 /
# 0.95 / 0.98 / 0.99 (7 ms at 1/4; exact 20 ms); at 1M, 2048 lists: 0.97 / 0.99 at 1/8 /
# 1/4. On real, spread-out vectors 3% of the lists already give 0.998. HNSW32 reached 0.97
# only at ef 512 and built 30x slower (100k: 133 s); IVF-PQ fast-scan stalls near 0.2 on
# these near-duplicates even re-ranked; 8-bit codes clip vectors beyond the ranges they were
# trained on (a new issue's chunk lost a third of its score in a test). fp16 is half the
# memory of fp32. New vectors join the trained lists; nothing is rebuilt to grow.
# At 1M the quarter (512 of 2,048 lists) gave recall 0.991 but a 74 ms search and ask() p50
# 102 ms against the 100 ms target; the probe count is capped, as a search's cost follows the
# vectors it scans.
PROBE_SHARE = 4          # probe nlist / PROBE_SHARE lists
MAX_PROBE = 320          # and at most this many


def lists_for(n: int) -> int:
    """IVF lists for ``n`` vectors: about 4·sqrt(n), a power of two in [256, 2048], and at most
    n/39 (k-means needs about 39 points a list). More, smaller lists probed by the same share
    scan as many vectors and find more of the true neighbours."""
    return int(max(1, min(n // 39, 2048, max(256, 2 ** round(np.log2(4 * np.sqrt(max(n, 1))))))))


def _new_ivf(dim: int, n: int, sample: np.ndarray) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists_for(n), faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 10          # k-means rounds: enough for list assignment, and fast
    index.train(sample)
    index.quantizer_trains_alone = 0
    return index


def write_part(folder: Path, rows: Iterable[tuple[Chunk, list[str], np.ndarray]], n: int, dim: int,
               exact_limit: int, grow: Path | None = None, grown: int = 0) -> dict:
    """Write a part of ``n`` rows (chunk, tokens, vector) to ``folder``; returns its manifest entry.

    ``grow``, when given, is the previous base's IVF file holding its first ``grown`` rows:
    only the rows after them are added to a copy of it (an approximate index is never
    rebuilt to grow).
    """
    folder.mkdir(parents=True)
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float32, (n, dim))

    runs: list[list] = []   # [source, first row, rows]: a file's chunks in row order

    def stream() -> Iterator[tuple[Chunk, list[str]]]:
        for i, (chunk, tokens, vector) in enumerate(rows):
            if i >= n:
                raise IndexFormatError(f"more rows than the {n} announced for {folder}")
            vectors[i] = vector
            if runs and runs[-1][0] == chunk.source:
                runs[-1][2] += 1
            else:
                runs.append([chunk.source, i, 1])
            yield chunk, tokens
    written = write_store(folder / "chunks.sqlite", stream())
    if written != n:
        raise IndexFormatError(f"{written} rows written to {folder}, {n} announced")
    vectors.flush()
    (folder / "files.json").write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")
    store = ChunkStore(folder / "chunks.sqlite", n)
    lex = build_lexical(folder / "lexical", store.tokens())
    if n >= exact_limit:
        kind = "ivf-fp16"
        if grow is None or grown == 0:
            pick = np.sort(np.random.default_rng(0).choice(n, min(n, 40 * lists_for(n)), replace=False))
            dense, grown = _new_ivf(dim, n, np.ascontiguousarray(vectors[pick])), 0
            log.info("approximate index for %d vectors: %d IVF lists", n, dense.nlist)
        else:
            dense = faiss.read_index(str(grow))
        for lo in range(grown, n, 50_000):
            dense.add(np.ascontiguousarray(vectors[lo:lo + 50_000]))
    else:
        kind = "flat"
        dense = faiss.IndexFlatIP(dim)
        for lo in range(0, n, 50_000):
            dense.add(np.ascontiguousarray(vectors[lo:lo + 50_000]))
    faiss.write_index(dense, str(folder / "dense.faiss"))
    return {"chunks": n, "dense": kind, "avgdl": lex["avgdl"], "vocab": lex["vocab"]}


class Part:
    """A part opened for reading; rows are numbered from ``offset`` in the whole index."""

    def __init__(self, folder: Path, entry: dict, dim: int, offset: int) -> None:
        self.folder, self.offset, self.n, self.kind = folder, offset, int(entry["chunks"]), entry["dense"]
        self.store = ChunkStore(folder / "chunks.sqlite", self.n)
        try:
            self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        except (OSError, ValueError, EOFError) as e:
            raise IndexFormatError(f"{folder / 'vectors.npy'}: damaged vectors ({e})") from None
        try:
            self.dense = faiss.read_index(str(folder / "dense.faiss"))
        except (OSError, RuntimeError) as e:
            raise IndexFormatError(f"{folder / 'dense.faiss'}: damaged dense index ({str(e).splitlines()[0]})") from None
        if self.vectors.shape != (self.n, dim) or self.dense.ntotal != self.n or self.dense.d != dim:
            raise IndexFormatError(f"{folder}: {self.vectors.shape[0]} stored vectors of dimension "
                                   f"{self.vectors.shape[-1]}, {self.dense.ntotal} in the dense index of "
                                   f"dimension {self.dense.d}; the manifest says {self.n} of dimension {dim}")
        self.nprobe = min(self.dense.nlist, MAX_PROBE, max(8, self.dense.nlist // PROBE_SHARE)) \
            if self.kind == "ivf-fp16" else 0
        if self.nprobe:
            self.dense.nprobe = self.nprobe
        self.lexical = LexicalPart(folder / "lexical", self.n)
        try:
            self.runs = [(str(src), int(first), int(k)) for src, first, k in
                         json.loads((folder / "files.json").read_text(encoding="utf-8"))]
        except (OSError, ValueError, TypeError) as e:
            raise IndexFormatError(f"{folder / 'files.json'}: unreadable ({e})") from None
        if sum(k for _, _, k in self.runs) != self.n:
            raise IndexFormatError(f"{folder / 'files.json'}: its runs cover {sum(k for _, _, k in self.runs)} "
                                   f"rows, the part has {self.n}")

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
                # A narrow filter: the probed lists may hold too few allowed rows; exact is cheap.
                rows = np.flatnonzero(allowed)
                sims = self.vectors[rows] @ q[0]
                top = np.argsort(-sims, kind="stable")[:k]
                return [(self.offset + int(rows[i]), float(sims[i])) for i in top]
            bits = np.packbits(allowed, bitorder="little")
            sel = faiss.IDSelectorBitmap(self.n, faiss.swig_ptr(bits))
            params = (faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe) if self.nprobe
                      else faiss.SearchParameters(sel=sel))
            scores, rows = self.dense.search(q, min(k, count), params=params)
        return [(self.offset + int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
