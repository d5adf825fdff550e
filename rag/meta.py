"""Issue metadata: the paper's name, the date, the issue or page label and the URL.

They are read where a file states them: the ``# <url>`` line and the 来源/时间/作者 lines
that web articles carry under their headline, a masthead or page header
("凉城社区晨报 2021年3月 第2版"), PDF or HTML metadata, or a file name like ``2021-03.pdf``.
:func:`is_meta_line` tells :mod:`rag.clean` which lines are metadata and not text.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

__all__ = ["IssueMeta", "is_meta_line", "meta_from_lines", "meta_from_name", "normalize_date",
           "URL_LINE"]

URL_LINE = re.compile(r"^#\s*(https?://\S+)\s*$")
_LABELS = ("责任编辑|責任編輯|发布时间|發布時間|發佈時間|本文转自|本文轉自|素材来源|信息来源|图片来源|来源|來源|作者|记者|記者|"
           "编辑|編輯|通讯员|通訊員|时间|時間|日期|出处|出處|稿源")
_LABEL_AT = re.compile(rf"(?:{_LABELS})\s*[:：]?\s*")
_LABEL_START = re.compile(rf"^(?:{_LABELS})(?:\s*[:：]|\s+\S)")
_TIME = r"(?:\s*\d{1,2}:\d{2}(?::\d{2})?)?"
_DATE = re.compile(r"(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})(?:\s*(?:[-/.]|月)\s*(\d{1,2})\s*日?|\s*月)?" + _TIME)
_DATE_LINE_START = re.compile(r"^(?:\d{4}\s*(?:[-/.]|年)\s*\d{1,2}(?:\s*(?:[-/.]|月)\s*\d{1,2}\s*日?|\s*月)"
                              + _TIME + r"|\d{1,2}-\d{1,2}\s+\d{1,2}:\d{2})\s*")
_DATE_LINE_END = re.compile(r"\s*\d{4}\s*(?:[-/.]|年)\s*\d{1,2}(?:\s*(?:[-/.]|月)\s*\d{1,2}\s*日?|\s*月)?"
                            + _TIME + r"$")
_CN_NUM = "〇零一二三四五六七八九十百"
_ISSUE = re.compile(rf"第\s*([0-9{_CN_NUM}]{{1,5}})\s*(期|版)")
_ISSUE_START = re.compile(rf"^第\s*[0-9{_CN_NUM}]{{1,5}}\s*(期|版)(?:[:：\s]|$)")
_PAPER = re.compile(r"([\u4e00-\u9fff]{2,10}?(?:社区报|社区晨报|晨报|日报|晚报|周报|社区通讯|时报|商报|快报|导报|周刊|报))"
                    r"(?![\u4e00-\u9fff])")
_NOT_PAPER = re.compile(r"^(本报|简报|海报|通报|汇报|情报|年报|举报|申报|电报|捷报|喜报|画报|公报|预报|警报|上报)")
_END = re.compile(r"[。！？!?；;]")


@dataclass(frozen=True)
class IssueMeta:
    """What a file says about the issue it holds ("" when it does not say).

    Attributes:
        paper: the paper's (or web source's) name, e.g. "凉城社区晨报", "新民晚报".
        date: "YYYY", "YYYY-MM" or "YYYY-MM-DD".
        issue: the issue or page label, e.g. "第123期", "第2版".
        url: the article's web address.
        title: the headline a web page or Word file names in its metadata.
        author: the author or reporter named by the page.
        page_issues: for a paged file, the page label of each page from its header ("" if none).
        ocr_pages: the 1-based pages of a PDF that were scans, read by OCR.
    """

    paper: str = ""
    date: str = ""
    issue: str = ""
    url: str = ""
    title: str = ""
    author: str = ""
    page_issues: tuple[str, ...] = ()
    ocr_pages: tuple[int, ...] = ()

    def filled_from(self, other: "IssueMeta") -> "IssueMeta":
        """This metadata with its empty fields taken from ``other``."""
        return dataclasses.replace(self, **{f.name: getattr(other, f.name) for f in dataclasses.fields(self)
                                            if not getattr(self, f.name) and getattr(other, f.name)})

    def issue_on(self, page: int | None) -> str:
        """The issue label for a 1-based page: the issue's own label and the page's ("第123期 第2版")."""
        label = self.page_issues[page - 1] if page and 0 < page <= len(self.page_issues) else ""
        if label and self.issue and label not in self.issue:
            return f"{self.issue} {label}"
        return label or self.issue

    def to_dict(self) -> dict:
        """The fields that are known, for the manifest (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items() if v}


def _cn_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}
    if all(c in digits for c in text):
        return int("".join(str(digits[c]) for c in text))
    total, cur = 0, 0
    for c in text:
        if c in digits:
            cur = digits[c]
        elif c == "十":
            total += (cur or 1) * 10
            cur = 0
        elif c == "百":
            total += (cur or 1) * 100
            cur = 0
        else:
            return None
    return total + cur


