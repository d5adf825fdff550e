"""Incremental indexing: bring an index in line with its source files.

New or changed files are read and chunked; unchanged ones keep their chunks; files gone
from a source folder leave the index. Only chunks whose text (with model) was never
embedded before are embedded: the previous index's vectors serve as the cache, keyed by
model name + hash of the chunk text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass, asdict
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from .chunk import Chunk, chunk_article
from .clean import clean_text
from .config import Config
from .errors import ConfigError, IngestError, IndexFormatError, IndexVersionError, IndexWriteError
from .index import MANIFEST, Index, read_manifest
from .ingest import Document, find_issue_files, read_document
from .lock import writer_lock
from .meta import IssueMeta
from .segment import segment_issue
from .tokenize import ChineseTokenizer

__all__ = ["SyncReport", "sync_index", "default_sources", "issue_chunks"]

log = logging.getLogger(__name__)
_EMBED_BATCH = 256
ProgressFn = Callable[[float, str], None]
# The sources and config again, beside the manifest: what rebuilds an index whose manifest is damaged.
_RECOVERY = ".sources.json"


class PassageEmbedder(Protocol):
    name: str
    dim: int
    query_prompt: str
    passage_prompt: str

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray: ...


@dataclass(frozen=True)
class SyncReport:
    """What a sync did: totals after it, and how many chunks were embedded or reused."""

    documents: int
    articles: int
    chunks: int
    embedded: int
    reused: int
    removed: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def default_sources() -> list[Path]:
    """Where a new index starts: ``./seeds`` if present, else the project's bundled ``seeds/``."""
    local = Path("seeds")
    return [local.resolve() if local.is_dir() else Path(__file__).resolve().parent.parent / "seeds"]


def issue_chunks(text: str | Document, source: str, config: Config,
                 tokenizer: ChineseTokenizer) -> tuple[int, list[Chunk]]:
    """Clean, segment and chunk one issue (its text, or a read Document): (articles, chunks).

    Each chunk carries the issue's metadata (paper, date, issue or page label, URL).
    """
    doc = text if isinstance(text, Document) else Document(text, IssueMeta())
    articles = segment_issue(clean_text(doc.text, tokenizer.words, doc.layout), source)
    m = doc.meta
    chunks = [dataclasses.replace(c, paper=m.paper, date=m.date, issue=m.issue_on(c.page), url=m.url)
              for a in articles for c in chunk_article(a, config.chunk_size, config.chunk_overlap)]
    return len(articles), chunks


def _embedder_for(config: Config, embedder: PassageEmbedder | None) -> tuple[PassageEmbedder, Config]:
    """The embedder a sync uses, and the config recording the backend it really runs on."""
    if embedder is None:
        from .embed import Embedder   # the model loads only when a sync needs one
        embedder = Embedder(config.model, query_prompt=config.query_prompt, passage_prompt=config.passage_prompt,
                            batch_size=config.batch_size, backend=config.embedding_backend)
    if embedder.name != config.model:
        raise IndexFormatError(f"embedder model {embedder.name!r} differs from config model {config.model!r}")
    backend = getattr(embedder, "backend", config.embedding_backend)   # test fakes have none
    if backend != config.embedding_backend:   # the int8 copy could not load here (warned)
        config = config.replace(embedding_backend=backend)
    return embedder, config


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _collect_files(sources: Iterable[Path]) -> tuple[dict[str, Path], list[Path]]:
    files: dict[str, Path] = {}
    kept_sources = []
    for src in sources:
        if not src.exists():
            log.warning("source %s no longer exists; its files leave the index", src)
            continue
        kept_sources.append(src)
        for f in find_issue_files(src):
            other = files.get(f.name)
            if other is not None and other.resolve() != f.resolve():
                raise IngestError(f"two issue files are both named {f.name}: {other} and {f}; "
                                  "citations name files by their name, so rename one")
            files[f.name] = f
    return files, kept_sources


