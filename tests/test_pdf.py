"""PDF issues: printed two-column pages built with reportlab from the seed issues."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
from PIL import Image

from conftest import SEEDS
from issue_files import build_pdf, seed_articles
from rag.clean import clean_text
from rag.config import Config
from rag.errors import IngestError
from rag.ingest import read_document
from rag.pdf import MAX_PAGES
from rag.sourceview import render_page
from rag.segment import segment_issue
from rag.sync import issue_chunks

SEED_NAMES = sorted(p.name for p in SEEDS.glob("*.txt"))


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory, tokenizer):
    """For each seed: its articles (from the .txt) and its PDF, drawn in order and out of order."""
    out = tmp_path_factory.mktemp("pdfs")
    made = {}
    for name in SEED_NAMES:
        arts = seed_articles(SEEDS / name, tokenizer)
        stem = name.split("_")[0]
        made[name] = (arts, build_pdf(arts, out / f"{stem}.pdf"),
                      build_pdf(arts, out / f"{stem}_reversed.pdf", out_of_order=True))
    return made


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _page_texts(doc) -> list[str]:
    bounds = [*doc.layout.pages, len(doc.text)]
    return [_squeeze(doc.text[a:b]) for a, b in zip(bounds, bounds[1:])]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_printed_pdf_reads_back_into_the_seed_articles(pdfs, tokenizer, name):
    arts, pdf, _ = pdfs[name]
    doc = read_document(pdf)
    got = segment_issue(clean_text(doc.text, tokenizer.words, doc.layout), pdf.name)
    assert [(a.section, a.title) for a in got] == [(a.section, a.title) for a in arts]
    assert [[(b.kind, b.text) for b in a.blocks] for a in got] == \
        [[(b.kind, b.text) for b in a.blocks] for a in arts]
    assert len(doc.layout.pages) >= 2   # every issue runs over pages, so sentences cross them


@pytest.mark.parametrize("name", SEED_NAMES)
def test_content_stream_order_does_not_matter(pdfs, name):
    _, pdf, reversed_pdf = pdfs[name]
    in_order, backwards = read_document(pdf), read_document(reversed_pdf)
    assert backwards.text == in_order.text and backwards.layout == in_order.layout
    # the stream order itself is scrambled: pdfium's own text of page 1 starts with the page number
    stream = pdfium.PdfDocument(reversed_pdf.read_bytes())[0].get_textpage().get_text_range()
    assert stream.lstrip().startswith("— 1 —")


def test_running_head_and_page_number_become_metadata(pdfs):
    _, pdf, _ = pdfs["000_54cc604d7de70b0b.txt"]
    doc = read_document(pdf)
    assert "凉城社区晨报" not in doc.text and "— 1 —" not in doc.text and "— 2 —" not in doc.text
    assert (doc.meta.paper, doc.meta.date) == ("凉城社区晨报", "2021-03")
    assert doc.meta.page_issues == ("第1版", "第2版", "第3版")


def test_caption_inside_a_sentence_is_set_apart_and_the_sentence_joined(pdfs, tokenizer):
    _, pdf, _ = pdfs["000_54cc604d7de70b0b.txt"]
    doc = read_document(pdf)
    blocks = clean_text(doc.text, tokenizer.words, doc.layout)
    body = "\n".join(b.text for b in blocks if b.kind == "text")
    assert "催人砥砺奋进的征程路，在新时代、新阶段联合区域化单位" in body and "活动现场" not in body
    assert "活动现场" in [b.text for b in blocks if b.kind == "caption"]
    crossing = [b for b in blocks if b.page_marks]   # sentences cut by a page break, joined again
    assert crossing and all(b.cuts for b in crossing)


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_chunk_knows_its_page_and_each_piece_lies_on_it(pdfs, tokenizer, name):
    _, pdf, _ = pdfs[name]
    doc = read_document(pdf)
    pages = _page_texts(doc)
    _, chunks = issue_chunks(doc, pdf.name, Config(), tokenizer)
    assert chunks and all(c.page is not None for c in chunks)
    assert {c.issue for c in chunks} <= {"第1版", "第2版", "第3版"} and {c.paper for c in chunks} == {"凉城社区晨报"}
    for c in chunks:
        bounds = [0, *c.cuts, len(c.text)]
        for a, b in zip(bounds, bounds[1:]):   # a quote never spans a cut
            for piece in c.text[a:b].split("\n"):
                if piece.strip():
                    assert _squeeze(piece) in pages[c.page_of(piece) - 1], (c.id, piece)


def test_scanned_pdf_without_text_layer_is_refused_by_name(tmp_path):
    from reportlab.pdfgen import canvas
    path = tmp_path / "scan-2021-03.pdf"
    c = canvas.Canvas(str(path))
    c.drawImage(_image_file(tmp_path), 50, 300, 400, 500)   # a page that is only a picture
    c.showPage()
    c.save()
    with pytest.raises(IngestError, match=r"scan-2021-03\.pdf: no text layer"):
        read_document(path)


def _image_file(tmp_path):
    img = tmp_path / "page.png"
    Image.new("RGB", (200, 250), (240, 240, 230)).save(img)
    return str(img)


def test_pdf_of_thousands_of_pages_is_refused_without_reading_them(tmp_path):
    pdf = pdfium.PdfDocument.new()
    for _ in range(MAX_PAGES * 10):
        pdf.new_page(200, 200)
    path = tmp_path / "archive.pdf"
    pdf.save(str(path))
    with pytest.raises(IngestError, match=rf"archive\.pdf: {MAX_PAGES * 10} pages is over the limit of {MAX_PAGES}"):
        read_document(path)


def test_damaged_pdf_is_refused_by_name(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nnot really a pdf\n")
    with pytest.raises(IngestError, match=r"broken\.pdf: not a readable PDF"):
        read_document(path)


def _highlighted(png: bytes) -> list[tuple[int, int]]:
    img = Image.open(io.BytesIO(png)).convert("RGB")
    px = img.load()
    return [(x, y) for y in range(0, img.height, 2) for x in range(0, img.width, 2)
            if px[x, y][0] > 230 and 150 < px[x, y][1] < 235 and px[x, y][2] < 140]


def test_page_image_highlights_the_quote_where_it_stands(pdfs):
    _, pdf, _ = pdfs["000_54cc604d7de70b0b.txt"]
    data = pdf.read_bytes()
    quote = "曹杨公寓小区新增了7个停车位，有效缓解了停车压力。"
    doc = read_document(pdf)
    page = next(n for n, text in enumerate(_page_texts(doc), start=1) if quote in text)
    marked = _highlighted(render_page(data, pdf.name, page, quote, scale=1.0))
    assert len(marked) > 50
    assert not _highlighted(render_page(data, pdf.name, page, "", scale=1.0))
    # the marks sit on the quote's rows: the box of "停车压力" is covered, the page is not
    textpage = pdfium.PdfDocument(data)[page - 1].get_textpage()
    index, _ = textpage.search("停车压力").get_next()
    left, bottom, right, top = textpage.get_charbox(index)
    height = pdfium.PdfDocument(data)[page - 1].get_height()
    assert any(left - 2 <= x <= right + 2 and height - top - 3 <= y <= height - bottom + 3 for x, y in marked)
    ys = [y for _, y in marked]
    assert max(ys) - min(ys) < 5 * 16   # a few rows, not the whole page
    with pytest.raises(IngestError, match="no page 9"):
        render_page(data, pdf.name, 9, quote)


@pytest.mark.parametrize("columns", [3, 4])
def test_three_and_four_columns_read_in_order(tmp_path, tokenizer, columns):
    arts = seed_articles(SEEDS / "000_54cc604d7de70b0b.txt", tokenizer)
    pdf = build_pdf(arts, tmp_path / f"{columns}col.pdf", out_of_order=True, columns=columns)
    doc = read_document(pdf)
    got = segment_issue(clean_text(doc.text, tokenizer.words, doc.layout), pdf.name)
    assert [(a.section, a.title) for a in got] == [(a.section, a.title) for a in arts]
    assert [[(b.kind, b.text) for b in a.blocks] for a in got] == \
        [[(b.kind, b.text) for b in a.blocks] for a in arts]


def test_short_article_under_a_headline_is_not_read_across_its_columns(tmp_path):
    # few rows: the gap under the headline is hardly wider than the others, yet it hides the gutter
    raw = ("【宜居家园】\n\n紫藤苑建成智能充电棚 电动车充电不再难\n\n"
           "近日，紫藤苑小区的智能充电棚正式投入使用，共设置了23个充电位，居民扫码即可为电动自行车充电。\n\n"
           "紫藤苑居民区党总支书记表示，充电棚建成后，楼道里“飞线充电”的现象基本消失，小区的消防安全得到了保障。\n")
    arts = segment_issue(clean_text(raw), "x.txt")
    doc = read_document(build_pdf(arts, tmp_path / "short.pdf"))
    assert [(a.title, [b.text for b in a.blocks]) for a in segment_issue(clean_text(doc.text, layout=doc.layout), "x")] \
        == [(a.title, [b.text for b in a.blocks]) for a in arts]
