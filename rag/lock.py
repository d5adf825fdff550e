"""One writer at a time: an exclusive lock on an index folder, held for a whole sync.

The lock is an OS file lock (``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows) on
``<index>/.sync.lock``. The operating system drops it when its holder exits, however it
exits, so a killed sync never leaves a lock that blocks the next one. Readers never take it:
they read ``manifest.json``, which a writer replaces atomically, so they see the old
generation or the new one and never wait.

Who holds the lock (pid, host, start time) is written beside it, in ``.sync.lock.owner``,
only to make the "waiting" message useful; it is not part of the locking.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from .errors import IndexBusyError

__all__ = ["writer_lock", "LOCK_FILE"]

log = logging.getLogger(__name__)

LOCK_FILE = ".sync.lock"
_OWNER_FILE = LOCK_FILE + ".owner"


def _holder(index_dir: Path) -> str:
    """Who holds the lock, as far as its owner file says (it may be a little stale)."""
    try:
        owner = json.loads((index_dir / _OWNER_FILE).read_text(encoding="utf-8"))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["started"]))
        return f" (pid {owner['pid']} on {owner['host']}, started {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@contextmanager
def writer_lock(index_dir: str | Path, wait: bool = True,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the index folder's writer lock for the ``with`` block.

    With ``wait`` a busy lock is waited for, after one warning (also passed to ``on_wait``);
    without it, :class:`IndexBusyError` is raised at once. The folder is created if needed.

    Example:
        >>> with writer_lock("index"):          # doctest: +SKIP
        ...     pass                            # read the manifest, build, save
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / LOCK_FILE))
    try:
        lock.acquire(blocking=False)
    except Timeout:
        busy = f"another sync of {index_dir} is running{_holder(index_dir)}"
        if not wait:
            raise IndexBusyError(f"{busy}; try again when it has finished, or leave out --no-wait "
                                 "to wait for it") from None
        message = f"{busy}, waiting for it to finish…"
        log.warning("%s", message)
        if on_wait:
            on_wait(message)
        lock.acquire()
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        try:
            (index_dir / _OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
        except OSError:   # a full disk must not stop the sync here; the save reports it
            pass
        yield
    finally:
        (index_dir / _OWNER_FILE).unlink(missing_ok=True)   # before the release: never the next holder's
        lock.release()
