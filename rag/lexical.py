"""Lexical index: BM25 over jieba tokens, in bm25s's files, memory-mapped.

Each index part holds a token-by-chunk sparse matrix in bm25s's own format
(``data/indices/indptr.csc.index.npy``, ``vocab.index.json``, ``params.index.json``), loaded
with ``bm25s.BM25.load(mmap=True)``: a query reads only its tokens' columns from disk.

Two things differ from ``bm25s.BM25.index()``, both for a million chunks:
- the matrix is built here in bounded memory (one sorted int64 key per token occurrence,
  not bm25s's Python lists of every token, which take several GB at that size);
- it stores BM25's term-frequency part only (bm25s's Lucene formulas, k1=1.5, b=0.75), and
  the IDF is applied at query time from the live document frequencies of all parts. Adding
  an issue to a small part, or removing one, then keeps every score exact without rewriting
  the large part. Qdrant's IDF modifier does the same with the same weights
  (:func:`term_weights`). With one part and nothing removed, scores equal bm25s's own.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import bm25s
import numpy as np

from .errors import IndexFormatError

__all__ = ["K1", "B", "idf", "term_weights", "build_lexical", "LexicalPart", "DocFreq", "bm25_scores"]

K1, B = 1.5, 0.75          # bm25s's defaults
_BATCH = 20000             # chunks per batch of keys
_MAX_VOCAB = 1 << 24       # the key keeps 24 bits for the token, 32 for the chunk, 8 for the count


def idf(df: float | np.ndarray, n: int) -> float | np.ndarray:
    """BM25 IDF, Lucene variant (bm25s's and Qdrant's): log(1 + (n - df + 0.5) / (df + 0.5))."""
    return np.log1p((n - df + 0.5) / (df + 0.5))


def _tfc(tf, dl, avgdl):
    return tf / (tf + K1 * (1 - B + B * dl / avgdl))


def term_weights(tokens: Sequence[str], avgdl: float) -> dict[str, float]:
    """Each distinct token's BM25 term-frequency weight in one chunk (times IDF = its score).

    Example:
        >>> round(term_weights(["停车", "停车", "车位"], avgdl=3.0)["停车"], 4)
        0.5714
    """
    counts = Counter(tokens)
    return {t: float(_tfc(min(tf, 255), len(tokens), avgdl or 1.0)) for t, tf in counts.items()}


def build_lexical(folder: Path, token_lists: Iterable[Sequence[str]]) -> dict:
    """Write the BM25 matrix of ``token_lists`` (one list per chunk, in row order) to ``folder``.

    Returns ``{"docs": n, "avgdl": mean tokens per chunk, "vocab": distinct tokens}``.
    """
    vocab: dict[str, int] = {}
    batches: list[np.ndarray] = []
    lengths: list[int] = []
    tok, tf, per_doc = [], [], []

    def flush() -> None:
        if per_doc:
            first = len(lengths) - len(per_doc)
            docs = np.repeat(np.arange(first, len(lengths), dtype=np.uint64), per_doc)
            batches.append((np.asarray(tok, np.uint64) << np.uint64(40)) | (docs << np.uint64(8))
                           | np.minimum(np.asarray(tf, np.uint64), np.uint64(255)))
            tok.clear(), tf.clear(), per_doc.clear()

    for tokens in token_lists:
        counts = Counter(tokens)
        lengths.append(len(tokens))
        tok.extend(vocab.setdefault(t, len(vocab)) for t in counts)
        tf.extend(counts.values())
        per_doc.append(len(counts))
        if len(per_doc) >= _BATCH:
            flush()
    flush()
    if len(vocab) >= _MAX_VOCAB:
        raise IndexFormatError(f"{len(vocab)} distinct tokens; the lexical index holds at most {_MAX_VOCAB}")
    n = len(lengths)
    keys = np.concatenate(batches) if batches else np.zeros(0, np.uint64)
    batches.clear()
    keys.sort()
    dl = np.asarray(lengths, np.float32)
    avgdl = float(dl.mean()) if n else 1.0
    avgdl = avgdl or 1.0
    data = np.empty(len(keys), np.float32)
    indices = np.empty(len(keys), np.int32)
    for lo in range(0, len(keys), 1 << 22):   # decode in blocks: bounded temporaries
        k = keys[lo:lo + (1 << 22)]
        doc = ((k >> np.uint64(8)) & np.uint64(0xFFFFFFFF)).astype(np.int64)
        indices[lo:lo + len(k)] = doc
        data[lo:lo + len(k)] = _tfc((k & np.uint64(255)).astype(np.float32), dl[doc], avgdl)
    counts = np.bincount((keys >> np.uint64(40)).astype(np.int64), minlength=len(vocab)) if len(keys) \
        else np.zeros(len(vocab), np.int64)
    del keys
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "data.csc.index.npy", data)
    np.save(folder / "indices.csc.index.npy", indices)
    np.save(folder / "indptr.csc.index.npy", indptr)
    (folder / "vocab.index.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    params = dict(k1=K1, b=B, delta=0.5, method="lucene", idf_method="lucene", dtype="float32",
                  int_dtype="int32", num_docs=n, version=bm25s.__version__, backend="numpy")
    (folder / "params.index.json").write_text(json.dumps(params, indent=1), encoding="utf-8")
    return {"docs": n, "avgdl": round(avgdl, 4), "vocab": len(vocab)}


class LexicalPart:
    """One part's BM25 matrix, memory-mapped; ``df(term)`` is its column length."""

    def __init__(self, folder: Path, expected: int) -> None:
        try:
            bm = bm25s.BM25.load(str(folder), mmap=True)
        except (OSError, ValueError, KeyError, TypeError, EOFError) as e:
            raise IndexFormatError(f"{_damaged_file(folder)}: damaged lexical index ({e})") from None
        self.vocab: dict[str, int] = bm.vocab_dict
        self.data, self.indices, self.indptr = (bm.scores[k] for k in ("data", "indices", "indptr"))
        if bm.scores["num_docs"] != expected:
            raise IndexFormatError(f"{folder}: lexical index holds {bm.scores['num_docs']} documents, "
                                   f"the chunk store {expected}")
        if len(self.indptr) != len(self.vocab) + 1 or len(self.data) != len(self.indices) \
                or (len(self.indptr) and int(self.indptr[-1]) != len(self.data)):
            raise IndexFormatError(f"{folder}: lexical index arrays do not fit together "
                                   f"({len(self.vocab)} tokens, {len(self.indptr)} pointers, {len(self.data)} weights)")

    def df(self, term: str) -> int:
        t = self.vocab.get(term)
        return 0 if t is None else int(self.indptr[t + 1] - self.indptr[t])

    def column(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        t = self.vocab.get(term)
        if t is None:
            return None
        lo, hi = int(self.indptr[t]), int(self.indptr[t + 1])
        return self.indices[lo:hi], self.data[lo:hi]


def _damaged_file(folder: Path) -> Path:
    """The first of the lexical index's files that does not read (to name it in the error)."""
    for name in ("params.index.json", "vocab.index.json"):
        try:
            json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return folder / name
    for name in ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy"):
        try:
            np.load(folder / name, mmap_mode="r")
        except (OSError, ValueError, EOFError):
            return folder / name
    return folder


class DocFreq:
    """``doc_freq.get(term, 0)``: how many live chunks hold ``term`` (all parts, less removed rows)."""

    def __init__(self, parts: Sequence[LexicalPart], removed: Mapping[str, int] | None = None) -> None:
        self._parts = parts
        self._removed = removed or {}

    def get(self, term: str, default: int = 0) -> int:
        n = sum(p.df(term) for p in self._parts) - self._removed.get(term, 0)
        return n if n > 0 else default

    def __getitem__(self, term: str) -> int:
        return self.get(term, 0)

    def __contains__(self, term: str) -> bool:
        return self.get(term, 0) > 0

    def __iter__(self) -> Iterator[str]:
        for i, part in enumerate(self._parts):
            for term in part.vocab:
                if self.get(term, 0) and not any(term in p.vocab for p in self._parts[:i]):
                    yield term

    def items(self) -> Iterator[tuple[str, int]]:
        """(term, chunk frequency) of every term some live chunk holds (the English bridge reads them)."""
        return ((term, self.get(term, 0)) for term in self)


def bm25_scores(parts: Sequence[LexicalPart], offsets: Sequence[int], n_rows: int,
                tokens: Sequence[str], doc_freq: DocFreq, n_live: int) -> np.ndarray:
    """BM25 score of every row for the query tokens (a token asked twice counts twice)."""
    scores = np.zeros(n_rows, np.float32)
    for term, times in Counter(tokens).items():
        df = doc_freq.get(term, 0)
        if not df:
            continue
        weight = np.float32(times * idf(df, n_live))
        for part, offset in zip(parts, offsets):
            col = part.column(term)
            if col is not None:
                scores[offset + col[0]] += weight * col[1]
    return scores

