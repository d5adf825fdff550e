"""Who may add issues through a server: the editor password and its rate limit.

Asking is open to everyone; adding an issue changes what the chat quotes as a newspaper
source, so a server that listens beyond loopback accepts it only with the editor password.
On loopback with no password (one person on their own machine) uploads stay open; beyond
loopback with no password they are closed, and the server offers no way to upload at all.

No web framework here: ``app.py`` asks :meth:`EditorGate.check` on every upload request.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time

__all__ = ["EditorGate", "is_loopback", "OPEN", "PASSWORD", "CLOSED"]

log = logging.getLogger(__name__)

OPEN, PASSWORD, CLOSED = "open", "password", "closed"


def is_loopback(host: str | None) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("192.168.1.5")
        (True, False, False)
    """
    host = (host or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:   # a host name or "": it may resolve to anything, so not loopback
        return False


class EditorGate:
    """Decides each upload request: open, password-checked, or closed.

    The password is compared in constant time (``hmac.compare_digest``). A client that
    gives ``max_failures`` wrong passwords within ``window`` seconds is refused, even with
    the right password, until the oldest of those failures is ``window`` seconds old.

    Example:
        >>> gate = EditorGate.for_host("0.0.0.0", password="s3cret")
        >>> gate.mode, gate.check("s3cret", "10.0.0.7") is None
        ('password', True)
        >>> EditorGate.for_host("0.0.0.0").mode
        'closed'
    """

    def __init__(self, mode: str, password: str | None = None, max_failures: int = 5,
                 window: float = 60.0) -> None:
        if mode not in (OPEN, PASSWORD, CLOSED):
            raise ValueError(f"mode must be one of {OPEN!r}, {PASSWORD!r}, {CLOSED!r}, got {mode!r}")
        if (mode == PASSWORD) != bool(password):
            raise ValueError("a password is needed exactly when mode is 'password'")
        self.mode = mode
        self._secret = (password or "").encode("utf-8")
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_host(cls, host: str | None, password: str | None = None) -> "EditorGate":
        """The gate for a server bound to ``host``: a password if given, else open only on loopback."""
        if password:
            return cls(PASSWORD, password)
        return cls(OPEN if is_loopback(host) else CLOSED)

    @property
    def uploads_offered(self) -> bool:
        return self.mode != CLOSED

    def check(self, given: str | None, client: str, now: float | None = None) -> str | None:
        """None if this request may add an issue, else the reason (in Chinese, for the page)."""
        if self.mode == OPEN:
            return None
        if self.mode == CLOSED:
            return "此服务器没有开放上传（未设置编辑口令）。"
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            if len(recent) >= self.max_failures:
                wait = int(self.window - (now - recent[0])) + 1
                return f"编辑口令错误次数过多，请 {wait} 秒后再试。文件未添加。"
            if hmac.compare_digest((given or "").encode("utf-8"), self._secret):
                self._failures.pop(client, None)
                return None
            self._failures[client] = [*recent, now]
            if len(self._failures) > 10_000:   # many clients: forget the ones with no recent failure
                self._failures = {c: ts for c, ts in self._failures.items() if now - ts[-1] < self.window}
        log.warning("wrong editor password from %s", client)
        return "编辑口令不正确，文件未添加。"