def normalize_date(text: str) -> str:
    """The first date in ``text`` as "YYYY-MM-DD" or "YYYY-MM" ("" if none plausible).

    Example:
        >>> normalize_date("2021-04-13 15:34:30來源:人民網"), normalize_date("2021年3月 第2版")
        ('2021-04-13', '2021-03')
    """
    for m in _DATE.finditer(text):
        year, month, day = int(m.group(1)), int(m.group(2)), m.group(3)
        if not (1949 <= year <= 2100 and 1 <= month <= 12):
            continue
        if day and 1 <= int(day) <= 31:
            return f"{year:04d}-{month:02d}-{int(day):02d}"
        return f"{year:04d}-{month:02d}"
    return ""


def _issue_label(text: str) -> str:
    m = _ISSUE.search(text)
    if not m:
        return ""
    n = _cn_int(m.group(1))
    return f"第{n}{m.group(2)}" if n else ""


def _paper(text: str) -> str:
    for m in _PAPER.finditer(text):
        if not _NOT_PAPER.match(m.group(1)):
            return m.group(1)
    return ""


def is_meta_line(line: str) -> bool:
    """Is this line metadata (date, 来源, 作者, 责任编辑, page label) rather than text?

    Example:
        >>> is_meta_line("2021-04-13 15:34:30來源:人民網作者:佚名責任編輯:黃靜")
        True
        >>> is_meta_line("2021年3月社区活动一览"), is_meta_line("记者来到这里也有同感:面貌一新。")
        (False, False)
    """
    if URL_LINE.match(line.strip()):
        return True
    s = line.strip().strip("()（）[]【】◆◇■□●•").strip()
    if not s or len(s) > 80 or _END.search(s):
        return False
    rest = _DATE_LINE_START.sub("", s, count=1)
    dated = rest != s
    if dated and rest.strip() in ("", "发布", "發佈", "發布", "发表", "發表"):
        return True
    if _LABEL_START.match(rest) or _ISSUE_START.match(rest):
        return True
    if dated and _LABEL_AT.search(rest) and len(rest) <= 40:
        return True
    # "上海静安 上海静安 2024-01-18", "第三版:民生新闻 2022年08月16日": a short name, then a date.
    head = _DATE_LINE_END.sub("", s)
    return head != s and len(head) <= 20 and not re.search(r"[，,、]", head)


def _after_label(line: str, labels: str) -> str:
    m = re.search(rf"(?:{labels})\s*[:：]?\s*(.+)", line)
    if not m:
        return ""
    value = _LABEL_AT.split(m.group(1))[0]
    return re.split(r"\s{2,}|[()（）]", value.strip())[0].strip()


def meta_from_lines(lines: list[str]) -> IssueMeta:
    """Metadata from an issue's first lines: URL line, masthead, page header, 来源/时间/作者 lines.

    Example:
        >>> m = meta_from_lines(["# http://a.cn/1.html", "", "标题", "2021-04-13 15:34来源:人民網作者:佚名"])
        >>> m.url, m.date, m.paper, m.author
        ('http://a.cn/1.html', '2021-04-13', '人民網', '佚名')
    """
    url = paper = date = issue = author = previous = ""
    for raw in lines:
        line = raw.strip()
        m = URL_LINE.match(line)
        if m:
            url = url or m.group(1)
            continue
        if not line or _END.search(line):
            continue
        meta = is_meta_line(line)
        if meta or len(line) <= 30:   # a masthead or page header: "凉城社区晨报 2021年3月 第2版"
            label, name = _issue_label(line), _paper(line)
            if name == line and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", previous):
                name = previous + name   # a masthead set on two lines: "凉城" / "社区晨报"
            issue, paper = issue or label, paper or name
            if label or name:
                date = date or normalize_date(line)
        previous = line
        if meta:
            date = date or normalize_date(line)
            paper = paper or _after_label(line, "来源|來源|本文转自|本文轉自|稿源|出处|出處")
            author = author or _after_label(line, "作者|记者|記者")
            head = _DATE_LINE_END.sub("", line)
            if not paper and head != line and re.match(r"[\u4e00-\u9fff]{2,}", head) \
                    and not (_ISSUE.search(head) or _LABEL_AT.search(head)):
                paper = head.split()[0]   # "上海静安 2024-01-18": the account's name before the date
    return IssueMeta(paper=paper, date=date, issue=issue, url=url, author=author)


def meta_from_name(name: str) -> IssueMeta:
    """Metadata from a file name: "2021-03.pdf", "凉城社区晨报_2021年3月_第12期.docx".

    Example:
        >>> meta_from_name("2021-03.pdf").date, meta_from_name("晨报第12期.txt").issue
        ('2021-03', '第12期')
    """
    stem = name.rsplit(".", 1)[0]
    date = normalize_date(stem)
    if not date:
        m = re.search(r"(?<!\d)(19[5-9]\d|20\d\d)(0[1-9]|1[0-2])([0-3]\d)?(?!\d)", stem)
        if m:
            date = f"{m.group(1)}-{m.group(2)}" + (f"-{m.group(3)}" if m.group(3) and 1 <= int(m.group(3)) <= 31 else "")
    return IssueMeta(paper=_paper(stem), date=date, issue=_issue_label(stem))
