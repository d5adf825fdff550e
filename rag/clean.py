"""Repair the page-layout damage in text pulled out of printed issues.

The text arrives as lines separated by blank lines. Three kinds of damage are repaired:

* a sentence cut by a page break ("…催人砥砺奋进的" / "征程路，在新时代…") is joined again;
* a photo caption that landed inside the cut ("活动现场") is kept, as a caption, after
  the repaired paragraph instead of in the middle of the sentence;
* masthead and QR-code lines ("扫描二维码关注", "SHANGHAI COMMUNITY NEWS") are dropped.

The result is a list of :class:`Block`; :mod:`rag.segment` groups them into articles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["Block", "clean_text", "is_complete", "END_PUNCT"]

END_PUNCT = "。！？!?；;…"
_CLOSERS = "”’」』）)》〉】\"'"
_BANNER = re.compile(r"^【[^】]{1,20}】$")
_MD_HEADING = re.compile(r"^(#{1,6})\s*(.+?)\s*#*$")
_BODY_PUNCT = re.compile(r"[，,、。；;！？!?]")   # not the colon: "云台一：赠人玫瑰 手留余香" is a heading
_MASTHEAD = [
    re.compile(r"扫描?二维码|扫码关注|关注.{0,6}(公众号|微信)"),
    re.compile(r"联合(出版|主办)|主办单位|编辑部|投稿邮箱|^(主编|责任编辑|编辑|美编|校对)[:：\s]"),
    re.compile(r"^[^\u3400-\u9fff。！？]{1,40}$"),  # short and no CJK: "LIANG CHENG", "2021.05"
    re.compile(r"^(\S\s*/\s*){3,}\S$"),         # "自 / 家 / 门 / 口 / 这 / 点 / 事"
    re.compile(r"^第\s*\d+\s*期|^\d{4}年\d{1,2}月\d{1,2}日\s*(星期.)?$|^[（(]?本版.{0,10}[)）]?$"),
]
_BYLINE = re.compile(r"^[□■◎●]?\s*(本报)?(记者|通讯员|撰稿|摄影|供稿|文\s*/|图\s*/|文字)[\s/:：]*\S{0,12}(\s+\S{1,12})*$")
_CONTINUES = "，,、：:；“《（(「—"
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
    """

    kind: str
    text: str
    gap: int = 0
    level: int = 0
    cuts: tuple[int, ...] = ()


def is_complete(text: str) -> bool:
    """True when ``text`` ends a sentence (end punctuation, maybe followed by closing quotes)."""
    stripped = text.rstrip().rstrip(_CLOSERS)
    if not stripped:
        return True
    return stripped[-1] in END_PUNCT or stripped[-1] in "：:"


def _unbalanced(text: str) -> bool:
    pairs = ("“”", "《》", "（）", "()", "「」")
    return any(text.count(a) > text.count(b) for a, b in pairs)


def _is_masthead(line: str) -> bool:
    return any(p.search(line) for p in _MASTHEAD) or bool(_BYLINE.match(line))


def _body_like(text: str) -> bool:
    """A line that is part of running text, not a title or caption."""
    return len(text) > HEADING_MAX or bool(_BODY_PUNCT.search(text)) or _unbalanced(text)


def _continues(text: str, nxt: str, words: Callable[[str], Sequence[str]] | None) -> bool:
    """Does ``nxt`` carry on the sentence that ``text`` left unfinished at a page break?

    A long line or one ending in a comma or an open quote surely does. A shorter line may
    also be a title ("“橙”意满满,等你来打卡…"); it carries on only when the break splits a
    word ("…党建品" / "牌发布了…"), which the word segmenter tells.
    """
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


def _caption_like(text: str) -> bool:
    return len(text) <= CAPTION_MAX and not _body_like(text)


def _raw_lines(raw: str) -> list[tuple[str, int]]:
    """Non-blank lines with the number of blank lines before each."""
    out, gap, drop_next = [], 0, False
    for line in raw.replace("\ufeff", "").splitlines():
        line = line.strip().replace("\u3000", " ")
        if not line:
            gap += 1
            continue
        if drop_next and len(line) <= 20 and line[0] in "“\"「《":
            drop_next = False   # the account name under a QR code: “上海社区发布”
            continue
        drop_next = False
        if _is_masthead(line):
            drop_next = bool(_MASTHEAD[0].search(line))
            continue
        out.append((line, gap))
        gap = 0
    return out


def clean_text(raw: str, words: Callable[[str], Sequence[str]] | None = None) -> list[Block]:
    """Turn an issue's raw text into cleaned blocks.

    Args:
        raw: the issue's text as read.
        words: a word segmenter (``ChineseTokenizer.words``) used to tell a short line
            cut by a page break from a title; without it short lines count as titles.

    Example:
        >>> raw = "街道将品牌打造成为社会治理的金钥匙、美好生活的加油站、社区温度的连心桥、催人奋进的"
        >>> blocks = clean_text(raw + "\\n\\n\\n活动现场\\n\\n征程路，在新时代前行。")
        >>> [(b.kind, b.text[-15:]) for b in blocks]
        [('text', '人奋进的征程路，在新时代前行。'), ('caption', '活动现场')]
    """
    lines = _raw_lines(raw)
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        line, gap = lines[i]
        i += 1
        if _BANNER.match(line):
            blocks.append(Block("banner", line[1:-1].strip(), gap))
            continue
        md = _MD_HEADING.match(line)
        if md:
            blocks.append(Block("heading", md.group(2), gap, level=len(md.group(1))))
            continue
        # A short line that neither ends a sentence nor runs on is a title or sub-title.
        j, between = _continuation(lines, i)
        if len(line) <= HEADING_MAX and not is_complete(line) and \
                not (j < len(lines) and _continues(line, lines[j][0], words)):
            blocks.append(Block("heading", line, gap))
            continue
        text, cuts, captions = line, [], []
        # Join a paragraph cut by a page break with its continuation, setting aside
        # the captions that landed in between; a chain of cuts is followed to its end.
        while j < len(lines) and _continues(text, lines[j][0], words):
            if between or lines[j][1] > 0:
                cuts.append(len(text))
            text += lines[j][0]
            captions += between
            i = j + 1
            j, between = _continuation(lines, i)
        blocks.append(Block("text", text, gap, cuts=tuple(cuts)))
        blocks.extend(Block("caption", c) for c in captions)
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


def _continuation(lines: list[tuple[str, int]], i: int) -> tuple[int, list[str]]:
    """Index of the next line that could continue a cut sentence, and the captions before it.

    Returns ``len(lines)`` when a banner, a Markdown heading or the end comes first.
    """
    between = []
    while i < len(lines) and _caption_like(lines[i][0]) and not _BANNER.match(lines[i][0]) \
            and not _MD_HEADING.match(lines[i][0]):
        between.append(lines[i][0])
        i += 1
    if i < len(lines) and (_BANNER.match(lines[i][0]) or _MD_HEADING.match(lines[i][0])):
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
            out[k] = Block("caption", b.text, b.gap)
    return out
