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
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError, IndexVersionError
from .filters import Where
from .integrity import seal_manifest, verify_files, verify_manifest
from .lexical import DocFreq, bm25_scores
from .parts import Part, write_part

__all__ = ["Index", "FORMAT_VERSION", "MANIFEST", "read_manifest", "rrf"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
_PARTS = ("base", "tail")
_COMPACT = 0.25          # removed rows beyond this share of the base: rewrite it without them
NewRows = Callable[[], Iterator[tuple[Chunk, list[str], np.ndarray]]]


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("rag-shequ", "faiss-cpu", "bm25s", "jieba", "sentence-transformers", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


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
        _check_version(index_dir, manifest, fix)
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
        rows (chunk, tokens, vector) from ``new_rows()``; switch the manifest to it; load it."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        dim = int(manifest["dim"])
        gen = 1 + max([int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()] or [0])
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=index_dir))
        base = old.parts[0] if old and old.parts and old.manifest["parts"].get("base", {}).get("chunks") else None
        tail = old.parts[-1] if old and old.parts and old.parts[-1] is not base else None
        ranges = [list(r) for r in old.removed["ranges"]] if base else []
        dead_tokens = Counter(old.removed["tokens"]) if base else Counter()
        if base:   # a base file not kept: its rows die (they keep their numbers)
            for source, first, n in base.runs:
                if source in keep:
                    continue
                live = np.flatnonzero(old._live[first:first + n]) + first   # rows removed before stay so
                for seg in np.split(live, np.flatnonzero(np.diff(live) > 1) + 1) if len(live) else []:
                    ranges.append([int(seg[0]), len(seg)])
                    for _, tokens in base.store.rows(int(seg[0]), int(seg[-1]) + 1):
                        dead_tokens.update(set(tokens))
        n_base = base.n if base else 0
        n_dead = sum(n for _, n in ranges)
        tail_runs = [(first, n) for source, first, n in tail.runs if source in keep] if tail else []
        n_tail = sum(n for _, n in tail_runs) + n_new

        def tail_rows() -> Iterator[tuple[Chunk, list[str], np.ndarray]]:
            for first, n in tail_runs:
                for i, (chunk, tokens) in enumerate(tail.store.rows(first, first + n)):
                    yield chunk, tokens, tail.vectors[first + i]
            yield from new_rows()

        parts: dict[str, dict] = {}
        exact_limit, tail_limit = config.exact_limit, config.tail_limit
        if n_tail > tail_limit or (n_base and n_dead > _COMPACT * n_base):
            compact = n_dead > _COMPACT * n_base
            live = np.ones(n_base, bool)
            for first, n in ranges:
                live[first:first + n] = False

            def base_rows() -> Iterator[tuple[Chunk, list[str], np.ndarray]]:
                if base:
                    for i, (chunk, tokens) in enumerate(base.store.rows()):
                        if live[i] or not compact:
                            yield chunk, tokens, base.vectors[i]
                yield from tail_rows()
            kept = int(live.sum()) if compact else n_base
            grow = base.folder / "dense.faiss" if base and base.kind != "flat" and not compact else None
            parts["base"] = write_part(tmp / "base", base_rows(), kept + n_tail, dim, exact_limit,
                                       grow=grow, grown=n_base if grow is not None else 0)
            if compact:
                ranges, dead_tokens = [], Counter()
            log.info("index: tail merged into the base (%d rows%s)", kept + n_tail,
                     ", removed rows dropped" if compact else "")
        else:
            if base:
                (tmp / "base").mkdir()
                for f in base.folder.rglob("*"):
                    if f.is_file():
                        dst = tmp / "base" / f.relative_to(base.folder)
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        _link(f, dst)
                parts["base"] = dict(old.manifest["parts"]["base"])
            if n_tail:
                parts["tail"] = write_part(tmp / "tail", tail_rows(), n_tail, dim, exact_limit=n_tail + 1)
        (tmp / "removed.json").write_text(json.dumps({"ranges": ranges, "tokens": dead_tokens},
                                                     ensure_ascii=False), encoding="utf-8")
        _fsync_tree(tmp)
        gen_dir = index_dir / f"gen-{gen}"
        os.replace(tmp, gen_dir)
        total = sum(p["chunks"] for p in parts.values())
        manifest = dict(manifest, format_version=FORMAT_VERSION, generation=gen, backend="local",
                        versions=_versions(), parts=parts, chunks=total - sum(n for _, n in ranges))
        # Last: the checksums of the generation's files (a hard-linked file keeps its old one).
        manifest = seal_manifest(manifest, gen_dir, old.index_dir / f"gen-{old.manifest['generation']}"
                                 if old else None, old.manifest if old else None)
        tmp_manifest = index_dir / f".{MANIFEST}.tmp"
        tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp_manifest, index_dir / MANIFEST)   # the switch: atomic on POSIX
        for stale in index_dir.glob("gen-*"):
            if stale.name != gen_dir.name:
                shutil.rmtree(stale, ignore_errors=True)
        for stale in index_dir.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        log.info("index saved: %s (%d chunks, generation %d)", index_dir, manifest["chunks"], gen)
        return Index(index_dir, manifest)


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)     # a kept part costs no copy; its files are never written again
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())


def _check_version(index_dir: Path, manifest: dict, fix: str) -> None:
    """IndexVersionError when a newer version wrote the index: which version reads it."""
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        writer = str((manifest.get("versions") or {}).get("rag-shequ", "unknown"))
        needed = (f"rag-shequ {writer} or later (pip install -U 'rag-shequ>={writer}')"
                  if writer[:1].isdigit() else "a newer rag-shequ (pip install -U rag-shequ)")
        raise IndexVersionError(
            f"{index_dir}: the index is in format {version}, written by rag-shequ {writer}; this "
            f"rag-shequ {_versions()['rag-shequ']} reads format {FORMAT_VERSION} only. It needs "
            f"{needed}, or build an index for this version in another folder: "
            "rag index --index-dir NEW_FOLDER")


def read_manifest(index_dir: Path) -> dict:
    """The manifest of an index folder; IndexFormatError if it is missing or unreadable."""
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexFormatError(f"no index at {index_dir} (no {MANIFEST}); build one with: "
                               f"rag index --index-dir {index_dir} [PATH ...]")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexFormatError(f"{path}: unreadable manifest ({e}); rebuild with: "
                               f"rag index --index-dir {index_dir}") from None
