"""Read a PDF's text layer in reading order.

Printed community papers set text in two to four columns, with a running head, a page
number, headlines across columns and photo captions inside a column. The characters are
taken with their boxes (pypdfium2) and ordered by the page's geometry, never by the content
stream's order nor by sorting lines across the page (which interleaves columns):

* the running head and the page number are rows at the top and bottom edges, set apart
  by a gap and looking like one (a paper's name, a date, 第2版, a number); they are dropped
  from the text and read as metadata;
* the body is cut recursively along empty strips (an XY cut): at column gutters first,
  else across the page at its widest empty band (under a headline, around a photo);
* in each piece, rows become paragraphs (a short row or an indent ends one); type larger
  than the body's is a title (written as a ``#`` heading), smaller is a caption.

The text follows the seed issues' conventions (a blank line between paragraphs, three
between columns and pages), so :mod:`rag.clean` repairs it the same way, helped by a
:class:`~rag.clean.Layout` telling which rows ran on into the next column and which were
captions.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from . import ocr
from .clean import END_PUNCT, HEADING_MAX, Layout
from .errors import IngestError
from .ingest import Document
from .meta import IssueMeta, meta_from_lines

__all__ = ["read_pdf", "open_pdf", "reading_glyphs", "MAX_PAGES"]

log = logging.getLogger(__name__)

MAX_PAGES = 300          # a monthly paper has 4-16; thousands of pages are refused, not read
MAX_CHARS = 3_000_000    # characters in the whole text layer
_BANNER = re.compile(r"^【[^】]{1,20}】$")
_PAGE_NUMBER = re.compile(r"^[-—–－一·\s]*(第\s*)?\d{1,4}\s*(页|頁|版)?[-—–－一·\s]*$|^page\s*\d+", re.I)  # 一: OCR's —
_PLACEHOLDER = {"untitled", "anonymous", "unspecified", "unknown"}
_LAYOUT_GAP, _PARAGRAPH_GAP = "\n\n\n\n", "\n\n"


@dataclass(frozen=True)
class _Glyph:
    ch: str
    x0: float
    x1: float
    top: float      # from the page's top edge, downwards
    bottom: float
    size: float


def _glyphs(page: pdfium.PdfPage) -> list[_Glyph]:
    """The page's characters with their boxes, top-down; generated spaces and breaks left out."""
    height = page.get_height()
    textpage = page.get_textpage()
    out = []
    for i in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        if code in (0, 0xFFFE, 0xFFFF) or pdfium_c.FPDFText_IsGenerated(textpage, i) == 1:
            continue
        ch = chr(code)
        if ch in "\r\n\t\x00":
            continue
        if 0x2F00 <= code <= 0x2FDF or 0xF900 <= code <= 0xFAFF:   # Kangxi radicals, compatibility forms
            ch = unicodedata.normalize("NFKC", ch)
        left, bottom, right, top = textpage.get_charbox(i, loose=True)
        out.append(_Glyph(ch, left, right, height - top, height - bottom,
                          round(pdfium_c.FPDFText_GetFontSize(textpage, i), 1)))
    return out


def _rows(glyphs: list[_Glyph]) -> list[list[_Glyph]]:
    """Group glyphs into rows by vertical overlap, each row sorted left to right."""
    rows: list[list[_Glyph]] = []
    for g in sorted(glyphs, key=lambda g: (g.top + g.bottom) / 2):
        mid = (g.top + g.bottom) / 2
        if rows and rows[-1][0].top - 0.1 <= mid <= rows[-1][0].bottom + 0.1 and not g.ch.isspace() \
                or rows and g.ch.isspace() and abs(mid - (rows[-1][0].top + rows[-1][0].bottom) / 2) < 2:
            rows[-1].append(g)
        else:
            rows.append([g])
    return [sorted(r, key=lambda g: g.x0) for r in rows]


def _row_text(row: list[_Glyph]) -> str:
    out, prev = [], None
    for g in row:
        if prev is not None and g.x0 - prev.x1 > 0.8 * g.size and not (g.ch.isspace() or prev.ch.isspace()):
            out.append(" ")
        out.append(g.ch)
        prev = g
    return "".join(out).strip()


def _ink(glyphs: list[_Glyph]) -> list[_Glyph]:
    return [g for g in glyphs if not g.ch.isspace()]


