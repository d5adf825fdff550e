"""Unit tests for the pure helpers of app.py (no browser, no model)."""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # app.py lives at the repo root

import app  # noqa: E402
from rag import chat_html  # noqa: E402
from rag import uploads  # noqa: E402
from rag.errors import EmptyQuestionError, IngestError  # noqa: E402

SCRIPT = "<script>alert(1)</script>"


def cite(n=1, source="000_54cc604d7de70b0b.txt", section="【宜居家园】", title="兰岭园停车",
         quote="经过改造，兰岭园新增了7个停车位。", score=0.5):
    return SimpleNamespace(n=n, source=source, section=section, title=title, quote=quote,
                           score=score)


def answer(found=True, text="兰岭园新增了7个停车位[1]。", short="7个停车位", citations=None):
    return SimpleNamespace(question="q", found=found, text=text, short_answer=short,
                           citations=(cite(),) if citations is None else citations)


class FakeAssistant:
    def __init__(self, ask_error=None, add_error=None):
        self.ask_error, self.add_error, self.asked, self.added = ask_error, add_error, [], []

    def ask(self, question, previous=None):
        self.asked.append((question, previous))
        if self.ask_error:
            raise self.ask_error
        return answer()

    def add_files(self, paths, progress=None):
        self.added.append([Path(p).read_bytes() for p in paths])
        if progress:
            progress(0.5, "嵌入")
        if self.add_error:
            raise self.add_error
        return dict(documents=6, articles=40, chunks=60, embedded=3, reused=1, removed=0,
                    seconds=0.4)


# -- file names ------------------------------------------------------------------------

