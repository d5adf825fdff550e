"""The Python entry point: ``answer(question)``."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

from .compose import Answer
from .service import Assistant

__all__ = ["answer", "default_index_dir", "get_assistant"]


def default_index_dir() -> Path:
    """``RAG_INDEX_DIR`` if set, else ``./index``."""
    return Path(os.environ.get("RAG_INDEX_DIR") or "index")


@functools.lru_cache(maxsize=4)
def _assistant(index_dir: Path) -> Assistant:
    return Assistant(index_dir)


def get_assistant(index_dir: str | Path | None = None) -> Assistant:
    """The process's Assistant for an index folder, loaded on first use and kept."""
    return _assistant(Path(index_dir or default_index_dir()).resolve())


def answer(question: str, index_dir: str | Path | None = None,
           previous: Sequence[str] | None = None, *, paper: str | None = None,
           since: str | None = None, until: str | None = None) -> Answer:
    """Answer a question from the newspaper index, with citations.

    The model and index load once per process; a missing default index is built from
    the bundled seeds on first use. ``paper`` keeps to one paper, ``since``/``until``
    (YYYY, YYYY-MM or YYYY-MM-DD) to a date range.

    Example:
        >>> a = answer("兰岭园新增了多少个停车位？")      # doctest: +SKIP
        >>> a.short_answer, a.citations[0].source       # doctest: +SKIP
        ('7个停车位', '000_54cc604d7de70b0b.txt')
    """
    return get_assistant(index_dir).ask(question, previous, paper=paper, since=since, until=until)
