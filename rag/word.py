"""Read a Word (.docx) issue: headings become titles, paragraphs and tables text, in document order.

A .docx is a zip; its unpacked size is checked before anything is parsed, so a zip bomb is
refused instead of filling memory.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile

from .errors import IngestError
from .ingest import Document, paragraphs_document
from .meta import IssueMeta, meta_from_lines

__all__ = ["read_docx", "MAX_UNPACKED_BYTES"]

log = logging.getLogger(__name__)

MAX_UNPACKED_BYTES = 200 * 1024 * 1024   # all parts together, unpacked
MAX_XML_BYTES = 50 * 1024 * 1024         # one XML part (the document's text lives in one)
MAX_RATIO = 200                          # unpacked / packed, for any part over 1 MB
_HEADING = re.compile(r"^(?:Heading|标题)\s*(\d)$", re.I)
_CAPTION = ("caption", "题注")
_PLACEHOLDER = {"python-docx", "administrator", "user", "microsoft office user", "unknown"}


def _check_zip(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except zipfile.BadZipFile:
        raise IngestError(f"{name}: not a Word .docx file (an old .doc, or damaged?); "
                          "open it in Word or WPS and save it as .docx") from None
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES or len(infos) > 10_000:
        raise IngestError(f"{name}: unpacks to {total} bytes in {len(infos)} parts, over the limit of "
                          f"{MAX_UNPACKED_BYTES} bytes; it looks like a zip bomb, not an issue")
    for i in infos:
        too_big = i.filename.endswith(".xml") and i.file_size > MAX_XML_BYTES
        if too_big or i.file_size > 1024 * 1024 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise IngestError(f"{name}: part {i.filename} unpacks to {i.file_size} bytes from "
                              f"{i.compress_size}; it looks like a zip bomb, not an issue")


def _style_level(paragraph) -> int:
    """1 for a title or first-level heading, 2 for the second level, 0 otherwise."""
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.lower() in ("title", "标题"):
        return 1
    m = _HEADING.match(style)
    return int(m.group(1)) if m and int(m.group(1)) <= 2 else 0


def _table_rows(table) -> list[str]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:   # merged cells repeat: keep each once
            text = " ".join(cell.text.split())
            if text and id(cell._tc) not in seen:
                cells.append(text)
            seen.add(id(cell._tc))
        if cells:
            rows.append(" ".join(cells))
    return rows


def read_docx(data: bytes, name: str) -> Document:
    """Read a .docx: Title / Heading 1-2 paragraphs as ``#`` / ``##`` titles, other paragraphs
    and each table row as lines, one blank line apart, in document order.

    Raises:
        IngestError: not a .docx, a zip bomb, or damaged.
    """
    _check_zip(data, name)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        d = docx.Document(io.BytesIO(data))
    except (KeyError, ValueError, zipfile.BadZipFile) as e:
        raise IngestError(f"{name}: not a readable Word document ({e}); save it again as .docx") from None
    lines: list[str] = []
    captions: set[int] = set()
    for child in d.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, d)
            text = p.text.replace("\t", " ").strip()
            if text:
                level = _style_level(p)
                if p.style is not None and (p.style.name or "").lower() in _CAPTION:
                    captions.add(len(lines))
                lines.append(f"{'#' * level} {text}" if level and not text.startswith("【") else text)
        elif tag == "tbl":
            lines += _table_rows(Table(child, d))
    props = d.core_properties
    stated = meta_from_lines([props.title or "", props.subject or "", props.keywords or ""])
    meta = meta_from_lines(lines[:30]).filled_from(stated)
    author = props.author if (props.author or "").strip().lower() not in _PLACEHOLDER else ""
    meta = IssueMeta(meta.paper, meta.date, meta.issue, meta.url, props.title or "", author or "")
    return paragraphs_document(lines, meta, captions)