def _read_changed(files: dict[str, Path], old_files: dict[str, dict], config: Config,
                  tokenizer: ChineseTokenizer, note: ProgressFn) -> tuple[dict, set[str], list[Chunk]]:
    """Read every new or changed file before anything is written: one bad file stops the sync.

    Returns the manifest entry of every file, the names of the unchanged ones (their chunks
    stay in the index as they are) and the chunks of the others.
    """
    entries, keep, chunks, errors = {}, set(), [], []
    note(0.0, f"reading {len(files)} issue files")
    for name in sorted(files):
        path = files[name]
        sha = _sha256(path)
        prev = old_files.get(name)
        if prev and prev["sha256"] == sha:
            keep.add(name)
            entries[name] = dict(prev, path=str(path))
            continue
        try:
            doc = read_document(path, lambda k, n, name=name: note(0.0, f"reading {name} by OCR: page {k}/{n}"))
            n_articles, new_chunks = issue_chunks(doc, name, config, tokenizer)
        except IngestError as e:
            errors.append(str(e))
            continue
        dates = sorted({c.date for c in new_chunks if c.date})
        entries[name] = {"path": str(path), "sha256": sha, "articles": n_articles, "chunks": len(new_chunks),
                         "meta": doc.meta.to_dict(), "papers": sorted({c.paper for c in new_chunks if c.paper}),
                         "dates": dates[:1] + dates[-1:]}   # first and last (the chat's date selector)
        chunks.extend(new_chunks)
    if errors:
        raise IngestError("; ".join(errors) + ". The index was not changed.")
    return entries, keep, chunks


def _live_index(index_dir: Path, current: Index | None) -> Index:
    if current is not None and current.manifest.get("generation") == read_manifest(index_dir).get("generation"):
        return current
    return Index.load(index_dir)


def sync_index(index_dir: str | Path, paths: Iterable[str | Path] = (), *,
               config: Config | None = None, embedder: PassageEmbedder | None = None,
               tokenizer: ChineseTokenizer | None = None, progress: bool = False,
               on_progress: ProgressFn | None = None, current: Index | None = None,
               wait: bool = True) -> tuple[Index, SyncReport]:
    """Add ``paths`` to the index's sources and sync; returns the new index and a report.

    With no paths, the recorded sources are synced (a new index starts from
    :func:`default_sources`). Nothing on disk changes unless every file reads; on any
    error the previous index stays live.

    ``current``, the index a caller already holds for ``index_dir`` (the Assistant's), is
    used as the previous index when it is still the live generation, instead of loading a
    second copy (a million chunks' vectors are about 800 MB).

    The whole sync, from reading the previous manifest to saving, holds the folder's
    writer lock: a second sync waits for it (``wait=False``: raises IndexBusyError) and
    then starts from the index the first one saved, so neither loses the other's files.

    Example:
        >>> index, report = sync_index("index", ["seeds/"])      # doctest: +SKIP
        >>> report.embedded, report.reused                          # doctest: +SKIP
        (66, 0)
    """
    note = on_progress or (lambda fraction, message: None)
    with writer_lock(index_dir, wait=wait, on_wait=lambda message: note(0.0, message)):
        return _sync_locked(Path(index_dir), paths, config, embedder, tokenizer, progress, note, current)


