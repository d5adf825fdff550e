"""The chunk store: chunks, their text hash and jieba tokens in one SQLite file, read row by row.

A million chunks of text do not fit comfortably in a serving process's memory; SQLite
reads one row (or one article) from disk when it is asked for. A store file is written
once, then only read (opened with ``immutable=1``: no locks, safe to share by threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .filters import date_span

__all__ = ["ChunkStore", "write_store", "CHUNK_FIELDS"]

CHUNK_FIELDS = ("id", "source", "section", "title", "article", "position", "heading", "text", "cuts",
                "page", "paper", "date", "issue", "url", "page_marks")
_COLUMNS = CHUNK_FIELDS + ("sha", "tokens")
_SCHEMA = ("CREATE TABLE chunks (row INTEGER PRIMARY KEY, " + ", ".join(_COLUMNS) + ")",
           "CREATE INDEX by_article ON chunks(source, article, position)",
           "CREATE INDEX by_sha ON chunks(sha)")


def write_store(path: Path, rows: Iterable[tuple[Chunk, list[str]]]) -> int:
    """Write chunks with their tokens to a new store file; returns how many."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA journal_mode=OFF")       # a new file in a temporary folder: nothing to roll back to
        db.execute("PRAGMA synchronous=OFF")        # the folder is fsynced as a whole before it goes live
        for stmt in _SCHEMA[:1]:
            db.execute(stmt)
        sql = f"INSERT INTO chunks VALUES ({', '.join('?' * (len(_COLUMNS) + 1))})"
        n = 0

        def values():
            nonlocal n
            for chunk, tokens in rows:
                yield (n, *(getattr(chunk, f) for f in CHUNK_FIELDS[:8]), json.dumps(list(chunk.cuts)),
                       *(getattr(chunk, f) for f in CHUNK_FIELDS[9:14]), json.dumps(list(chunk.page_marks)),
                       chunk.sha, " ".join(tokens))
                n += 1
        db.executemany(sql, values())
        for stmt in _SCHEMA[1:]:                    # indexes after the rows: faster than row by row
            db.execute(stmt)
        db.commit()
    finally:
        db.close()
    return n


class ChunkStore:
    """Read access to one store file: ``store[row]`` is a Chunk.

    Example:
        >>> store = ChunkStore(Path("index/gen-1/tail/chunks.sqlite"), 66)   # doctest: +SKIP
        >>> store[0].source                                                  # doctest: +SKIP
        '000_54cc604d7de70b0b.txt'
    """

    def __init__(self, path: Path, expected: int) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
            n = self._db.execute("SELECT count(*), coalesce(max(row) + 1, 0) FROM chunks").fetchone()
        except sqlite3.Error as e:
            raise IndexFormatError(f"{path}: damaged chunk store ({e})") from None
        if n != (expected, expected):
            raise IndexFormatError(f"{path}: chunk store holds {n[0]} chunks, the index expects {expected}")
        self._n = expected
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._n

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise IndexFormatError(f"{self.path}: damaged chunk store ({e})") from None

    def __getitem__(self, row: int) -> Chunk:
        found = self._query(f"SELECT {', '.join(CHUNK_FIELDS)} FROM chunks WHERE row = ?", (int(row),))
        if not found:
            raise IndexError(f"row {row} is not in {self.path} ({self._n} rows)")
        return _chunk(found[0])

    def rows(self, start: int = 0, stop: int | None = None, batch: int = 2000) -> Iterator[tuple[Chunk, list[str]]]:
        """Chunks with their tokens in row order, read a batch at a time."""
        stop = self._n if stop is None else stop
        for lo in range(start, stop, batch):
            for r in self._query(f"SELECT {', '.join(CHUNK_FIELDS)}, tokens FROM chunks "
                                 "WHERE row >= ? AND row < ? ORDER BY row", (lo, min(stop, lo + batch))):
                yield _chunk(r[:-1]), r[-1].split()

    def tokens(self, batch: int = 5000) -> Iterator[list[str]]:
        """Every row's tokens in row order (what the lexical index is built from)."""
        for lo in range(0, self._n, batch):
            for (t,) in self._query("SELECT tokens FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                                    (lo, lo + batch)):
                yield t.split()

    def article_text(self, source: str, article: int, live: np.ndarray | None = None) -> str:
        """The article's chunks joined, skipping rows that ``live`` (a mask of this store's rows) drops."""
        return "".join(t for row, t in self._query(
            "SELECT row, text FROM chunks WHERE source = ? AND article = ? ORDER BY row", (source, article))
            if live is None or live[row])

    def row_of(self, sha: str) -> int | None:
        found = self._query("SELECT row FROM chunks WHERE sha = ? LIMIT 1", (sha,))
        return found[0][0] if found else None

    def labels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Per row: the first and last day its date may stand for (YYYYMMDD, 0 if unknown) and
        its paper as a code into the returned list of paper names. Kept in memory for filters."""
        first = np.zeros(self._n, np.int32)
        last = np.zeros(self._n, np.int32)
        paper = np.zeros(self._n, np.int32)
        names: dict[str, int] = {}
        spans: dict[str, tuple[int, int]] = {}
        for lo in range(0, self._n, 20000):
            for row, p, d in self._query("SELECT row, paper, date FROM chunks WHERE row >= ? AND row < ?",
                                         (lo, lo + 20000)):
                first[row], last[row] = spans.get(d) or spans.setdefault(d, date_span(d))
                paper[row] = names.setdefault(p, len(names))
        return first, last, paper, list(names)


def _chunk(r: tuple) -> Chunk:
    values = dict(zip(CHUNK_FIELDS, r))
    values["cuts"] = tuple(json.loads(values["cuts"]))
    values["page_marks"] = tuple(tuple(m) for m in json.loads(values["page_marks"] or "[]"))
    return Chunk(**values)
