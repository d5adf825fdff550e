#!/usr/bin/env python
"""Benchmark reading issue files: PDF extraction speed and reading order on a scrambled stream.

    python benchmarks/extract.py [--copies 4]

Builds printed two-column PDFs from the seed issues (as the tests do, with reportlab), then:
1. ``read_document`` speed in pages/s on one long PDF (the seeds' articles ``--copies`` times),
   and the time to render one page image with a quote highlighted;
2. on the PDFs whose content stream draws each page backwards, the share of the seeds'
   sentences found whole in the extracted text, for three ways of ordering the text:
   this project's column crops, pdfium's own text (content-stream order), and rows sorted
   across the page by position (the geometric sort that interleaves columns);
3. .docx and WeChat .html reading speed for comparison;
4. each seed's PDF as a scan (page images at 200 dpi, no text layer) and as a poor scan (150 dpi,
   turned 0.6°, blurred, grey and noisy), read by OCR: speed, the share of characters read
   right (aligned with the text layer's reading) and of whole seed sentences, side by side
   with the text layer.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pypdfium2 as pdfium                                         # noqa: E402

from issue_files import build_docx, build_pdf, build_scan, build_wechat_html, seed_articles   # noqa: E402
from rag.chunk import split_sentences                              # noqa: E402
from rag.ingest import read_document                               # noqa: E402
from rag.pdf import _glyphs, _rows, _row_text                      # noqa: E402
from rag.sourceview import render_page                             # noqa: E402
from rag.tokenize import ChineseTokenizer                          # noqa: E402

SEEDS = ROOT / "seeds"


def squeeze(text: str) -> str:
    return "".join(text.split())


def stream_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(path.read_bytes())
    return "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def sorted_rows_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(path.read_bytes())
    return "\n".join(_row_text(r) for i in range(len(pdf)) for r in _rows(_glyphs(pdf[i])))


def chars_right(printed: str, read: str) -> float:
    """The share of ``printed``'s characters that ``read`` has in the same order (spaces aside;
    full-width and ASCII punctuation count as the same: seeds 001-003 set "," where OCR reads "，")."""
    a, b = (squeeze(unicodedata.normalize("NFKC", t)) for t in (printed, read))
    return sum(m.size for m in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()) / len(a)


def whole_sentences(articles, text: str) -> float:
    sentences = [squeeze(unicodedata.normalize("NFKC", s)) for a in articles for b in a.blocks if b.kind == "text"
                 for s in split_sentences(b.text) if len(s.strip()) >= 8]
    flat = squeeze(unicodedata.normalize("NFKC", text))
    return sum(s in flat for s in sentences) / len(sentences)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=4, help="copies of the seeds in the long PDF")
    args = ap.parse_args()
    tok = ChineseTokenizer()
    seeds = sorted(SEEDS.glob("*.txt"))
    arts = {s.name: seed_articles(s, tok) for s in seeds}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        every = [a for s in seeds for a in arts[s.name]] * args.copies
        long_pdf = build_pdf(every, tmp / "long.pdf")
        pages = len(pdfium.PdfDocument(long_pdf.read_bytes()))
        t = time.perf_counter()
        doc = read_document(long_pdf)
        read_s = time.perf_counter() - t
        quote = "曹杨公寓小区新增了7个停车位，有效缓解了停车压力。"
        bounds = [*doc.layout.pages, len(doc.text)]
        page = next(n for n in range(1, pages + 1) if quote in squeeze(doc.text[bounds[n - 1]:bounds[n]]))
        t = time.perf_counter()
        render_page(long_pdf.read_bytes(), long_pdf.name, page, quote)
        render_s = time.perf_counter() - t
        print(f"PDF read: {pages} pages in {read_s:.2f} s = {pages / read_s:.1f} pages/s; "
              f"one page image with its quote highlighted: {render_s * 1000:.0f} ms")

        print("\nWhole seed sentences in the text of the PDF drawn backwards (and drawn in order):")
        print(f"{'issue':28} {'column crops':>13} {'stream order':>13} {'rows sorted':>12}")
        for s in seeds:
            rev = build_pdf(arts[s.name], tmp / f"{s.stem}_rev.pdf", out_of_order=True)
            fwd = build_pdf(arts[s.name], tmp / f"{s.stem}.pdf")
            ours, ours_fwd = read_document(rev).text, read_document(fwd).text
            row = [whole_sentences(arts[s.name], t) for t in
                   (ours, stream_text(rev), sorted_rows_text(rev))]
            fwd_row = [whole_sentences(arts[s.name], t) for t in (ours_fwd, stream_text(fwd), sorted_rows_text(fwd))]
            same = "identical text" if ours == ours_fwd else "TEXT DIFFERS"
            print(f"{s.name:28} " + " ".join(f"{x:>6.0%} ({y:>4.0%})" for x, y in zip(row, fwd_row)) + f"  {same}")

        for kind, build in (("docx", lambda a, p: build_docx(a, p)),
                            ("html", lambda a, p: build_wechat_html(a[0], p))):
            t, n = time.perf_counter(), 0
            for s in seeds:
                read_document(build(arts[s.name], tmp / f"{s.stem}.{kind}"))
                n += 1
            print(f"{kind}: {n / (time.perf_counter() - t):.1f} files/s (build included)")

        print("\nScans read by OCR, against the same pages' text layer (clean 200 dpi / poor 150 dpi):")
        print(f"{'issue':28} {'pages':>5} {'s/page':>11} {'chars right':>15} {'whole sentences: text / OCR':>30}")
        for s in seeds:
            printed = tmp / f"{s.stem}.pdf"
            text = read_document(printed).text
            row = []
            for worn in (False, True):
                scan = build_scan(printed, tmp / f"{s.stem}_scan{int(worn)}.pdf", worn=worn)
                n = len(pdfium.PdfDocument(scan.read_bytes()))
                t = time.perf_counter()
                got = read_document(scan).text
                took = (time.perf_counter() - t) / n
                row.append((took, chars_right(text, got), whole_sentences(arts[s.name], got)))
            (t0, r0, w0), (t1, r1, w1) = row
            print(f"{s.name:28} {n:>5} {t0:>5.1f} / {t1:<4.1f} {r0:>6.1%} / {r1:<6.1%} "
                  f"{whole_sentences(arts[s.name], text):>12.0%} / {w0:.0%} / {w1:.0%}")


if __name__ == "__main__":
    main()