def _sync_locked(index_dir: Path, paths: Iterable[str | Path], config: Config | None,
                 embedder: PassageEmbedder | None, tokenizer: ChineseTokenizer | None,
                 progress: bool, note: ProgressFn, current: Index | None) -> tuple[Index, SyncReport]:
    started = time.perf_counter()
    old, old_manifest = None, {}
    if (index_dir / MANIFEST).exists():
        try:
            old = _live_index(index_dir, current)
            old_manifest = old.manifest
        except IndexVersionError:
            raise   # a newer program's index: rebuilding it here would downgrade it
        except IndexFormatError as e:
            # A damaged index is rebuilt from its recorded sources; nothing is reused from it.
            log.warning("previous index unusable (%s); rebuilding it", e)
            old_manifest = _recovery_info(index_dir)
    if config is None:
        try:
            config = Config.from_dict(old_manifest["config"]) if "config" in old_manifest else Config()
        except ConfigError:
            config = Config()
    embedder, config = _embedder_for(config, embedder)
    tokenizer = tokenizer or ChineseTokenizer()

    new_paths = [Path(p).resolve() for p in paths]
    for p in new_paths:
        if not p.exists():
            raise IngestError(f"{p}: no such file or folder; check the path")
    sources = [Path(s) for s in old_manifest.get("sources", [])]
    sources += [p for p in new_paths if p not in sources]
    if not sources:
        sources = default_sources()
    files, sources = _collect_files(sources)

    same_chunking = old is not None and all(
        old_manifest["config"].get(k) == getattr(config, k) for k in ("chunk_size", "chunk_overlap"))
    same_model = old is not None and old_manifest.get("model") == config.model and \
        old_manifest["config"].get("embedding_backend", "torch") == config.embedding_backend
    # Chunks of an unchanged file stay where they are, on the same model, chunking and backend.
    same_place = same_chunking and same_model and old.backend == config.backend \
        and old_manifest["config"].get("qdrant", "") == config.qdrant
    entries, keep, chunks = _read_changed(files, old_manifest.get("files", {}) if same_place else {},
                                          config, tokenizer, note)

    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = []
    for i, c in enumerate(chunks):
        cached = old.vector_for(c.sha) if same_model else None
        if cached is None:
            todo.append(i)
        else:
            vectors[i] = cached
    bar = tqdm(total=len(todo), desc="embedding", unit="chunk",
               disable=not (progress and todo and sys.stderr.isatty()))
    for start in range(0, len(todo), _EMBED_BATCH):
        batch = todo[start:start + _EMBED_BATCH]
        note(0.05 + 0.9 * start / len(todo), f"embedding {start}/{len(todo)} new chunks")
        vectors[batch] = embedder.embed_passages([chunks[i].embed_text for i in batch])
        bar.update(len(batch))
    bar.close()

    removed = sorted(set(old_manifest.get("files", {})) - set(entries))
    manifest = {
        "model": config.model, "embedding_backend": config.embedding_backend, "dim": embedder.dim,
        "query_prompt": embedder.query_prompt, "passage_prompt": embedder.passage_prompt,
        "config": config.to_dict(), "sources": [str(s) for s in sources], "files": entries,
        "documents": len(entries), "articles": sum(e["articles"] for e in entries.values()),
    }
    note(0.96, "saving the index")

    def new_rows():   # tokens are made as rows are written: a million token lists would not fit
        for c, v in zip(chunks, vectors):
            yield c, tokenizer(c.embed_text), v
    writer = Index
    if config.backend == "qdrant":
        from .qdrant_index import QdrantIndex as writer
    index = _write(index_dir, lambda: writer.write(index_dir, manifest, old if keep else None, keep,
                                                   new_rows, len(chunks), config))
    _write_recovery_info(index_dir, manifest)
    total = sum(e["chunks"] for e in entries.values())
    report = SyncReport(documents=len(entries), articles=manifest["articles"], chunks=total,
                        embedded=len(todo), reused=total - len(todo), removed=len(removed),
                        seconds=round(time.perf_counter() - started, 3))
    note(1.0, "done")
    log.info("sync: %s", report)
    return index, report


def _write(index_dir: Path, write: Callable[[], Index]) -> Index:
    """Write under the writer lock; a failed write (disk full…) leaves the previous index live."""
    before = set(index_dir.glob("gen-*"))
    try:
        return write()
    except (OSError, RuntimeError, sqlite3.Error) as e:   # faiss: RuntimeError; SQLite: "disk I/O error"
        for partial in [*index_dir.glob(".building-*"), *(set(index_dir.glob("gen-*")) - before)]:
            shutil.rmtree(partial, ignore_errors=True)
        (index_dir / f".{MANIFEST}.tmp").unlink(missing_ok=True)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[-1]
        raise IndexWriteError(f"could not write the new index into {index_dir} ({reason}); free some "
                              f"disk space and run: rag index --index-dir {index_dir}. The previous "
                              "index is unchanged and still answers questions.") from e


def _write_recovery_info(index_dir: Path, manifest: dict) -> None:
    tmp = index_dir / f"{_RECOVERY}.tmp"
    try:
        tmp.write_text(json.dumps({k: manifest[k] for k in ("sources", "config")}, ensure_ascii=False),
                       encoding="utf-8")
        os.replace(tmp, index_dir / _RECOVERY)
    except OSError as e:
        log.warning("could not write %s (%s); a damaged manifest would lose its sources", _RECOVERY, e)


def _recovery_info(index_dir: Path) -> dict:
    """Sources and config of a damaged index: from the copy beside it, else from its manifest."""
    for read in (lambda: json.loads((index_dir / _RECOVERY).read_text(encoding="utf-8")),
                 lambda: read_manifest(index_dir)):
        try:
            data = read()
            return {"sources": [str(s) for s in data["sources"]], "config": dict(data["config"])}
        except (OSError, ValueError, KeyError, TypeError, IndexFormatError):
            continue
    return {}
