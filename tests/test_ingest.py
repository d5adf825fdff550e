import pytest

from conftest import SEEDS
from rag.errors import IngestError
from rag.ingest import find_issue_files, read_issue

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
    pdf = tmp_path / "issue.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(IngestError, match=r"unsupported file type '\.pdf'.*\.txt, \.md"):
        read_issue(pdf)
    with pytest.raises(IngestError, match="not found"):
        read_issue(tmp_path / "nope.txt")


def test_find_issue_files_lists_supported_files_only(tmp_path):
    (tmp_path / "a.txt").write_text("甲。", encoding="utf-8")
    (tmp_path / "b.md").write_text("乙。", encoding="utf-8")
    (tmp_path / "c.pdf").write_text("丙", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("丁", encoding="utf-8")
    assert [p.name for p in find_issue_files(tmp_path)] == ["a.txt", "b.md"]
    with pytest.raises(IngestError, match="no such file"):
        find_issue_files(tmp_path / "missing")
