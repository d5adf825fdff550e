"""Read an issue file into text: .txt/.md in UTF-8, UTF-16 (with BOM) or GBK/GB18030."""

from __future__ import annotations

import logging
from pathlib import Path

from .errors import IngestError

__all__ = ["SUPPORTED_SUFFIXES", "MAX_FILE_BYTES", "read_issue", "find_issue_files"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md")
MAX_FILE_BYTES = 20 * 1024 * 1024
# Bytes that never occur in real text; a few of them mean "binary", not "odd encoding".
_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32)) - {27}


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        try:
            # GB18030 is a superset of GBK and GB2312, so one try covers all three.
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise IngestError(
                f"{name}: not valid UTF-8 ({utf8_error.reason} at byte {utf8_error.start}) "
                "nor GBK/GB18030; save the file as UTF-8 and index it again") from None


def read_issue(path: str | Path) -> str:
    """Return the text of one issue file, or raise IngestError naming the file and the reason.

    Example:
        >>> text = read_issue("seeds/000_54cc604d7de70b0b.txt")
        >>> "兰岭园" in text
        True
    """
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; "
                          f"supported types are {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise IngestError(f"{name}: {size} bytes is over the {MAX_FILE_BYTES} byte limit; "
                              "split the issue into smaller files")
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(f"{path}: file not found; check the path") from None
    except IsADirectoryError:
        raise IngestError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise IngestError(f"{path}: permission denied; make the file readable") from None
    if not data.strip():
        raise IngestError(f"{name}: the file is empty; nothing to index")
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not utf16 and (b"\x00" in data or
                      sum(b in _CONTROL for b in data[:4096]) > 8):
        raise IngestError(f"{name}: looks like a binary file, not text; "
                          "export the issue as .txt or .md first")
    text = _decode(data, name).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(f"{name}: the file holds only whitespace; nothing to index")
    return text


def find_issue_files(path: str | Path) -> list[Path]:
    """The issue files under a path: the file itself, or the supported files in a folder."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*")
                      if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                      and not p.name.startswith("."))
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder; check the path")
    return [path]
