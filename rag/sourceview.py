"""Show a cited source so a reader can check it: the PDF page with the quote highlighted, or
the article's text around the quote."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import IngestError
from .index import Index

__all__ = ["SourceView", "view_source", "render_page"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceView:
    """What to show for one citation.

    Attributes:
        source: the issue file's name; title: the cited article's title.
        page: the 1-based page shown (PDF), else None.
        image: the page as PNG with the quote highlighted (PDF), else None.
        text: the cited article's text, paragraphs separated by ``\\n`` ("" if not found).
        quote: the quoted sentence, to highlight in ``text``.
        meta: the issue's metadata from the manifest (paper, date, issue, url, page_issues…).
    """

    source: str
    title: str
    page: int | None
    image: bytes | None
    text: str
    quote: str
    meta: dict


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _merge(texts: list[str]) -> str:
    """Join consecutive chunks of one article, dropping the sentences they repeat (the overlap)."""
    out = ""
    for t in texts:
        k = min(len(out), len(t))
        while k and not out.endswith(t[:k]):
            k -= 1
        out += ("" if k or not out else "\n") + t[k:]
    return out


def view_source(index: Index, source: str, quote: str, page: int | None = None) -> SourceView:
    """The cited article (and, for a PDF, the page image with ``quote`` highlighted).

    Raises:
        IngestError: ``source`` is not in the index, or its file can no longer be read.

    Example:
        >>> view = view_source(Index.load("index"), "000_54cc604d7de70b0b.txt", "新增了7个停车位")  # doctest: +SKIP
        >>> view.title                                                                              # doctest: +SKIP
        '找准症结所在 聚焦问题整改 曹杨这个“套娃”小区化解停车难题'
    """
    entry = index.manifest.get("files", {}).get(source)
    if entry is None:
        raise IngestError(f"{source}: not in this index; ask again to get current citations")
    chunks = [c for c in index.chunks if c.source == source]
    wanted = _squeeze(quote)
    hit = next((c for c in chunks if wanted and wanted in _squeeze(c.text)), None)
    article = [c for c in chunks if hit is not None and c.article == hit.article]
    text = _merge([c.text for c in sorted(article, key=lambda c: c.position)])
    image = None
    path = Path(entry["path"])
    if path.suffix.lower() == ".pdf" and page:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise IngestError(f"{source}: cannot read {path} ({e.strerror}); index the file again") from None
        image = render_page(data, source, page, quote)
    return SourceView(source, hit.title if hit else "", page, image, text, quote, entry.get("meta", {}))


def _find(glyphs: list, quote: str) -> list:
    """The (glyph, row) pairs that spell ``quote`` (whitespace ignored); failing that, its clauses."""
    text = "".join(g.ch for g, _ in glyphs)
    whole = _squeeze(quote)
    out = []
    for piece in [whole, *re.split(r"[，,、；;：:。！？!?]", whole)]:
        at = text.find(piece) if len(piece) >= 4 or piece == whole else -1
        if at >= 0:
            out += glyphs[at:at + len(piece)]
            if piece == whole:
                break
    return out


def render_page(data: bytes, name: str, page_no: int, quote: str = "", scale: float = 1.5) -> bytes:
    """Render a 1-based PDF page as PNG with ``quote`` highlighted where it stands (pypdfium2).

    Raises:
        IngestError: not a readable PDF, or no such page.

    Example:
        >>> png = render_page(open("issue.pdf", "rb").read(), "issue.pdf", 2, "新增了7个停车位")  # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    from .pdf import open_pdf, reading_glyphs

    pdf = open_pdf(data, name)
    if not 1 <= page_no <= len(pdf):
        raise IngestError(f"{name}: no page {page_no}; the PDF has {len(pdf)} pages")
    page = pdf[page_no - 1]
    image = page.render(scale=scale).to_pil().convert("RGBA")
    marks = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(marks)
    rows: dict[int, list] = {}
    for g, row in _find(reading_glyphs(page), quote) if quote.strip() else []:
        rows.setdefault(row, []).append(g)
    for row in rows.values():   # one box per row of the quote
        box = (min(g.x0 for g in row) * scale - 2, min(g.top for g in row) * scale - 2,
               max(g.x1 for g in row) * scale + 2, max(g.bottom for g in row) * scale + 2)
        draw.rectangle(box, fill=(255, 214, 0, 110), outline=(230, 120, 0, 255), width=2)
    out = io.BytesIO()
    Image.alpha_composite(image, marks).convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()
