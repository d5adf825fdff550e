"""Repair the page-layout damage in text pulled out of printed issues.

The text arrives as lines separated by blank lines. Three kinds of damage are repaired:

* a sentence cut by a page break ("…催人砥砺奋进的" / "征程路，在新时代…") is joined again;
* a photo caption that landed inside the cut ("活动现场") is kept, as a caption, after
  the repaired paragraph instead of in the middle of the sentence;
* masthead and QR-code lines ("扫描二维码关注", "SHANGHAI COMMUNITY NEWS") are dropped, and so
  are metadata lines (a web article's ``# <url>`` line, 来源/时间/作者 lines: see :mod:`rag.meta`)
  and continuation markers ("(上接第一版)"), which become ``jump`` blocks.

Text extracted from a paged file (PDF) comes with a :class:`Layout`: where each page starts,
which lines the page showed running on into the next column or page, and which were set as
captions. The same repair then uses that evidence instead of guessing from the words.

The result is a list of :class:`Block`; :mod:`rag.segment` groups them into articles.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from .meta import URL_LINE, is_meta_line

__all__ = ["Block", "Layout", "clean_text", "is_complete", "END_PUNCT"]

END_PUNCT = "。！？!?；;…"
_CLOSERS = "”’」』）)》〉】\"'"
_BANNER = re.compile(r"^【[^】]{1,20}】$")
_NOT_BANNER = re.compile(r"^【(编者按|編者按|编者的话|編者的話|导读|導讀)】$")
_MD_HEADING = re.compile(r"^(#{1,6})\s*(.+?)\s*#*$")
_BODY_PUNCT = re.compile(r"[，,、。；;！？!?]")   # not the colon: "云台一：赠人玫瑰 手留余香" is a heading
_MASTHEAD = [
    re.compile(r"扫描?二维码|扫码关注|关注.{0,6}(公众号|微信)"),
    re.compile(r"联合(出版|主办)|主办单位|编辑部|投稿邮箱|^[◆◇■□●○▲△★☆•·]?\s*"
               r"(主编|责任编辑|编辑|美编|校对|[一二三初终]审|审核|监制|统筹|出品)[:：\s]"),
    re.compile(r"^[^\u3400-\u9fff。！？]{1,40}$"),  # short and no CJK: "LIANG CHENG", "2021.05"
    re.compile(r"^(\S\s*/\s*){3,}\S$"),         # "自 / 家 / 门 / 口 / 这 / 点 / 事"
    re.compile(r"^第\s*\d+\s*期|^\d{4}年\d{1,2}月\d{1,2}日\s*(星期.)?$|^[（(]?本版.{0,10}[)）]?$"),
]
_BYLINE = re.compile(r"^[□■◎●◆◇]?\s*(本报)?(记者|通讯员|撰稿|摄影|供稿|文\s*/|图\s*/|文字)[\s/:：]*\S{0,12}(\s+\S{1,12})*$")
_CONTINUES = "，,、：:；“《（(「—"
# "宛南六村新貌 孙云 摄", "图说:殷行街道优秀志愿者获颁荣誉证书。孙云 摄", "(效果图)。 受访者供图"
_PHOTO_CAPTION = re.compile(r"([\s。.][\u4e00-\u9fff]{2,4}(?:\s[\u4e00-\u9fff]{2,4})*\s*(摄|攝)|供图|供圖)$|^(图说|圖說|图为|圖為)[:：]")
# "(上接第一版)", "（下转第2版）": where an article jumps to or from another page.
_JUMP = re.compile(r"[（(]\s*(上接|下转|下轉|接上)\s*第?\s*[0-9一二三四五六七八九十]{1,3}\s*(版|页|頁)?\s*[)）]")
_DATE_PREFIX = re.compile(r"^(date|日期|時間|时间)[:：]?\s*\d{4}-\d{1,2}-\d{1,2}(\s+\d{1,2}:\d{2}(:\d{2})?)?\s+(?=\S)")  # a web page's "date 2026-01-02 萬里區…"
_BYLINE_END = re.compile(r"[（(][^（）()]{1,24}[)）]$")
CAPTION_MAX = 25
HEADING_MAX = 40


@dataclass(frozen=True)
class Block:
    """One cleaned piece of an issue.

    Attributes:
        kind: ``"banner"`` (a 【section】 line), ``"heading"``, ``"text"`` or ``"caption"``.
        text: the block's text; for a repaired paragraph, the parts joined.
        gap: blank lines before it in the source (two or more mark a layout break).
        level: ``#`` count of a Markdown heading, else 0.
        cuts: offsets in ``text`` where a page break was repaired and something (a
            caption, a page) stood in between in the source; a quote must not span them.
        page: the 1-based page where it starts (paged files only, else None).
        page_marks: ``(offset, page)`` pairs: where in ``text`` a later page begins.

    ``kind`` may also be ``"jump"``: a continuation marker ("上接第一版" / "下转第二版"),
    its text starting with 上接 or 下转.
    """

    kind: str
    text: str
    gap: int = 0
    level: int = 0
    cuts: tuple[int, ...] = ()
    page: int | None = None
    page_marks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Layout:
    """What a paged file's layout tells about its extracted text (offsets are into that text).

    Attributes:
        pages: the offset where each page starts (page 1 at ``pages[0]``).
        runs_on: start offsets of lines the page shows running on into the next column or
            page: the last row fills the column, and the sentence is unfinished or the next
            column goes on without the indent a new paragraph would have.
        captions: start offsets of lines set as captions (smaller type beside a photo).
    """

    pages: tuple[int, ...] = ()
    runs_on: frozenset[int] = frozenset()
    captions: frozenset[int] = frozenset()

    def page_at(self, offset: int) -> int | None:
        return bisect.bisect_right(self.pages, offset) if self.pages else None


class _Line(NamedTuple):
    text: str
    gap: int                 # blank lines before it
    page: int | None = None
    runs_on: bool = False    # the layout shows its sentence running on
    caption: bool = False    # a caption, by layout or by its "XX 摄" credit
    kind: str = ""           # "jump" for a continuation marker


def is_complete(text: str) -> bool:
    """True when ``text`` ends a sentence (end punctuation, maybe followed by closing quotes).

    A credit after the last sentence, "…用上电梯。(记者 鲁哲)", does not leave it open.
    """
    stripped = text.rstrip().rstrip(_CLOSERS)
    if not stripped:
        return True
    if stripped[-1] not in END_PUNCT and _BYLINE_END.search(text.rstrip()):
        before = _BYLINE_END.sub("", text.rstrip()).rstrip().rstrip(_CLOSERS)
        return bool(before) and before[-1] in END_PUNCT
    return stripped[-1] in END_PUNCT or stripped[-1] in "：:"


def _unbalanced(text: str) -> bool:
    pairs = ("“”", "《》", "（）", "()", "「」")
    return any(text.count(a) > text.count(b) for a, b in pairs)


def _is_masthead(line: str) -> bool:
    return any(p.search(line) for p in _MASTHEAD) or bool(_BYLINE.match(line))


def _body_like(text: str) -> bool:
    """A line that is part of running text, not a title or caption."""
    return len(text) > HEADING_MAX or bool(_BODY_PUNCT.search(text)) or _unbalanced(text)


def _continues(text: str, nxt: str, words: Callable[[str], Sequence[str]] | None,
               runs_on: bool = False) -> bool:
    """Does ``nxt`` carry on the sentence that ``text`` left unfinished at a page break?

    A long line or one ending in a comma or an open quote surely does, and so does one the
    page layout shows running on. A shorter line may also be a title ("“橙”意满满,等你来打卡…");
    it carries on only when the break splits a word ("…党建品" / "牌发布了…"), which the word
    segmenter tells.
    """
    if runs_on:   # the page shows it: the row fills the column and the text goes on unindented
        return True
    if is_complete(text):
        return False
    if len(text) > HEADING_MAX or text[-1] in _CONTINUES or _unbalanced(text):
        return True
    if words is None:
        return False
    tail, head = text[-4:], nxt[:4]
    edges, pos = set(), 0
    for w in words(tail + head):
        pos += len(w)
        edges.add(pos)
    return len(tail) not in edges


def _caption_like(line: _Line) -> bool:
    return line.caption or (len(line.text) <= CAPTION_MAX and not _body_like(line.text))


def _barrier(line: _Line) -> bool:
    """A line no cut sentence runs past: a banner, a Markdown heading, a jump marker."""
    return line.kind == "jump" or bool(_BANNER.match(line.text) or _MD_HEADING.match(line.text))


def _split_jumps(line: str) -> list[tuple[str, str]]:
    """A line as (kind, text) parts with its continuation markers apart: "(上接第一版)正文…"."""
    parts, at = [], 0
    for m in _JUMP.finditer(line):
        if line[at:m.start()].strip():
            parts.append(("", line[at:m.start()].strip()))
        parts.append(("jump", m.group(0).strip("（()） ").replace(" ", "")))
        at = m.end()
    if line[at:].strip():
        parts.append(("", line[at:].strip()))
    return parts


def _raw_lines(raw: str, layout: Layout | None = None) -> list[_Line]:
    """Non-blank lines with the blank lines before each, less mastheads and metadata lines."""
    out, gap, drop_next, pos = [], 0, False, 0
    for full in raw.splitlines(keepends=True):
        start, pos = pos, pos + len(full)
        line = _DATE_PREFIX.sub("", full.replace("\ufeff", "").strip().replace("\u3000", " "))
        if not line:
            gap += 1
            continue
        if drop_next and len(line) <= 20 and line[0] in "“\"「《":
            drop_next = False   # the account name under a QR code: “上海社区发布”
            continue
        drop_next = False
        if _is_masthead(line) or is_meta_line(line):
            drop_next = bool(_MASTHEAD[0].search(line))
            continue
        page = layout.page_at(start) if layout else None
        caption = bool(layout and start in layout.captions) or bool(_PHOTO_CAPTION.search(line))
        runs_on = bool(layout and start in layout.runs_on)
        for kind, text in _split_jumps(line):
            out.append(_Line(text, gap, page, runs_on, caption, kind))
            gap = 0
    return out


def clean_text(raw: str, words: Callable[[str], Sequence[str]] | None = None,
               layout: Layout | None = None) -> list[Block]:
    """Turn an issue's raw text into cleaned blocks.

    Args:
        raw: the issue's text as read.
        words: a word segmenter (``ChineseTokenizer.words``) used to tell a short line
            cut by a page break from a title; without it short lines count as titles.
        layout: what the pages showed, for text extracted from a paged file.

    Example:
        >>> raw = "街道将品牌打造成为社会治理的金钥匙、美好生活的加油站、社区温度的连心桥、催人奋进的"
        >>> blocks = clean_text(raw + "\\n\\n\\n活动现场\\n\\n征程路，在新时代前行。")
        >>> [(b.kind, b.text[-15:]) for b in blocks]
        [('text', '人奋进的征程路，在新时代前行。'), ('caption', '活动现场')]
    """
    lines = _raw_lines(raw, layout)
    first = next((x.strip() for x in raw.lstrip("\ufeff").splitlines() if x.strip()), "")
    headline = 0 if URL_LINE.match(first) else -1   # a web article: its first line is the headline
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        line, gap = ln.text, ln.gap
        i += 1
        if ln.kind == "jump":
            blocks.append(Block("jump", line, gap, page=ln.page))
            continue
        if _BANNER.match(line) and not _NOT_BANNER.match(line):
            blocks.append(Block("banner", line[1:-1].strip(), gap, page=ln.page))
            continue
        if _NOT_BANNER.match(line):
            continue
        md = _MD_HEADING.match(line)
        if md:
            blocks.append(Block("heading", md.group(2), gap, level=len(md.group(1)), page=ln.page))
            continue
        if ln.caption:
            blocks.append(Block("caption", line, gap, page=ln.page))
            continue
        # A short line that neither ends a sentence nor runs on is a title or sub-title.
        j, between = _continuation(lines, i)
        jumps_on = i < len(lines) and lines[i].kind == "jump" and lines[i].text[:2] in ("下转", "下轉")  # "…会议还听取了说明，(下转第2版)"
        # A web article's first line is its headline, unless it is a whole sentence of the body
        # ("口袋公园是指……之间。"): a page without a headline starts with its text.
        is_headline = i - 1 == headline and len(line) <= 2 * HEADING_MAX and \
            not line.rstrip().rstrip(_CLOSERS).endswith(("。", "；", ";"))
        if not jumps_on and (is_headline or
                             len(line) <= HEADING_MAX and not is_complete(line) and
                             not (j < len(lines) and _continues(line, lines[j].text, words, ln.runs_on))):
            blocks.append(Block("heading", line, gap, page=ln.page))
            continue
        text, cuts, captions, marks, page, runs_on = line, [], [], [], ln.page, ln.runs_on
        # Join a paragraph cut by a page break with its continuation, setting aside
        # the captions that landed in between; a chain of cuts is followed to its end.
        while j < len(lines) and _continues(text, lines[j].text, words, runs_on):
            nxt = lines[j]
            if between or nxt.gap > 0 or nxt.page != page:
                cuts.append(len(text))
            if nxt.page != page:
                marks.append((len(text), nxt.page))
                page = nxt.page
            text += nxt.text
            runs_on = nxt.runs_on
            captions += between
            i = j + 1
            j, between = _continuation(lines, i)
        blocks.append(Block("text", text, gap, cuts=tuple(cuts), page=ln.page, page_marks=tuple(marks)))
        blocks.extend(Block("caption", c.text, page=c.page) for c in captions)
    return _mark_captions(_drop_masthead_titles(blocks))


def _drop_masthead_titles(blocks: list[Block]) -> list[Block]:
    """Drop the paper's name lines ("凉城", "社区晨报") above the first article."""
    out, seen_text = [], False
    for b in blocks:
        seen_text = seen_text or b.kind == "text"
        if b.kind == "heading" and not seen_text and not b.level and len(b.text) <= 4:
            continue
        out.append(b)
    return out


