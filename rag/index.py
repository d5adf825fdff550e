"""The index on disk: FAISS vectors + bm25s lexical index + chunk store + manifest.

Layout of an index folder::

    manifest.json          written last, by atomic replace; names the live generation
    gen-<n>/chunks.jsonl   one chunk a line, with its jieba tokens and text hash
    gen-<n>/dense.faiss    IndexFlatIP over L2-normalised vectors (inner product = cosine)
    gen-<n>/lexical/       bm25s.BM25.save() output (JSON + .npy, no pickle)

A build writes a new ``gen-<n+1>`` folder and then replaces ``manifest.json``; a crash
before that leaves the previous generation live and untouched. Old generations are
removed once the new manifest is in place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from importlib import metadata
from pathlib import Path

import bm25s
import faiss
import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError, IndexVersionError
from .integrity import seal_manifest, verify_files, verify_manifest

__all__ = ["Index", "FORMAT_VERSION", "MANIFEST", "read_manifest"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_CHUNK_FIELDS = ("id", "source", "section", "title", "article", "position", "heading", "text", "cuts",
                 "page", "paper", "date", "issue", "url")


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("rag-shequ", "faiss-cpu", "bm25s", "jieba", "sentence-transformers", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


class Index:
    """Chunks with their vectors and tokens, searchable densely and lexically.

    Attributes:
        chunks: the chunks, in index order (row i of the vectors is chunk i).
        tokens: jieba tokens of each chunk's ``embed_text``.
        manifest: the manifest dict (model, dim, config, files, counts…).
    """

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, tokens: list[list[str]],
                 manifest: dict, lexical: bm25s.BM25 | None = None) -> None:
        if len(chunks) != len(vectors) or len(chunks) != len(tokens):
            raise IndexFormatError(
                f"{len(chunks)} chunks but {len(vectors)} vectors and {len(tokens)} token lists")
        self.chunks = chunks
        self.tokens = tokens
        self.manifest = manifest
        dim = int(manifest["dim"])
        self._dense = faiss.IndexFlatIP(dim)
        if len(chunks):
            self._dense.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._lexical = lexical
        if lexical is None and any(tokens):
            self._lexical = bm25s.BM25()
            self._lexical.index(tokens, show_progress=False)
        self._sha_to_row = {c.sha: i for i, c in enumerate(chunks)}
        self.doc_freq: Counter[str] = Counter(t for toks in tokens for t in set(toks))
        self._articles: dict[tuple[str, int], str] = {}
        for c in chunks:   # overlapping text is repeated; harmless for "does the article say X"
            key = (c.source, c.article)
            self._articles[key] = self._articles.get(key, "") + c.text

    def article_text(self, source: str, article: int) -> str:
        """The whole text of one article (its chunks joined)."""
        return self._articles.get((source, article), "")

    # ---- queries -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def vectors(self) -> np.ndarray:
        """All vectors as an (n, dim) float32 array (read back from FAISS)."""
        n = self._dense.ntotal
        return self._dense.reconstruct_n(0, n) if n else np.zeros((0, self._dense.d), np.float32)

    def vector_for(self, sha: str) -> np.ndarray | None:
        """The stored vector of a chunk text hash, or None: the embedding cache."""
        row = self._sha_to_row.get(sha)
        return None if row is None else self._dense.reconstruct(row)

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Rows and cosine scores of the ``k`` nearest chunks to one query vector."""
        if not len(self) or k < 1:
            return []
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        if q.shape[1] != self._dense.d:
            raise IndexFormatError(f"query vector has dimension {q.shape[1]}, the index has "
                                   f"{self._dense.d}; query with the model the index was built with")
        scores, rows = self._dense.search(q, min(k, len(self)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def search_lexical(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        """Rows and BM25 scores (> 0 only) of the best ``k`` chunks for query tokens."""
        if self._lexical is None or not tokens or k < 1:
            return []
        scores = self._lexical.get_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:k]
        return [(int(r), float(scores[r])) for r in top if scores[r] > 0]

    # ---- disk ----------------------------------------------------------------------------
    def save(self, index_dir: str | Path) -> Path:
        """Write the index as a new generation, then switch ``manifest.json`` to it."""
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        # A number no folder has had: never the live one, nor a crashed build's leftover.
        gen = 1 + max([int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()] or [0])
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=index_dir))
        with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c, toks in zip(self.chunks, self.tokens):
                row = {k: getattr(c, k) for k in _CHUNK_FIELDS}
                row.update(cuts=list(c.cuts), sha=c.sha, tokens=toks)
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        faiss.write_index(self._dense, str(tmp / "dense.faiss"))
        if self._lexical is not None:
            self._lexical.save(str(tmp / "lexical"))
        gen_dir = index_dir / f"gen-{gen}"
        os.replace(tmp, gen_dir)
        manifest = dict(self.manifest, format_version=FORMAT_VERSION, generation=gen,
                        versions=_versions(), chunks=len(self.chunks))
        manifest = seal_manifest(manifest, gen_dir)   # last: it lists the files' checksums
        tmp_manifest = index_dir / f".{MANIFEST}.tmp"
        tmp_manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp_manifest, index_dir / MANIFEST)   # the switch: atomic on POSIX
        self.manifest = manifest
        for stale in index_dir.glob("gen-*"):
            if stale.name != gen_dir.name:
                shutil.rmtree(stale, ignore_errors=True)
        for stale in index_dir.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        log.info("index saved: %s (%d chunks, generation %d)", index_dir, len(self), gen)
        return index_dir

    @classmethod
    def load(cls, index_dir: str | Path, model: str | None = None, dim: int | None = None) -> "Index":
        """Load and verify an index; ``model``/``dim``, when given, must match the manifest.

        A sync that switches the manifest while this reads may remove the generation
        being read; the load then starts again from the new manifest.

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
    def _load(cls, index_dir: Path, model: str | None, dim: int | None) -> "Index":
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
        gen_dir = index_dir / f"gen-{manifest.get('generation')}"
        verify_files(gen_dir, manifest, fix)
        current = gen_dir / "chunks.jsonl"   # named in the error if it cannot be parsed
        try:
            chunks, tokens = [], []
            with open(current, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    tokens.append(row["tokens"])
                    row["cuts"] = tuple(row["cuts"])
                    chunks.append(Chunk(**{k: row[k] for k in _CHUNK_FIELDS if k in row}))
            current = gen_dir / "dense.faiss"
            dense = faiss.read_index(str(current))
            lexical = None
            if (gen_dir / "lexical").exists():
                current = gen_dir / "lexical"
                lexical = bm25s.BM25.load(str(gen_dir / "lexical"))
                if lexical.scores.get("num_docs") != len(chunks):
                    raise ValueError(f"lexical index holds {lexical.scores.get('num_docs')} documents, "
                                     f"the chunk store {len(chunks)}")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            raise IndexFormatError(f"{current}: damaged index file ({e}); {fix}") from None
        if dense.ntotal != len(chunks) or manifest.get("chunks") != len(chunks):
            raise IndexFormatError(f"{index_dir}: {dense.ntotal} vectors, {len(chunks)} chunks, manifest "
                                   f"says {manifest.get('chunks')}; they must be equal; {fix}")
        if dense.d != int(manifest["dim"]):
            raise IndexFormatError(f"{index_dir}: vectors have dimension {dense.d}, manifest says "
                                   f"{manifest['dim']}; {fix}")
        vectors = dense.reconstruct_n(0, dense.ntotal) if dense.ntotal else np.zeros((0, dense.d), np.float32)
        return cls(chunks, vectors, tokens, manifest, lexical)


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
