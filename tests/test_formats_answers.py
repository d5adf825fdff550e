"""The same issues as PDF, Word and WeChat files answer the dev questions like their .txt
(real model): the same short answers, from the same articles; PDF quotes lie on their page."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import DEV_QUESTIONS, SEEDS
from issue_files import build_docx, build_pdf, build_wechat_html, seed_articles
from rag.ingest import read_document
from rag.service import Assistant
from rag.sync import sync_index

PDF_SEED, DOCX_SEED, HTML_SEED = (sorted(SEEDS.glob("*.txt"))[k] for k in range(3))
QUESTIONS = [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _index(tmp: Path, files: dict[str, object], embedder, tokenizer) -> Assistant:
    """Index the seeds, with some replaced by other kinds of file (name -> builder)."""
    issues = tmp / "issues"
    issues.mkdir()
    for seed in SEEDS.glob("*.txt"):
        if seed.name not in files:
            shutil.copy(seed, issues / seed.name)
    for name, build in files.items():
        build(issues, Path(name).stem)
    sync_index(tmp / "index", [issues], embedder=embedder, tokenizer=tokenizer)
    return Assistant(tmp / "index", embedder=embedder, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def other_formats(tmp_path_factory, real_embedder, tokenizer):
    """Seeds 000 as a printed PDF, 001 as a Word file, 002 as one WeChat page per article."""
    arts = {s: seed_articles(s, tokenizer) for s in (PDF_SEED, DOCX_SEED, HTML_SEED)}

    def wechat(folder, stem):
        for k, art in enumerate(arts[HTML_SEED]):
            build_wechat_html(art, folder / f"{stem}_{k}.html")

    files = {PDF_SEED.name: lambda folder, stem: build_pdf(arts[PDF_SEED], folder / f"{stem}.pdf"),
             DOCX_SEED.name: lambda folder, stem: build_docx(arts[DOCX_SEED], folder / f"{stem}.docx"),
             HTML_SEED.name: wechat}
    return _index(tmp_path_factory.mktemp("formats"), files, real_embedder, tokenizer)


@pytest.fixture(scope="module")
def reversed_pdf(tmp_path_factory, real_embedder, tokenizer):
    """Seed 000 as a PDF whose content stream draws everything backwards."""
    arts = seed_articles(PDF_SEED, tokenizer)
    files = {PDF_SEED.name: lambda folder, stem: build_pdf(arts, folder / f"{stem}.pdf", out_of_order=True)}
    return _index(tmp_path_factory.mktemp("reversed"), files, real_embedder, tokenizer)


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _stem(source: str) -> str:
    """The seed a file was made from: "002_850be4cbd226f91c_3.html" -> "002_850be4cbd226f91c"."""
    return re.sub(r"_\d+$", "", source.rsplit(".", 1)[0])


def _answers(bot: Assistant) -> dict:
    return {q["id"]: bot.ask(q["question"]) for q in QUESTIONS}


@pytest.fixture(scope="module")
def txt_answers(assistant):
    return _answers(assistant)


def _differences(want: dict, got: dict) -> list[str]:
    """Questions answered differently: another short answer, or cited from another article."""
    problems = []
    for q in QUESTIONS:
        w, g = want[q["id"]], got[q["id"]]
        if (w.found, w.short_answer) != (g.found, g.short_answer):
            problems.append(f"{q['id']} {q['question']}: {w.short_answer!r} != {g.short_answer!r}")
        elif w.found:
            a, b = w.citations[0], g.citations[0]
            if _stem(a.source) != _stem(b.source) or _squeeze(a.title) != _squeeze(b.title):
                problems.append(f"{q['id']}: cited {a.source}《{a.title}》 != {b.source}《{b.title}》")
    return problems


def _pdf_quotes_on_their_pages(bot: Assistant, answers: dict) -> int:
    checked, pages = 0, {}
    files = bot.index.manifest["files"]
    for a in answers.values():
        for c in a.citations:
            if not c.source.endswith(".pdf"):
                continue
            if c.source not in pages:
                doc = read_document(files[c.source]["path"])
                bounds = [*doc.layout.pages, len(doc.text)]
                pages[c.source] = [_squeeze(doc.text[x:y]) for x, y in zip(bounds, bounds[1:])]
            assert _squeeze(c.quote) in pages[c.source][c.page - 1], (a.question, c.page, c.quote)
            assert (c.paper, c.date) == ("凉城社区晨报", "2021-03") and c.issue.startswith("第"), c
            checked += 1
    return checked


def test_pdf_word_and_wechat_files_answer_like_their_txt(txt_answers, other_formats):
    got = _answers(other_formats)
    assert _differences(txt_answers, got) == []
    assert _pdf_quotes_on_their_pages(other_formats, got) >= 5


def test_pdf_drawn_out_of_order_answers_like_its_txt(txt_answers, reversed_pdf):
    got = _answers(reversed_pdf)
    assert _differences(txt_answers, got) == []
    assert _pdf_quotes_on_their_pages(reversed_pdf, got) >= 5
