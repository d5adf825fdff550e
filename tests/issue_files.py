"""Build real-looking issue files from a seed issue: a printed two-column PDF, a Word file and a
saved WeChat page. The seed's own articles (found by the pipeline on its .txt) give the layout:
titles set large across both columns, 【section】 banners, sub-headings, and the photo captions
that cut a sentence, placed as a photo box inside the column where the sentence was cut.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from rag.clean import clean_text
from rag.ingest import read_issue
from rag.segment import Article, segment_issue

PAGE_W, PAGE_H = 595.0, 842.0
MARGIN, GUTTER = 50.0, 25.0
BODY, LEADING = 10.5, 16.0
TITLE, TITLE_LEADING = 18.0, 24.0
CAPTION = 8.0
TOP, BOTTOM = 770.0, 60.0
HEAD_SPACE = 5.0       # extra space above a sub-heading
PHOTO_ROWS = 5
HEADER = "凉城社区晨报  2021年3月  第{n}版"


def seed_articles(seed: Path, tokenizer) -> list[Article]:
    return segment_issue(clean_text(read_issue(seed), tokenizer.words), seed.name)


@dataclass
class _Row:
    kind: str          # text, indent, heading, photo, caption
    text: str = ""
    justify: bool = False


def _width(text: str, size: float = BODY) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth
    return stringWidth(text, "STSong-Light", size)


def _col_w(columns: int) -> float:
    return (PAGE_W - 2 * MARGIN - (columns - 1) * GUTTER) / columns


def _wrap(text: str, first_indent: bool, col_w: float) -> list[_Row]:
    """Rows of a paragraph as a page sets them: filled to the column width, first row indented."""
    rows, room, line = [], col_w - (2 * BODY if first_indent else 0), ""
    kind = "indent" if first_indent else "text"
    for ch in text:
        if line and _width(line + ch) > room:
            rows.append(_Row(kind, line, justify=True))
            line, room, kind = "", col_w, "text"
        line += ch
    if line:
        rows.append(_Row(kind, line))
    return rows


def _body_rows(article: Article, col_w: float) -> list[_Row]:
    """The article's body as column rows; a caption that cut a sentence becomes a photo there."""
    rows: list[_Row] = []
    blocks = list(article.blocks)
    k = 0
    while k < len(blocks):
        b = blocks[k]
        k += 1
        if b.kind == "heading":
            rows += [_Row("heading", r.text) for r in _wrap(b.text, False, col_w)]
        elif b.kind == "caption":
            rows += [_Row("photo")] * PHOTO_ROWS + [_Row("caption", b.text)]
        elif b.kind == "text":
            captions = []
            while k < len(blocks) and blocks[k].kind == "caption" and b.cuts:
                captions.append(blocks[k].text)
                k += 1
            cut = b.cuts[0] if b.cuts and captions else len(b.text)
            para = _wrap(b.text, True, col_w)
            # the photo goes in after the row holding the cut, as a page would set it
            upto, seen = 0, 0
            for upto, row in enumerate(para, start=1):
                seen += len(row.text)
                if seen >= cut:
                    break
            rows += para[:upto]
            for c in captions:
                rows += [_Row("photo")] * PHOTO_ROWS + [_Row("caption", c)]
            rows += para[upto:]
    return rows


class _Canvas:
    """Collects drawing operations so they can be replayed in any order."""

    def __init__(self) -> None:
        self.pages: list[list[tuple]] = [[]]

    def text(self, x: float, y: float, size: float, s: str, width: float = 0.0) -> None:
        """Draw ``s``; with ``width``, spread its characters to fill that width (justified)."""
        space = (width - _width(s, size)) / (len(s) - 1) if width and len(s) > 1 else 0.0
        self.pages[-1].append(("text", x, y, size, s, space))

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self.pages[-1].append(("rect", x, y, w, h))

    def new_page(self) -> None:
        self.pages.append([])