@pytest.mark.parametrize("raw, clean", [
    ("issue.txt", "issue.txt"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\Windows\\win.INI.md", "win.INI.md"),
    ("C:\\Users\\me\\第3期 社区报.TXT", "第3期_社区报.txt"),
    (".hidden.txt", "hidden.txt"),
    ("..txt", "upload.txt"),
    ("a<script>b.md", "a_script_b.md"),
    ("ｆｕｌｌ.ｔｘｔ", "full.txt"),  # full-width letters are normalised, not refused
    ("x\x00y.txt", "x_y.txt"),
])
def test_clean_filename(raw, clean):
    assert uploads.clean_filename(raw) == clean


def test_clean_filename_caps_length():
    name = uploads.clean_filename("长" * 500 + ".txt")
    assert name.endswith(".txt") and len(name) <= 84


@pytest.mark.parametrize("raw", ["report.doc", "noext", "issue.txt.exe", "", "../", "a.xlsx"])
def test_clean_filename_refuses_other_types(raw):
    with pytest.raises(uploads.UploadRejected, match=r"\.txt、\.md、\.pdf、\.docx、\.html 或 \.htm"):
        uploads.clean_filename(raw)


@pytest.mark.parametrize("raw, clean", [("第3期.PDF", "第3期.pdf"), ("稿件 终版.docx", "稿件_终版.docx"),
                                        ("微信文章.HTM", "微信文章.htm"), ("page.html", "page.html")])
def test_clean_filename_accepts_issue_files(raw, clean):
    assert uploads.clean_filename(raw) == clean


# -- highlighting and rendering --------------------------------------------------------

def test_highlight_marks_exact_span():
    assert chat_html.highlight("新增了7个停车位。", "7个停车位") == "新增了<mark>7个停车位</mark>。"


def test_highlight_falls_back_to_longest_piece():
    # the short answer is phrased differently from the quote: mark what they share
    assert chat_html.highlight("共有停车位7个。", "7个停车位") == "共有<mark>停车位</mark>7个。"


def test_highlight_escapes_everything():
    out = chat_html.highlight(f"{SCRIPT}答案是<b>", "答案")
    assert "<script>" not in out and "&lt;script&gt;" in out and "&lt;b&gt;" in out
    assert "<mark>答案</mark>" in out


@pytest.mark.parametrize("span", [None, "", "无关", "7"])
def test_highlight_without_usable_span_only_escapes(span):
    assert chat_html.highlight("a<b 7个", span) == "a&lt;b 7个"


def test_render_answer_shows_short_answer_text_and_sources():
    out = app.render_answer(answer())
    assert "答：<strong>7个停车位</strong>" in out
    assert '<span class="rag-ref">[1]</span>' in out
    assert "兰岭园停车" in out and "【宜居家园】" in out and "000_54cc604d7de70b0b.txt" in out
    assert "<mark>7个停车位</mark>" in out
    assert "\n" not in out  # one Markdown HTML block


def test_render_answer_brackets_a_bare_section_name():
    out = app.render_answer(answer(citations=(cite(section="宜居家园"), cite(n=2, section=""))))
    assert "【宜居家园】 · 000_54cc604d7de70b0b.txt" in out and "【】" not in out


def test_render_answer_escapes_every_field():
    bad = cite(source=f"{SCRIPT}.txt", section=SCRIPT, title=SCRIPT, quote=SCRIPT)
    out = app.render_answer(answer(text=f"{SCRIPT}[1]", short=SCRIPT, citations=(bad,)))
    assert "<script>" not in out and "&lt;script&gt;" in out


def test_citation_shows_paper_date_issue_and_page_instead_of_file_name():
    c = cite(source="2021-03.pdf")
    c.paper, c.date, c.issue, c.page = "凉城社区晨报", "2021-03", "第2版", 2
    out = app.render_answer(answer(citations=(c,)))
    assert "凉城社区晨报 · 2021年3月 · 第2版 · 第2页" in out and "2021-03.pdf</" not in out
    assert chat_html.source_label(cite()) == "000_54cc604d7de70b0b.txt"   # nothing stated: the file name
    # a click on the citation sends its source, page and quote to the viewer, escaped
    href = re.search(r'<a class="rag-open" href="#cite:([^"]*)">', out).group(1)
    assert json.loads(unquote(html.unescape(href))) == {"source": "2021-03.pdf", "page": 2, "quote": c.quote}


def test_render_answer_refusal_and_no_short_answer():
    refusal = app.render_answer(answer(found=False, text="", short=None, citations=()))
    assert "没有找到" in refusal and "rag-sources" not in refusal
    own = app.render_answer(answer(found=False, text=f"没有答案。最相关的是《{SCRIPT}》", short=None,
                                   citations=()))
    assert "没有答案" in own and "&lt;script&gt;" in own and "社区报里" not in own
    plain = app.render_answer(answer(short=None))
    assert "答：" not in plain and "rag-sources" in plain


def test_render_status():
    out = app.render_status(dict(documents=5, articles=32, chunks=55, model="m<x>", index_dir="i"))
    assert "**5** 期报纸" in out and "**32** 篇文章" in out and "**55** 个片段" in out


# -- chat and upload handlers ----------------------------------------------------------

def test_reply_to_passes_previous_questions():
    assistant = FakeAssistant()
    out = app.reply_to(assistant, "那实际有多少辆车？", ["曹杨公寓小区有多少个车位？"])
    assert assistant.asked == [("那实际有多少辆车？", ["曹杨公寓小区有多少个车位？"])]
    assert "7个停车位" in out


def test_reply_to_passes_the_selected_paper_and_dates(assistant):
    """The chat's selector reaches Assistant.ask; "全部报纸" and empty boxes filter nothing."""
    out = app.reply_to(assistant, "兰岭园新增了多少个停车位？", [], app.ALL_PAPERS, "", " ")
    assert "7个停车位" in out
    refused = app.reply_to(assistant, "兰岭园新增了多少个停车位？", [], "没有这份报", "", "")
    assert "7个停车位" not in refused
    bad = app.reply_to(assistant, "兰岭园新增了多少个停车位？", [], app.ALL_PAPERS, "2024-13", "")
    assert "rag-error" in bad and "YYYY-MM" in bad


@pytest.mark.parametrize("error, text", [
    (EmptyQuestionError("empty"), "请先输入一个问题"),
    (IngestError(SCRIPT), "出错了：&lt;script&gt;"),
    (RuntimeError("secret internals"), "系统出错了"),
])
def test_reply_to_turns_errors_into_messages(error, text):
    out = app.reply_to(FakeAssistant(ask_error=error), "问题", [])
    assert text in out and "Traceback" not in out and "secret internals" not in out


def test_add_upload_stores_clean_name_and_reports(tmp_path):
    src = tmp_path / "in" / "新 一期.txt"
    src.parent.mkdir()
    src.write_text("【宜居家园】\n标题\n正文。", encoding="utf-8")
    seen = []
    ok, msg = app.add_upload(FakeAssistant(), src, tmp_path / "uploads",
                             progress=lambda f, d: seen.append((f, d)))
    assert ok and "新增 3 个片段，复用 1 个" in msg
    assert (tmp_path / "uploads" / "新_一期.txt").read_text(encoding="utf-8").startswith("【宜居")
    assert seen == [(0.5, "嵌入")]


def test_add_upload_refuses_type_size_and_empty(tmp_path, monkeypatch):
    assistant = FakeAssistant()
    doc = tmp_path / "a.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0")
    empty = tmp_path / "e.txt"
    empty.write_bytes(b"")
    big = tmp_path / "big.pdf"
    big.write_bytes(b"x" * 11)
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 10)
    for path, text in [(doc, ".txt、.md、.pdf"), (empty, "空的"), (big, "太大")]:
        ok, msg = app.add_upload(assistant, path, tmp_path / "uploads")
        assert not ok and text in msg
    assert assistant.added == [] and not (tmp_path / "uploads").exists()


