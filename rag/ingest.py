"""Read an issue file into text plus metadata.

.txt/.md in UTF-8, UTF-16 (with BOM) or GBK/GB18030 are read here; .pdf (text layer, or OCR),
.docx and .html/.htm by :mod:`rag.pdf`, :mod:`rag.word` and :mod:`rag.webpage`. Every reader
returns a :class:`Document`, or raises :class:`IngestError` naming the file and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .clean import Layout
from .errors import IngestError
from .meta import IssueMeta, meta_from_lines, meta_from_name

__all__ = ["SUPPORTED_SUFFIXES", "MAX_FILE_BYTES", "Document", "read_document", "read_issue",
           "find_issue_files", "paragraphs_document"]

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".docx", ".html", ".htm")
# Per kind: a text file, a PDF (pages are also capped in rag.pdf), a Word file (its unpacked
# size is capped in rag.word), a web page.
MAX_FILE_BYTES = 20 * 1024 * 1024
_MAX_BYTES = {".pdf": 100 * 1024 * 1024, ".docx": 50 * 1024 * 1024, ".html": 10 * 1024 * 1024,
              ".htm": 10 * 1024 * 1024}
_HEAD_LINES = 30   # metadata lines stand at the top of an issue


@dataclass(frozen=True)
class Document:
    """One issue file as read: its text (in the seed issues' line conventions), what the
    file says about the issue, and, for a paged file, its layout."""

    text: str
    meta: IssueMeta
    layout: Layout | None = None
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


def paragraphs_document(lines: list[str], meta: IssueMeta, captions: set[int] = frozenset()) -> Document:
    """A Document of paragraphs one blank line apart; ``captions`` are the indexes of caption lines."""
    text, starts = "", set()
    for k, line in enumerate(lines):
        if k:
            text += "\n\n"
        if k in captions:
            starts.add(len(text))
        text += line
    return Document(text + "\n", meta, Layout(captions=frozenset(starts)) if starts else None)


def _read_bytes(path: Path) -> bytes:
    name = path.name
    limit = _MAX_BYTES.get(path.suffix.lower(), MAX_FILE_BYTES)
    try:
        size = path.stat().st_size
        if size > limit:
            raise IngestError(f"{name}: {size} bytes is over the {limit} byte limit for "
                              f"{path.suffix.lower()} files; split the issue into smaller files")
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(f"{path}: file not found; check the path") from None
    except IsADirectoryError:
        raise IngestError(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise IngestError(f"{path}: permission denied; make the file readable") from None
    if not data.strip():
        raise IngestError(f"{name}: the file is empty; nothing to index")
    return data


def _text_file(data: bytes, name: str) -> str:
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff"))
    if not utf16 and (b"\x00" in data or
                      sum(b in _CONTROL for b in data[:4096]) > 8):
        raise IngestError(f"{name}: looks like a binary file, not text; "
                          "export the issue as .txt or .md first")
    text = _decode(data, name).replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(f"{name}: the file holds only whitespace; nothing to index")
    return text


def read_document(path: str | Path, on_ocr_page: Callable[[int, int], None] | None = None) -> Document:
    """Read one issue file of any supported kind into a :class:`Document`.

    ``on_ocr_page(k, n)`` is told before OCR reads the k-th of a scan's n pages (about 5 s each).

    Metadata the file states (in its text, page headers or properties) wins over what its
    name says ("2021-03.pdf").

    Example:
        >>> doc = read_document("seeds/003_f5fd1caccfd41a06.txt")
        >>> doc.meta.paper
        '凉城社区晨报'
    """
    path = Path(path)
    name, suffix = path.name, path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"{name}: unsupported file type {path.suffix or '(none)'!r}; "
                          f"supported types are {', '.join(SUPPORTED_SUFFIXES)}")
    data = _read_bytes(path)
    if suffix == ".pdf":
        from .pdf import read_pdf
        doc = read_pdf(data, name, on_ocr_page)
    elif suffix == ".docx":
        from .word import read_docx
        doc = read_docx(data, name)
    elif suffix in (".html", ".htm"):
        from .webpage import read_html
        doc = read_html(data, name)
    else:
        text = _text_file(data, name)
        doc = Document(text, meta_from_lines(text.splitlines()[:_HEAD_LINES]))
    if not doc.text.strip():
        raise IngestError(f"{name}: no text found in the file; nothing to index")
    return Document(doc.text, doc.meta.filled_from(meta_from_name(name)), doc.layout)


def read_issue(path: str | Path) -> str:
    """Return the text of one issue file, or raise IngestError naming the file and the reason.

    Example:
        >>> text = read_issue("seeds/000_54cc604d7de70b0b.txt")
        >>> "兰岭园" in text
        True
    """
    return read_document(path).text


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
