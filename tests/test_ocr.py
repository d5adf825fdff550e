"""A scanned issue (page images, no text layer) is read by OCR (RapidOCR, models in its wheel)
and answers like its .txt on most questions; its quotes lie on the pages they name."""

from __future__ import annotations

from difflib import SequenceMatcher

import pypdfium2 as pdfium
import pytest

import app
from extract import chars_right
from issue_files import build_pdf, build_scan, seed_articles
from rag import ocr
from rag.errors import IngestError
from rag.ingest import read_document
from rag.sourceview import render_page, view_source
from test_formats_answers import PDF_SEED, QUESTIONS, _answers, _differences, _index, _squeeze


@pytest.fixture(scope="module")
def scan_files(tmp_path_factory, tokenizer):
    folder = tmp_path_factory.mktemp("scan")
    printed = build_pdf(seed_articles(PDF_SEED, tokenizer), folder / "printed.pdf")
    return printed, build_scan(printed, folder / "scan.pdf")


def test_ocr_runs_here():
    assert ocr.why_unavailable() == ""


def test_the_engine_runs_in_a_worker_not_in_the_reading_process(scan_files, monkeypatch):
    """The engine holds about 550 MB while it works: the process that reads (the chat's
    server) never loads it, and the worker has ended when the file is read."""
    import os
    import sys
    from pathlib import Path

    def children() -> set[str]:
        return {pid for task in Path(f"/proc/{os.getpid()}/task").iterdir()
                for pid in (task / "children").read_text().split()}

    before = children()
    monkeypatch.setattr(ocr, "_cache", type(ocr._cache)())   # not read before: the worker must run
    assert read_document(scan_files[1]).meta.ocr_pages == (1, 2, 3)
    assert "rapidocr_onnxruntime" not in sys.modules and "cv2" not in sys.modules
    assert children() == before   # the worker has ended


def test_a_hung_ocr_worker_fails_the_file_by_name(scan_files, monkeypatch):
    monkeypatch.setattr(ocr, "_cache", type(ocr._cache)())   # not read before: the worker must run
    monkeypatch.setattr(ocr, "PAGE_TIMEOUT_S", 0.01)
    with pytest.raises(IngestError, match=r"scan\.pdf: OCR failed on page 1 \(TimeoutError"):
        read_document(scan_files[1])


def test_a_scan_reads_like_its_text_layer(scan_files):
    printed, scan = scan_files
    text, scanned = read_document(printed), read_document(scan)
    assert scanned.meta.ocr_pages == (1, 2, 3) and text.meta.ocr_pages == ()
    assert scanned.meta.paper == "凉城社区晨报" and scanned.meta.page_issues == text.meta.page_issues
    a, b = _squeeze(text.text), _squeeze(scanned.text)
    assert 0.97 < len(b) / len(a) < 1.03
    # the running head and page numbers are metadata, not text, as on the printed page
    assert "凉城社区晨报2021年3月" not in b and "-2-" not in b
    # rows are joined into paragraphs across columns and pages: most printed paragraphs come back
    # in one piece, give or take a misread character (about 2% of them)
    printed = [_squeeze(p) for p in text.text.split("\n\n") if len(p.strip()) > 40]
    read = [_squeeze(p) for p in scanned.text.split("\n\n") if p.strip()]
    whole = sum(max(SequenceMatcher(None, p, q, autojunk=False).ratio() for q in read) >= 0.9 for p in printed)
    assert whole >= 0.8 * len(printed), (whole, len(printed))


def test_a_poor_scan_still_reads_nearly_every_character(scan_files, tmp_path):
    printed, _ = scan_files
    worn = build_scan(printed, tmp_path / "worn.pdf", worn=True)   # 150 dpi, turned, blurred, noisy
    text, scanned = read_document(printed), read_document(worn)
    assert chars_right(text.text, scanned.text) >= 0.95 and scanned.meta.paper == "凉城社区晨报" and scanned.meta.ocr_pages == (1, 2, 3)