def test_add_upload_failure_restores_uploads_folder(tmp_path):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "old.txt").write_bytes(b"good old issue")
    bad = tmp_path / "old.txt"
    bad.write_bytes(b"\x00\x01binary")
    new_bad = tmp_path / "new.txt"
    new_bad.write_bytes(b"\x00\x01binary")
    assistant = FakeAssistant(add_error=IngestError("old.txt: binary file"))
    ok, msg = app.add_upload(assistant, bad, uploads)
    assert not ok and "binary file" in msg and "索引保持不变" in msg
    assert (uploads / "old.txt").read_bytes() == b"good old issue"
    ok, _ = app.add_upload(assistant, new_bad, uploads)
    assert not ok and sorted(p.name for p in uploads.iterdir()) == ["old.txt"]


# -- command line ----------------------------------------------------------------------

def test_parse_args_defaults_and_environment(monkeypatch):
    for var in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "RAG_INDEX_DIR"):
        monkeypatch.delenv(var, raising=False)
    args = app.parse_args([])
    assert (args.host, args.port, args.index_dir) == ("127.0.0.1", 7860, Path("index"))
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8000")
    monkeypatch.setenv("RAG_INDEX_DIR", "/tmp/idx")
    args = app.parse_args([])
    assert (args.host, args.port, args.index_dir) == ("0.0.0.0", 8000, Path("/tmp/idx"))
    args = app.parse_args(["--host", "127.0.0.2", "--port", "9", "--index-dir", "x"])
    assert (args.host, args.port, args.index_dir) == ("127.0.0.2", 9, Path("x"))


def test_launch_options_use_local_fonts_only():
    import gradio as gr

    opts = app.launch_options()
    fonts = [*opts["theme"].font, *opts["theme"].font_mono]
    assert not any(isinstance(f, gr.themes.GoogleFont) for f in fonts)
    assert opts["max_file_size"] == uploads.MAX_UPLOAD_BYTES


def test_progress_steps_are_shown_in_chinese():
    assert uploads.progress_text("embedding 3/9 new chunks") == "正在向量化新片段 3/9…"
    assert uploads.progress_text("reading 6 issue files") == "正在读取文件…"
    assert uploads.progress_text("saving the index") == "正在保存索引…"
    assert uploads.progress_text("done") == "完成"


# -- the source viewer -----------------------------------------------------------------

@pytest.fixture(scope="module")
def viewer_assistant(tmp_path_factory, tokenizer):
    """An index (fake embedder) holding a two-page PDF and a .txt issue."""
    from conftest import SEEDS, FakeEmbedder
    from issue_files import build_pdf, seed_articles
    from rag.sync import sync_index
    work = tmp_path_factory.mktemp("viewer")
    (work / "issues").mkdir()
    build_pdf(seed_articles(SEEDS / "000_54cc604d7de70b0b.txt", tokenizer), work / "issues" / "2021-03.pdf")
    (work / "issues" / "a.txt").write_text("【宜居家园】\n\n停车难题化解\n\n经过<b>改造，兰岭园新增了7个停车位。\n",
                                         encoding="utf-8")
    from rag.config import Config
    index, _ = sync_index(work / "index", [work / "issues"], config=Config(model=FakeEmbedder.name),
                          embedder=FakeEmbedder(), tokenizer=tokenizer)
    return SimpleNamespace(index=index)


def test_viewer_shows_the_pdf_page_with_its_metadata(viewer_assistant):
    quote = "曹杨公寓小区新增了7个停车位，有效缓解了停车压力。"
    out = app.open_source(viewer_assistant, json.dumps({"source": "2021-03.pdf", "page": 3, "quote": quote}))
    assert '<img class="rag-page"' in out and "data:image/png;base64," in out
    assert "凉城社区晨报 · 2021年3月 · 第3版 · 第3页" in out


def test_viewer_shows_other_files_as_article_text_with_the_quote_marked(viewer_assistant):
    quote = "经过<b>改造，兰岭园新增了7个停车位。"
    out = app.open_source(viewer_assistant, json.dumps({"source": "a.txt", "page": None, "quote": quote}))
    assert f"<mark>{html.escape(quote)}</mark>" in out and "停车难题化解" in out
    assert "<b>" not in out and "<img" not in out


@pytest.mark.parametrize("request_text, message", [
    ("not json", "无法打开这条出处"), ('{"page": 1}', "无法打开这条出处"),
    ('{"source": "../../etc/passwd", "quote": "x"}', "not in this index"),
    ('{"source": "2021-03.pdf", "page": 99, "quote": "x"}', "no page 99"),
])
def test_viewer_refuses_bad_requests_with_a_message(viewer_assistant, request_text, message):
    out = app.open_source(viewer_assistant, request_text)
    assert "rag-error" in out and message in out
