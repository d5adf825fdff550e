import pytest

from conftest import SEEDS
from rag.errors import IngestError
from rag.ingest import find_issue_files, read_document, read_issue

SEED = SEEDS / "000_54cc604d7de70b0b.txt"


def test_reads_utf8_seed():
    assert "兰岭园小区建于上世纪50年代" in read_issue(SEED)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-8-sig"])
def test_detects_chinese_encodings_without_being_told(tmp_path, encoding):
    text = read_issue(SEED)
    path = tmp_path / "issue.txt"
    path.write_bytes(text.encode(encoding))
    assert read_issue(path) == text


def test_windows_line_endings_are_normalised(tmp_path):
    path = tmp_path / "crlf.md"
    path.write_bytes("标题\r\n\r\n正文。\r\n".encode("utf-8"))
    assert read_issue(path) == "标题\n\n正文。\n"


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"   \n\n  ", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20, "binary"),
    (b"text \x80\xff " * 50, "not valid UTF-8"),
])
def test_bad_files_are_named_with_the_reason(tmp_path, content, reason):
    path = tmp_path / "bad-issue.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=reason) as err:
        read_issue(path)
    assert "bad-issue.txt" in str(err.value)


def test_unsupported_type_and_missing_file(tmp_path):
    doc = tmp_path / "issue.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(IngestError, match=r"unsupported file type '\.doc'.*\.txt, \.md, \.pdf, \.docx, \.html, \.htm"):
        read_issue(doc)
    with pytest.raises(IngestError, match="not found"):
        read_issue(tmp_path / "nope.txt")


def test_find_issue_files_lists_supported_files_only(tmp_path):
    (tmp_path / "a.txt").write_text("甲。", encoding="utf-8")
    (tmp_path / "b.md").write_text("乙。", encoding="utf-8")
    (tmp_path / "c.pdf").write_text("丙", encoding="utf-8")
    (tmp_path / "d.DOCX").write_text("丙", encoding="utf-8")
    (tmp_path / "e.htm").write_text("丙", encoding="utf-8")
    (tmp_path / "f.doc").write_text("丙", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("丁", encoding="utf-8")
    assert [p.name for p in find_issue_files(tmp_path)] == ["a.txt", "b.md", "c.pdf", "d.DOCX", "e.htm"]
    with pytest.raises(IngestError, match="no such file"):
        find_issue_files(tmp_path / "missing")


def test_web_article_text_gives_url_date_and_source(tmp_path):
    path = tmp_path / "102.txt"
    path.write_text("# http://www.voujod.cn/html/2021/czjs_0413/2438908.html\n\n"
                    "上海寶山一居民區兩臺加裝電梯同時開工!惠及41戶居民\n"
                    "2021-04-13 15:34:30來源:人民網作者:佚名責任編輯:黃靜\n"
                    "近日,海濱新村居民區55號、65號加裝電梯工程正式開工啦!\n", encoding="utf-8")
    meta = read_document(path).meta
    assert (meta.url, meta.date, meta.paper, meta.author) == (
        "http://www.voujod.cn/html/2021/czjs_0413/2438908.html", "2021-04-13", "人民網", "佚名")


def test_masthead_and_file_name_give_paper_date_and_issue(tmp_path):
    assert read_document(SEEDS / "003_f5fd1caccfd41a06.txt").meta.paper == "凉城社区晨报"
    path = tmp_path / "2021-03_第12期.txt"
    path.write_text("社区新闻一则标题\n\n第一段正文。", encoding="utf-8")
    meta = read_document(path).meta
    assert (meta.paper, meta.date, meta.issue) == ("", "2021-03", "第12期")


def test_oversized_web_page_is_refused_before_reading(tmp_path):
    page = tmp_path / "huge.html"
    with open(page, "wb") as f:      # 50 MB of nested markup
        f.write(b"<html><body>" + b"<div><p>\xe6\x96\x87</p></div>" * (50 * 1024 * 1024 // 23))
    with pytest.raises(IngestError, match=r"huge\.html: \d+ bytes is over the \d+ byte limit for \.html"):
        read_document(page)
