"""The index on disk: a base part and a tail part (rag.parts), a list of removed rows, a manifest.

Layout of an index folder::

    manifest.json          written last, by atomic replace; names the live generation
    gen-<n>/base/          the bulk of the chunks (see rag.parts for the files of a part)
    gen-<n>/tail/          chunks added since the base was last written
    gen-<n>/removed.json   base rows of files removed or changed since, and their tokens

A sync writes a new ``gen-<n+1>`` folder and then replaces ``manifest.json``; a crash
before that leaves the previous generation live and untouched. Old generations are
removed once the new manifest is in place. Parts a generation keeps unchanged are hard
links to the previous generation's files, so adding an issue rewrites only the tail; when
the tail outgrows ``Config.tail_limit`` it is appended to the base, whose approximate index
(IVF, past ``Config.exact_limit`` rows) grows by the new rows only.

Rows are numbered base first, then tail; a removed row keeps its number and is skipped.
Writing a generation is rag.generation; the manifest file is rag.manifest.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Iterator

import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .filters import Where
from .fusion import rrf
from .generation import NewRows, write_generation
from .integrity import verify_files, verify_manifest
from .lexical import DocFreq, bm25_scores
from .manifest import FORMAT_VERSION, MANIFEST, check_version, read_manifest
from .parts import Part

# FORMAT_VERSION, MANIFEST, read_manifest and rrf are imported from here by older callers.
__all__ = ["Index", "FORMAT_VERSION", "MANIFEST", "read_manifest", "rrf"]

log = logging.getLogger(__name__)

_PARTS = ("base", "tail")


class _Rows:
    """``index.chunks``: ``chunks[row]`` for any row a search returns; iterating (and ``len``)
    covers the live chunks in row order, read from disk a batch at a time."""

    def __init__(self, index: "Index") -> None:
        self._index = index

    def __getitem__(self, row: int) -> Chunk:
        part = self._index._part_of(row)
        return part.store[row - part.offset]

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Chunk]:
        for part, chunk, _, _ in self._index.live_rows():
            yield chunk


class Index:
    """Chunks with their vectors and tokens, searchable densely and lexically, with filters.

    Attributes:
        chunks: row -> Chunk (see ``_Rows``); manifest: the manifest dict;
        doc_freq: ``doc_freq.get(term, 0)``, how many live chunks hold a token.
    """

    backend = "local"

    def __init__(self, index_dir: Path, manifest: dict) -> None:
        self.index_dir, self.manifest = Path(index_dir), manifest
        gen_dir = self.index_dir / f"gen-{manifest.get('generation')}"
        dim, offset, self.parts = int(manifest["dim"]), 0, []
        for name in _PARTS:
            entry = manifest.get("parts", {}).get(name)
            if entry and entry["chunks"]:
                self.parts.append(Part(gen_dir / name, entry, dim, offset))
                offset += int(entry["chunks"])
        self.n_rows = offset
        removed = {"ranges": [], "tokens": {}}
        if (gen_dir / "removed.json").exists():
            try:
                removed = json.loads((gen_dir / "removed.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise IndexFormatError(f"{gen_dir / 'removed.json'}: unreadable ({e})") from None
        self.removed = removed
        self._live = np.ones(offset, bool)
        for first, n in removed["ranges"]:
            self._live[first:first + n] = False
        self._n_live = int(self._live.sum())
        if self._n_live != manifest.get("chunks"):
            raise IndexFormatError(f"{self.index_dir}: {self._n_live} live chunks in {gen_dir.name}, the "
                                   f"manifest says {manifest.get('chunks')}; rebuild it with: rag index "
                                   f"--index-dir {self.index_dir}")
        self.doc_freq = DocFreq([p.lexical for p in self.parts], removed["tokens"])
        self.chunks = _Rows(self)
        self._labels = None
        self._labels_lock = threading.Lock()

    # ---- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n_live

    def _part_of(self, row: int) -> Part:
        for part in reversed(self.parts):
            if row >= part.offset:
                if row - part.offset >= part.n:
                    break
                return part
        raise IndexError(f"row {row} is not in the index ({self.n_rows} rows)")

    def live_rows(self) -> Iterator[tuple[Part, Chunk, list[str], int]]:
        """(part, chunk, tokens, row) of every live row, in row order."""
        for part in self.parts:
            for i, (chunk, tokens) in enumerate(part.store.rows()):
                if self._live[part.offset + i]:
                    yield part, chunk, tokens, part.offset + i

    @property
    def vectors(self) -> np.ndarray:
        """The live rows' vectors as one (n, dim) float32 array (for small indexes)."""
        dim = int(self.manifest["dim"])
        if not self.parts:
            return np.zeros((0, dim), np.float32)
        return np.concatenate([np.asarray(p.vectors) for p in self.parts])[self._live]

    def article_text(self, source: str, article: int) -> str:
        """The whole text of one article (its live chunks joined)."""
        for part in reversed(self.parts):   # a changed file's live chunks are the latest ones
            text = part.store.article_text(source, article, live=self._live[part.offset:part.offset + part.n])
            if text:
                return text
        return ""

    def vector_for(self, sha: str) -> np.ndarray | None:
        """The stored vector of a chunk text hash, or None: the embedding cache."""
        for part in reversed(self.parts):
            row = part.store.row_of(sha)
            if row is not None:
                return np.array(part.vectors[row])
        return None

    # ---- queries ---------------------------------------------------------------------------
    def _allowed(self, where: Where | None) -> np.ndarray | None:
        if where is None or where.empty:
            return None if self._n_live == self.n_rows else self._live
        with self._labels_lock:
            if self._labels is None:   # paper and date of every row, read once, on the first filter
                first, last, paper, names = [], [], [], {}
                for part in self.parts:
                    f, l, p, n = part.store.labels()
                    codes = np.array([names.setdefault(x, len(names)) for x in n] or [0], np.int32)
                    first.append(f), last.append(l), paper.append(codes[p] if len(p) else p)
                cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int32)
                self._labels = (cat(first), cat(last), cat(paper), names)
        first, last, paper, names = self._labels
        mask = self._live.copy()
        if where.paper:
            mask &= paper == names.get(where.paper, -1)
        days = where.day_range
        if days:
            mask &= (first > 0) & (first <= days[1]) & (last >= days[0])
        return mask

    def search_dense(self, query: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """Rows and cosine scores of the ``k`` nearest live chunks (that pass ``where``) to a query vector."""
        if not self._n_live or k < 1:
            return []
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if q.shape[1] != int(self.manifest["dim"]):
            raise IndexFormatError(f"query vector has dimension {q.shape[1]}, the index has "
                                   f"{self.manifest['dim']}; query with the model the index was built with")
        allowed = self._allowed(where)
        found = []
        for part in self.parts:
            mask = None if allowed is None else allowed[part.offset:part.offset + part.n]
            found += part.search(q, k, mask)
        return sorted(found, key=lambda rs: (-rs[1], rs[0]))[:k]

    def search_lexical(self, tokens: list[str], k: int, where: Where | None = None) -> list[tuple[int, float]]:
        """Rows and BM25 scores (> 0 only) of the best ``k`` live chunks for query tokens."""
        if not tokens or k < 1 or not self._n_live:
            return []
        scores = bm25_scores([p.lexical for p in self.parts], [p.offset for p in self.parts], self.n_rows,
                             tokens, self.doc_freq, self._n_live)
        allowed = self._allowed(where)
        if allowed is not None:
            scores[~allowed] = 0
        if k < len(scores):
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            rows = np.flatnonzero(scores >= max(kth, np.float32(1e-12)))
        else:
            rows = np.flatnonzero(scores > 0)
        top = sorted(((int(r), float(scores[r])) for r in rows), key=lambda rs: (-rs[1], rs[0]))
        return [rs for rs in top[:k] if rs[1] > 0]

    def hybrid(self, query: np.ndarray, tokens: list[str], k: int, rrf_k: int,
               where: Where | None = None) -> dict[int, list]:
        """Both searches (``k`` each) fused: row -> [fused, dense score, lexical score, ranks]."""
        return rrf(self.search_dense(query, k, where), self.search_lexical(tokens, k, where), rrf_k)

    # ---- disk ------------------------------------------------------------------------------
    @classmethod
    def load(cls, index_dir: str | Path, model: str | None = None, dim: int | None = None):
        """Load and verify an index; ``model``/``dim``, when given, must match the manifest.

        An index built on Qdrant (``"backend": "qdrant"`` in the manifest) loads as a
        :class:`rag.qdrant_index.QdrantIndex`. A sync that switches the manifest while this
        reads may remove the generation being read; the load then starts again from the new one.

        Raises:
            IndexFormatError: missing or damaged files (named), a count or model mismatch;
                the message says which and the command that fixes it.
            IndexVersionError: the index was written by a newer version; the message names it.
        """
        index_dir = Path(index_dir)
        for attempt in range(10):   # each retry means a newer generation appeared
            generation = read_manifest(index_dir).get("generation")
            try:
                return cls._load(index_dir, model, dim)
            except IndexFormatError:
                if attempt == 9 or read_manifest(index_dir).get("generation") == generation:
                    raise

    @classmethod
    def _load(cls, index_dir: Path, model: str | None, dim: int | None):
        manifest = read_manifest(index_dir)
        fix = f"rebuild it with: rag index --index-dir {index_dir}"
        check_version(index_dir, manifest, fix)
        verify_manifest(index_dir / MANIFEST, manifest, fix)
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(f"{index_dir}: index format {manifest.get('format_version')!r}, "
                                   f"this version reads {FORMAT_VERSION}; {fix}")
        if model is not None and manifest.get("model") != model:
            raise IndexFormatError(f"{index_dir}: built with model {manifest.get('model')!r} but "
                                   f"configured model is {model!r}; use that model or {fix}")
        if dim is not None and int(manifest.get("dim", -1)) != dim:
            raise IndexFormatError(f"{index_dir}: vectors have dimension {manifest.get('dim')} but "
                                   f"the model gives {dim}; {fix}")
        if manifest.get("backend", "local") == "qdrant":
            from .qdrant_index import QdrantIndex
            return QdrantIndex(index_dir, manifest)
        verify_files(index_dir / f"gen-{manifest.get('generation')}", manifest, fix)
        try:
            return cls(index_dir, manifest)
        except IndexFormatError as e:
            raise IndexFormatError(f"{index_dir}: damaged index files ({e}); {fix}") from None
        except (KeyError, TypeError, ValueError) as e:
            raise IndexFormatError(f"{index_dir}: damaged index files in gen-{manifest.get('generation')} "
                                   f"({e!r}); {fix}") from None

    @staticmethod
    def write(index_dir: str | Path, manifest: dict, old: "Index | None", keep: set[str],
              new_rows: NewRows, n_new: int, config) -> "Index":
        """Write a new generation: ``old``'s chunks of the files in ``keep``, then ``n_new`` new
        rows (chunk, tokens, vector) from ``new_rows()``; switch the manifest to it; load it
        (see :func:`rag.generation.write_generation`)."""
        index_dir = Path(index_dir)
        return Index(index_dir, write_generation(index_dir, manifest, old, keep, new_rows, n_new, config))
