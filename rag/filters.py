"""Which chunks a question may use: one paper, a date range; and questions that ask for the latest."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["Where", "date_span", "asks_for_latest"]

_DATE = re.compile(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")
# 最近/最新/近期…: the question wants the latest issues first.
_LATEST = re.compile(r"最近|最新|近期|近来|上一期|本期|这一期|latest|recent", re.I)


def date_span(date: str) -> tuple[int, int]:
    """A chunk date as the span of days it may stand for, as YYYYMMDD integers.

    "2024" is the whole year, "2024-03" the whole month; "" (unknown) gives (0, 0).

    Example:
        >>> date_span("2024-03"), date_span("2024"), date_span("")
        ((20240301, 20240331), (20240101, 20241231), (0, 0))
    """
    m = _DATE.fullmatch((date or "").strip())
    if not m:
        return 0, 0
    year, month, day = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)
    if day:
        return (year * 10000 + month * 100 + day,) * 2
    if month:
        return year * 10000 + month * 100 + 1, year * 10000 + month * 100 + 31
    return year * 10000 + 101, year * 10000 + 1231


def _bound(value: str | None, name: str) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    span = date_span(str(value))
    month = int(str(value)[5:7]) if len(str(value)) >= 7 and str(value)[5:7].isdigit() else 1
    if span == (0, 0) or not 1 <= month <= 12:
        raise ConfigError(f"{name}={value!r} is not a date; use YYYY, YYYY-MM or YYYY-MM-DD, e.g. 2024-01")
    return span


@dataclass(frozen=True)
class Where:
    """A filter on chunks: ``paper`` (exact name), ``since``/``until`` (YYYY, YYYY-MM or YYYY-MM-DD).

    A chunk passes a date bound when the span its date stands for reaches into the range
    (a chunk dated "2024" passes ``since="2024-06"``); a chunk without a date passes no
    date bound.

    Example:
        >>> w = Where(paper="凉城", since="2024-01")
        >>> w.allows("凉城", "2024-03"), w.allows("凉城", "2023-12"), w.allows("曹杨", "2024-03")
        (True, False, False)
    """

    paper: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        lo, hi = _bound(self.since, "since"), _bound(self.until, "until")
        if lo and hi and lo[0] > hi[1]:
            raise ConfigError(f"since={self.since!r} is after until={self.until!r}; swap them")

    @property
    def empty(self) -> bool:
        return not (self.paper or self.since or self.until)

    @property
    def day_range(self) -> tuple[int, int] | None:
        """(first, last) day allowed as YYYYMMDD, or None when no date bound is set."""
        lo, hi = _bound(self.since, "since"), _bound(self.until, "until")
        if not (lo or hi):
            return None
        return (lo[0] if lo else 0, hi[1] if hi else 99991231)

    def allows(self, paper: str, date: str) -> bool:
        if self.paper and paper != self.paper:
            return False
        days = self.day_range
        if days is None:
            return True
        first, last = date_span(date)
        return bool(first) and first <= days[1] and last >= days[0]


def asks_for_latest(question: str) -> bool:
    """True for questions about the latest issues (最近, 最新, 近期…)."""
    return bool(_LATEST.search(question))