def test_a_scanned_issue_answers_like_its_txt_on_most_questions(scan_files, assistant, real_embedder,
                                                                  tokenizer, tmp_path):
    _, scan = scan_files
    bot = _index(tmp_path, {PDF_SEED.name: lambda folder, stem: (folder / f"{stem}.pdf").write_bytes(
        scan.read_bytes())}, real_embedder, tokenizer)
    want, got = _answers(assistant), _answers(bot)
    about = [q["id"] for q in QUESTIONS if any(c.source == PDF_SEED.name for c in want[q["id"]].citations[:1])]
    differ = [d for d in _differences(want, got) if d.split(":")[0].split()[0] in about]
    assert len(about) >= 5 and len(differ) <= 0.25 * len(about), differ
    files = bot.index.manifest["files"]
    cited = [c for a in got.values() for c in a.citations if c.source.endswith(".pdf")]
    for c in cited:
        doc = read_document(files[c.source]["path"])
        bounds = [*doc.layout.pages, len(doc.text)]
        assert _squeeze(c.quote) in _squeeze(doc.text[bounds[c.page - 1]:bounds[c.page]])
    # the chat's page view says the page was read by OCR; a .txt source's view does not
    shown = app.render_source(view_source(bot.index, cited[0].source, cited[0].quote, cited[0].page))
    assert "rag-ocr-note" in shown and "<img" in shown
    other = next(c for a in got.values() for c in a.citations if c.source.endswith(".txt"))
    assert "rag-ocr-note" not in app.render_source(view_source(bot.index, other.source, other.quote, other.page))


def test_the_quote_is_highlighted_on_the_scanned_page(scan_files):
    _, scan = scan_files
    data = scan.read_bytes()
    doc = read_document(scan)
    quote = next(p for p in doc.text[doc.layout.pages[1]:].split("\n\n") if len(p) > 30)[:20]
    plain, marked = render_page(data, "scan.pdf", 2), render_page(data, "scan.pdf", 2, quote)
    assert plain != marked


def test_a_scan_over_the_ocr_page_limit_is_refused_by_name(tmp_path, monkeypatch):
    pdf = pdfium.PdfDocument.new()
    for _ in range(3):
        pdf.new_page(200, 200)
    pdf.save(str(tmp_path / "big-scan.pdf"))
    monkeypatch.setattr(ocr, "MAX_OCR_PAGES", 2)
    with pytest.raises(IngestError, match=r"big-scan\.pdf: 3 scanned pages .* OCR limit of 2"):
        read_document(tmp_path / "big-scan.pdf")


def test_a_scan_without_ocr_says_how_to_get_it(tmp_path, monkeypatch, scan_files):
    monkeypatch.setattr(ocr, "why_unavailable", lambda: "OCR is not installed; pip install rapidocr_onnxruntime")
    with pytest.raises(IngestError, match=r"scan\.pdf: no text layer.*pip install rapidocr_onnxruntime"):
        read_document(scan_files[1])


def test_indexing_a_scan_reports_each_ocr_page(scan_files, tmp_path, tokenizer):
    from conftest import FakeEmbedder
    from rag import uploads
    from rag.config import Config
    from rag.sync import sync_index

    folder = tmp_path / "issues"
    folder.mkdir()
    (folder / "scan.pdf").write_bytes(scan_files[1].read_bytes())
    steps = []
    emb = FakeEmbedder()
    sync_index(tmp_path / "index", [folder], config=Config(model=emb.name), embedder=emb, tokenizer=tokenizer,
               on_progress=lambda fraction, message: steps.append(message))
    pages = [s for s in steps if "by OCR" in s]
    assert pages == [f"reading scan.pdf by OCR: page {k}/3" for k in (1, 2, 3)]
    assert uploads.progress_text(pages[1]).startswith("正在识别扫描页 2/3")


def test_a_page_with_only_its_running_head_says_no_text_plainly(tmp_path):
    from reportlab.pdfgen import canvas

    path = tmp_path / "head-only.pdf"
    c = canvas.Canvas(str(path))
    c.setFont("Helvetica", 9)
    c.drawString(50, 805, "Page header 2021-03")   # read as metadata, so no text is left
    c.drawString(280, 30, "- 1 -")
    c.showPage()
    c.save()
    with pytest.raises(IngestError, match=r"head-only\.pdf: no text layer .*characters to read; export it again"):
        read_document(path)