def _continuation(lines: list[_Line], i: int) -> tuple[int, list[_Line]]:
    """Index of the next line that could continue a cut sentence, and the captions before it.

    Returns ``len(lines)`` when a banner, a Markdown heading, a jump marker or the end comes first.
    """
    between = []
    while i < len(lines) and _caption_like(lines[i]) and not _barrier(lines[i]):
        between.append(lines[i])
        i += 1
    if i < len(lines) and _barrier(lines[i]):
        return len(lines), between
    return i, between


def _mark_captions(blocks: list[Block]) -> list[Block]:
    """Short headings that are really photo captions become captions.

    A caption sits after a layout gap between a title and its first paragraph
    ("赠送感谢函"), or closes the issue or a section with nothing after it ("新增7个停车位").
    """
    out = list(blocks)
    for k, b in enumerate(out):
        if b.kind != "heading" or b.level or len(b.text) > CAPTION_MAX:
            continue
        prev = out[k - 1] if k else None
        nxt = out[k + 1] if k + 1 < len(out) else None
        after_title = (prev is not None and prev.kind == "heading" and b.gap >= 2
                       and nxt is not None and nxt.kind == "text" and nxt.gap < 2)
        closing = prev is not None and prev.kind in ("text", "caption") and b.gap >= 2 \
            and (nxt is None or nxt.kind == "banner")
        if after_title or closing:
            out[k] = dataclasses.replace(b, kind="caption")
    return out