def _gaps(spans: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """Empty stretches at least ``min_gap`` wide between the merged ``spans``."""
    gaps, end = [], None
    for a, b in sorted(spans):
        if end is not None and a - end >= min_gap:
            gaps.append((end, a))
        end = b if end is None else max(end, b)
    return gaps


def _body_size(glyphs: list[_Glyph]) -> float:
    sizes = [g.size for g in _ink(glyphs)]
    return statistics.mode(sizes) if sizes else 10.0


def _running_rows(rows: list[list[_Glyph]], height: float, body: float) -> tuple[list[str], set[int]]:
    """Texts and indexes of the running head and the page number: up to two rows at the top and
    the bottom edge, in body type or smaller, set apart from the next row inward by a gap, and
    reading like one (a paper's name, a date, 第2版, a page number)."""
    found, texts = set(), []
    n = len(rows)
    for order, at_edge in ((list(range(n)), lambda r: r[0].bottom < 0.12 * height),
                           (list(range(n - 1, -1, -1)), lambda r: r[0].top > 0.88 * height)):
        for i, j in zip(order[:2], [*order[1:3], None]):
            row, text = rows[i], _row_text(rows[i])
            gap = float("inf") if j is None else \
                min(abs(rows[j][0].top - row[0].bottom), abs(row[0].top - rows[j][0].bottom))
            m = meta_from_lines([text])
            looks = bool(_PAGE_NUMBER.match(text) or m.paper or m.date or m.issue)
            if not (at_edge(row) and gap >= 0.6 * (row[0].bottom - row[0].top) and looks
                    and max(g.size for g in row) <= 1.1 * body):
                break
            found.add(i)
            texts.append(text)
    return texts, found


def _order(glyphs: list[_Glyph], body: float, left: float, right: float,
           new_column: bool = True) -> list[tuple[bool, float, float, list[_Glyph]]]:
    """Cut the glyphs into pieces in reading order: (starts a column?, left, right, glyphs).

    Wide empty bands across the whole piece come first (between articles, under a headline,
    around a photo set across the columns); then column gutters, each column read to its end.
    """
    ink = _ink(glyphs)
    row_gaps = _gaps([(g.top, g.bottom) for g in ink], 0.01)
    if not ink or not row_gaps:
        return [(new_column, left, right, glyphs)]
    widths = sorted(b - a for a, b in row_gaps)
    line = widths[len(widths) // 4]   # the usual gap between the rows of a paragraph
    bands = [((a + b) / 2, b - a) for a, b in row_gaps if b - a >= max(1.0 * body, 2.0 * line)]
    columns = _gaps([(g.x0, g.x1) for g in ink], 1.0 * body)
    if not bands and not columns and widths[-1] >= 1.5 * line:
        # something set across the columns (a headline) hides the gutter: cut under it
        bands = [((a + b) / 2, b - a) for a, b in row_gaps if b - a == widths[-1]]
    if bands:   # (middle, width) of each empty band across the piece
        edges = [(float("-inf"), 0.0), *bands, (float("inf"), 0.0)]
        out = []
        for (lo, width), (hi, _) in zip(edges, edges[1:]):
            part = [g for g in glyphs if lo <= (g.top + g.bottom) / 2 < hi]
            # after a wide band (a photo, another article) the text breaks as at a column end
            starts = new_column if lo == float("-inf") else width >= 2 * body
            out += _order(part, body, left, right, starts)
        return out
    if not columns:
        return [(new_column, left, right, glyphs)]
    cuts = [(a + b) / 2 for a, b in columns]
    out = []
    for lo, hi in zip([float("-inf"), *cuts], [*cuts, float("inf")]):
        part = [g for g in glyphs if lo <= (g.x0 + g.x1) / 2 < hi]
        xs = _ink(part)
        if xs:
            out += _order(part, body, min(g.x0 for g in xs), max(g.x1 for g in xs), True)
    return out


def _ends(text: str) -> bool:
    return text.rstrip().rstrip("”’」』）)》").endswith(tuple(END_PUNCT))


class _Para(NamedTuple):
    kind: str        # text, title, caption or banner
    text: str
    full: bool       # its last row fills the column
    indented: bool   # its first row is indented
    rows: int


def _paragraphs(glyphs: list[_Glyph], body: float, left: float, right: float) -> list[_Para]:
    """A piece's rows as paragraphs: a row short of the column's right edge, an indent, a gap,
    or a change of type size ends one."""
    paras: list[list] = []   # [kind, text, size, last row's ink, first row indented, rows, ends in a space]
    for row in _rows(glyphs):
        ink = _ink(row)
        if not ink:
            continue
        text = _row_text(row)
        size = statistics.median(g.size for g in ink)
        kind = ("banner" if _BANNER.match(text) else "title" if size >= 1.2 * body
                else "caption" if size <= 0.88 * body else "text")
        indented = ink[0].x0 > left + 1.0 * size
        if paras:
            pk, ptext, psize, prow, pindent, nrows, space = paras[-1]
            gap = ink[0].top - max(g.bottom for g in prow)
            # a wrapped headline's rows may differ by 10% in size when read by OCR
            close = abs(psize - size) < (0.12 * max(psize, size) if kind == "title" else 0.1 * body)
            same = pk == kind and close and gap < 0.9 * size and kind != "banner"
            if same and kind == "text":
                full = ink[-1].x1 >= right - 1.5 * size
                same = prow[-1].x1 >= right - 1.5 * size and not indented and \
                    not (_ends(ptext) and not full and not _ends(text))   # "…项目。" then a sub-heading
            if same:
                latin = ptext[-1:].isascii() and ptext[-1:].isalnum() and text[:1].isascii() and text[:1].isalnum()
                joiner = " " if space or latin else ""   # a title wrapped at its space keeps it
                paras[-1] = [pk, ptext + joiner + text, psize, ink, pindent, nrows + 1, row[-1].ch.isspace()]
                continue
        paras.append([kind, text, size, ink, indented, 1, row[-1].ch.isspace()])
    return [_Para(k, t, k == "text" and r[-1].x1 >= right - 1.5 * s, i, n) for k, t, s, r, i, n, _ in paras]


def _runs_on(para: _Para, nxt: _Para | None) -> bool:
    """Does the last paragraph of a column go on at the top of the next one?

    Its last row fills the column, and either its sentence is unfinished or the next column
    opens with text that is not indented (a new paragraph would be) and reads like the rest of
    a paragraph, not like a sub-heading (it ends a sentence, or is long).
    """
    if not para.full:
        return False
    if not _ends(para.text):
        return True
    return nxt is not None and nxt.kind == "text" and not nxt.indented and \
        (_ends(nxt.text) or len(nxt.text) > HEADING_MAX)


def _ocr_glyphs(page: pdfium.PdfPage, reader: ocr.Reader) -> list[_Glyph]:
    """A scanned page's characters from OCR lines, each line's width shared out among its
    characters (a CJK character is twice as wide as a Latin letter or a digit)."""
    out = []
    for line in reader.lines(page):
        widths = [0.5 if unicodedata.east_asian_width(ch) in "NaH" else 1.0 for ch in line.text]
        step = (line.x1 - line.x0) / (sum(widths) or 1.0)
        # the type size: the pitch of a CJK character, or the box's height if smaller (a row of
        # narrow digits such as a page number "-2-"); half-point steps, so the body size is a mode
        size = round(min(step, line.bottom - line.top) * 2) / 2
        x = line.x0
        for ch, w in zip(line.text, widths):
            if not ch.isspace():
                out.append(_Glyph(ch, x, x + w * step, line.top, line.bottom, size))
            x += w * step
    return out


def _page_pieces(page: pdfium.PdfPage, glyphs: list[_Glyph]) -> tuple[list[str], list, float]:
    body = _body_size(glyphs)
    rows = _rows(glyphs)
    heads, drop = _running_rows(rows, page.get_height(), body)
    kept = [g for i, r in enumerate(rows) if i not in drop for g in r]
    ink = _ink(kept)
    if not ink:
        return heads, [], body
    return heads, _order(kept, body, min(g.x0 for g in ink), max(g.x1 for g in ink)), body


def open_pdf(data: bytes, name: str) -> pdfium.PdfDocument:
    """Open a PDF, or raise IngestError if it is unreadable or has too many pages."""
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        raise IngestError(f"{name}: not a readable PDF ({e}); export it again as PDF") from None
    if len(pdf) > MAX_PAGES:
        raise IngestError(f"{name}: {len(pdf)} pages is over the limit of {MAX_PAGES} pages per file; "
                          "split the PDF into issues")
    return pdf


def read_pdf(data: bytes, name: str, on_ocr_page=None) -> Document:
    """Read a PDF's text layer: text in reading order, page offsets, running heads as metadata.
    Pages without one (a scan) are read by OCR; ``on_ocr_page(k, n)`` is told before each.

    Raises:
        IngestError: not a PDF, too many pages or characters, or no text layer (a scan).
    """
    pdf = open_pdf(data, name)
    page_glyphs = [_glyphs(pdf[n]) for n in range(len(pdf))]
    scans = [n for n, g in enumerate(page_glyphs) if not _ink(g)]   # no text layer: a scan, or a photo
    no_ocr = ocr.why_unavailable() if scans else ""
    ocr_ran = bool(scans) and not no_ocr
    if ocr_ran:
        if len(scans) > ocr.MAX_OCR_PAGES:
            raise IngestError(f"{name}: {len(scans)} scanned pages (no text layer) is over the OCR limit of "
                              f"{ocr.MAX_OCR_PAGES} pages per file; split the PDF, or export it with text")
        log.info("%s: reading %d scanned page(s) by OCR (about 5 s a page)", name, len(scans))
        with ocr.Reader() as reader:
            for k, n in enumerate(scans, start=1):
                if on_ocr_page:
                    on_ocr_page(k, len(scans))
                try:
                    page_glyphs[n] = _ocr_glyphs(pdf[n], reader)
                except ocr.OcrFailed as e:
                    raise IngestError(f"{name}: OCR failed on page {n + 1} ({e}); the index was not "
                                      "changed; add the issue as a PDF with text or as .txt") from None
    parts: list[str] = []
    pos, pages, runs_on, captions, labels = 0, [], set(), set(), []
    head_meta = IssueMeta()
    last: tuple[int, _Para] | None = None   # where the previous column's last paragraph starts
    blank: list[int] = []                   # pages without a text layer (a scanned page, a photo)
    for n in range(len(pdf)):
        heads, pieces, body = _page_pieces(pdf[n], page_glyphs[n])
        page_meta = meta_from_lines(heads)
        head_meta = head_meta.filled_from(page_meta)
        labels.append(page_meta.issue)
        pages.append(pos)
        first_on_page = True
        if not pieces:
            blank.append(n + 1)
        for new_column, left, right, glyphs in pieces:
            paras = _paragraphs(glyphs, body, left, right)
            if last is not None and paras:
                nxt = next((p for p in paras if p.kind != "caption"), None)
                if _runs_on(last[1], nxt):   # its sentence or paragraph goes on here
                    runs_on.add(last[0])
            for k, para in enumerate(paras):
                sep = "" if not parts else _LAYOUT_GAP if (first_on_page or new_column and k == 0) \
                    else _PARAGRAPH_GAP
                parts.append(sep)
                pos += len(sep)
                if n and first_on_page:
                    pages[-1] = pos
                first_on_page = False
                if para.kind == "caption":
                    captions.add(pos)
                line = f"# {para.text}" if para.kind == "title" else para.text
                parts.append(line)
                if k == len(paras) - 1:
                    last = (pos, para)
                pos += len(line)
        if pos > MAX_CHARS:
            raise IngestError(f"{name}: more than {MAX_CHARS} characters of text; split the PDF into issues")
    text = "".join(parts)
    if not text.strip():
        why = " and OCR found no text on its pages" if ocr_ran else f" and {no_ocr}" if no_ocr else ""
        raise IngestError(f"{name}: no text layer (a scanned image?): the PDF holds no characters to read"
                          f"{why}; export it again with text (a searchable PDF), or add the issue as .txt")
    if blank:
        log.warning("%s: pages %s have no text%s and are left out", name, blank, ", even by OCR," if ocr_ran else "")
    read_by_ocr = tuple(n + 1 for n in scans if n + 1 not in blank) if ocr_ran else ()
    if read_by_ocr:
        log.warning("%s: pages %s are scans read by OCR; check quotes from them against the page image",
                    name, list(read_by_ocr))
    info = {k: v.strip() for k, v in pdf.get_metadata_dict().items()
            if isinstance(v, str) and v.strip() and v.strip().lower() not in _PLACEHOLDER}
    stated = meta_from_lines([info.get("Title", ""), info.get("Subject", "")])
    meta = head_meta.filled_from(stated)
    meta = IssueMeta(meta.paper, meta.date, meta.issue if not any(labels) else "", "",
                     info.get("Title", ""), info.get("Author", ""), tuple(labels), read_by_ocr)
    return Document(text, meta, Layout(tuple(pages), frozenset(runs_on), frozenset(captions)))


def reading_glyphs(page: pdfium.PdfPage) -> list[tuple[_Glyph, int]]:
    """The page's body glyphs (no spaces) in the order their text is read, with their row number
    (a scanned page's from OCR, when it can run)."""
    glyphs = _glyphs(page)
    if not _ink(glyphs) and not ocr.why_unavailable():
        with ocr.Reader() as reader:
            try:
                glyphs = _ocr_glyphs(page, reader)
            except ocr.OcrFailed as e:
                log.warning("OCR of a scanned page failed (%s): it is shown without a highlight", e)
    _, pieces, _ = _page_pieces(page, glyphs)
    rows = [row for _, _, _, glyphs in pieces for row in _rows(glyphs)]
    return [(g, k) for k, row in enumerate(rows) for g in _ink(row)]