def _layout(articles: list[Article], canvas: _Canvas, columns: int) -> None:
    col_w = _col_w(columns)
    y = TOP
    section = None

    def new_page():
        nonlocal y
        canvas.new_page()
        y = TOP

    def rows_left() -> int:
        return int((y - BOTTOM) // LEADING)

    for art in articles:
        if rows_left() < 8:
            new_page()
        if art.section != section:
            section = art.section
            canvas.text(MARGIN, y - 14, 14, f"【{section}】")
            y -= 24
        title_rows, line = [], ""
        for ch in art.title:
            if line and _width(line + ch, TITLE) > PAGE_W - 2 * MARGIN:
                title_rows.append(line)
                line = ""
            line += ch
        for t in title_rows + [line]:
            canvas.text(MARGIN, y - TITLE, TITLE, t)
            y -= TITLE_LEADING
        y -= 8
        rows = _body_rows(art, col_w)
        while rows:
            avail = rows_left() - 2   # room for the space above sub-headings
            per_col = avail if len(rows) > columns * avail else -(-len(rows) // columns)
            for col in range(columns):
                x = MARGIN + col * (col_w + GUTTER)
                take = rows[:per_col]
                # keep a sub-heading with the text under it, and a photo with its caption
                keep = len(take)
                while keep and take[keep - 1].kind in ("heading", "photo") and len(rows) > len(take):
                    keep -= 1
                take = take[:keep] if keep else rows[:len(take) + 1]
                rows = rows[len(take):]
                _draw_column(canvas, x, y, take, col_w)
            if rows:
                new_page()
            else:
                y -= per_col * LEADING + 14


def _draw_column(canvas: _Canvas, x: float, y: float, rows: list[_Row], col_w: float) -> None:
    """Set rows down a column; a sub-heading gets a little space above it, as papers set it."""
    k, shift = 0, 0.0
    while k < len(rows):
        row = rows[k]
        if row.kind == "heading" and k and rows[k - 1].kind != "heading":
            shift += HEAD_SPACE
        base = y - (k + 1) * LEADING + 4 - shift
        if row.kind == "photo":
            n = 0
            while k + n < len(rows) and rows[k + n].kind == "photo":
                n += 1
            canvas.rect(x + 10, y - (k + n) * LEADING + 3 - shift, col_w - 20, n * LEADING - 6)
            k += n
            continue
        if row.kind == "caption":
            canvas.text(x + 12, base + 4, CAPTION, row.text)
        elif row.kind == "indent":
            canvas.text(x + 2 * BODY, base, BODY, row.text, (col_w - 2 * BODY) if row.justify else 0)
        else:
            canvas.text(x, base, BODY, row.text, col_w if row.justify else 0)
        k += 1


def build_pdf(articles: list[Article], path: Path, out_of_order: bool = False, columns: int = 2) -> Path:
    """A printed issue in ``columns`` columns; ``out_of_order`` draws every page's content stream
    backwards (page number, then the right column bottom-up, then the left, the title last)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas as rl_canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    ops = _Canvas()
    _layout(articles, ops, columns)
    c = rl_canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H))
    c.setTitle("凉城社区晨报 2021年3月")
    for n, page in enumerate(ops.pages, start=1):
        page = [("text", MARGIN, 805, 9, HEADER.format(n=n), 0.0), ("line",),
                *page, ("text", PAGE_W / 2 - 12, 30, 9, f"— {n} —", 0.0)]
        for op in (reversed(page) if out_of_order else page):
            if op[0] == "text":
                c.setFont("STSong-Light", op[3])
                c.drawString(op[1], op[2], op[4], charSpace=op[5])
            elif op[0] == "rect":
                c.rect(*op[1:], stroke=1, fill=0)
            else:
                c.line(MARGIN, 798, PAGE_W - MARGIN, 798)
        c.showPage()
    c.save()
    return path


def build_scan(pdf_path: Path, path: Path, dpi: int = 200, worn: bool = False) -> Path:
    """A scanned issue: each page of ``pdf_path`` as a grey image only (no text layer), as a
    scanner writes it; ``worn``: a poor scan (150 dpi, turned 0.6°, blurred, grey paper, noise)."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    dpi = 150 if worn else dpi
    rng = np.random.default_rng(0)
    pdf = pdfium.PdfDocument(str(pdf_path))
    images = []
    for n in range(len(pdf)):
        image = pdf[n].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        if worn:
            image = image.rotate(0.6, resample=Image.BICUBIC, fillcolor=235).filter(ImageFilter.GaussianBlur(0.6))
            grey = np.asarray(image, dtype=float) * 0.92 + 10 + rng.normal(0, 12, (image.height, image.width))
            image = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
        images.append(image)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=dpi)
    return path


def build_docx(articles: list[Article], path: Path) -> Path:
    """A Word file: a masthead table, 【section】 lines, titles as Heading 1, sub-headings as
    Heading 3, captions in the Caption style, and a table after the last article."""
    import docx

    d = docx.Document()
    d.core_properties.title = "凉城社区晨报 2021年3月 第12期"
    table = d.add_table(rows=2, cols=2)   # a masthead table above the articles
    table.cell(0, 0).text, table.cell(0, 1).text = "编辑部电话", "021-5555 0000"
    table.cell(1, 0).text, table.cell(1, 1).text = "出版日期", "2021年3月15日"
    section = None
    for art in articles:
        if art.section != section:
            section = art.section
            d.add_paragraph(f"【{section}】")
        d.add_heading(art.title, level=1)
        for b in art.blocks:
            if b.kind == "heading":
                d.add_heading(b.text, level=3)
            else:
                d.add_paragraph(b.text, style="Caption" if b.kind == "caption" else None)
    table = d.add_table(rows=1, cols=3)   # a table inside the last article
    for cell, text in zip(table.rows[0].cells, ("活动", "参加人数", "120人")):
        cell.text = text
    d.save(str(path))
    return path


def build_wechat_html(article: Article, path: Path) -> Path:
    """A saved WeChat article: navigation, counters and scripts around a hidden #js_content."""
    def block(b) -> str:
        if b.kind == "heading":
            return f"<h3><strong>{html.escape(b.text)}</strong></h3>"
        if b.kind == "caption":
            return ('<section><img data-src="https://mmbiz.qpic.cn/a.jpg"></section>'
                    f'<p style="font-size: 12px; color: rgb(136, 136, 136);">{html.escape(b.text)}</p>')
        return f'<section><p style="text-indent:2em"><span>{html.escape(b.text)}</span></p></section>'

    paras = "\n".join(block(b) for b in article.blocks)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>{html.escape(article.title)}</title>
<meta property="og:title" content="{html.escape(article.title)}">
<meta property="og:url" content="https://mp.weixin.qq.com/s/AbCdEf123">
<meta property="og:site_name" content="微信公众平台">
<meta name="author" content="凉城新村街道">
<script>var ct = "1615766400"; var msg_title = "{html.escape(article.title)}";</script>
</head><body>
<div class="nav"><a href="#">首页</a> <a href="#">往期回顾</a> <a href="#">联系我们</a></div>
<div id="img-content" class="rich_media_wrp">
<h1 class="rich_media_title" id="activity-name">{html.escape(article.title)}</h1>
<div id="meta_content"><span id="profileBt"><a id="js_name">凉城社区晨报</a></span>
<em id="publish_time">2021-03-15 18:30</em></div>
<div class="rich_media_content" id="js_content" style="visibility: hidden; opacity: 0;">
{paras}
<p>扫描二维码关注“凉城社区晨报”</p>
</div>
<script>document.getElementById("js_content").style.visibility = "visible";</script>
</div>
<div class="rich_media_tool"><span id="readNum3">阅读 2.3万</span> <span class="like">赞 128</span>
<span class="like">在看 56</span></div>
<div class="footer">微信扫一扫关注该公众号</div>
</body></html>"""
    path.write_text(page, encoding="utf-8")
    return path


