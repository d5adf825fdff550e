"""Group an issue's cleaned blocks into sections and articles, each with its title."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .clean import Block, is_complete

__all__ = ["Article", "segment_issue"]


@dataclass(frozen=True)
class Article:
    """One article of an issue.

    Attributes:
        source: the issue's file name.
        position: the article's order in the issue, from 0.
        section: the 【section】 banner it stands under ("" before any banner).
        title: its title; consecutive title lines are joined with a space.
        blocks: its body in order: ``text``, ``caption`` and sub-``heading`` blocks.
    """

    source: str
    position: int
    section: str
    title: str
    blocks: tuple[Block, ...]


def segment_issue(blocks: list[Block], source: str) -> list[Article]:
    """Split cleaned blocks into articles.

    A new article starts at a heading after a section banner, at the start of the
    issue, or after body text across a layout gap (two or more blank lines). In an
    issue written with Markdown headings, only those headings start articles. A
    heading that follows body text closely is a sub-heading and stays in the article.
    An article that jumps to another page ("下转第二版") takes in the text after the
    matching "上接第一版" marker.

    Example:
        >>> from rag.clean import clean_text
        >>> arts = segment_issue(clean_text("【宜居家园】\\n\\n停车难题化解\\n\\n新增了7个停车位。"), "a.txt")
        >>> (arts[0].section, arts[0].title, arts[0].blocks[0].text)
        ('宜居家园', '停车难题化解', '新增了7个停车位。')
    """
    markdown = any(b.kind == "heading" and b.level for b in blocks)
    articles: list[Article] = []
    section, title_parts, body = "", [], []
    jumped: list[int] = []         # articles that go on elsewhere ("下转第二版"), oldest first
    resume: int | None = None      # the article the body being collected goes on with

    def flush() -> None:
        nonlocal title_parts, body, resume
        if resume is not None and body:   # the rest of an article continued from another page
            last = articles[resume]
            articles[resume] = dataclasses.replace(last, blocks=_rejoin(last.blocks, body))
        elif any(b.kind == "text" for b in body):
            articles.append(Article(source, len(articles), section,
                                    " ".join(title_parts), tuple(body)))
        elif body and articles:  # stray captions with no text: keep them with the last article
            last = articles[-1]
            articles[-1] = dataclasses.replace(last, blocks=last.blocks + tuple(body))
        title_parts, body, resume = [], [], None

    for b in blocks:
        if b.kind == "banner":
            flush()
            section = b.text
            continue
        if b.kind == "jump":
            if b.text.startswith("下转") or b.text.startswith("下轉"):
                flush()
                if articles:
                    jumped.append(len(articles) - 1)
            elif jumped:   # "上接第一版": what follows (after a repeated title) belongs to that article
                if not any(x.kind == "text" for x in body):
                    title_parts = []
                while body and body[-1].kind == "heading":
                    body.pop()
                flush()
                resume = jumped.pop(0)
            continue
        if b.kind != "heading":
            body.append(b)
            continue
        has_text = any(x.kind == "text" for x in body)
        starts_article = (b.level > 0 if markdown else (not has_text or b.gap >= 2))
        if resume is not None and not has_text and not body:
            continue                        # a repeated title right after "上接第一版"
        if not has_text and (not markdown or b.level > 0 or not title_parts):
            if not any(b.text in t for t in title_parts):   # a web page repeats its headline
                title_parts.append(b.text)  # still collecting the title
        elif starts_article:
            flush()
            title_parts.append(b.text)
        else:
            body.append(b)                  # a sub-heading inside the article
    flush()
    return articles


def _rejoin(blocks: tuple[Block, ...], more: list[Block]) -> tuple[Block, ...]:
    """An article's blocks with its continuation appended; a sentence cut at the jump is joined."""
    texts = [k for k, b in enumerate(blocks) if b.kind == "text"]
    if texts and more[0].kind == "text" and not is_complete(blocks[texts[-1]].text):
        k, head = texts[-1], more[0]
        cut = blocks[k]
        marks = cut.page_marks + ((len(cut.text), head.page),) if head.page and head.page != cut.page else cut.page_marks
        joined = dataclasses.replace(cut, text=cut.text + head.text, cuts=cut.cuts + (len(cut.text),) + tuple(
            len(cut.text) + c for c in head.cuts), page_marks=marks + tuple((len(cut.text) + o, p) for o, p in head.page_marks))
        return blocks[:k] + (joined,) + blocks[k + 1:] + tuple(more[1:])
    return blocks + tuple(more)
