"""Group an issue's cleaned blocks into sections and articles, each with its title."""

from __future__ import annotations

from dataclasses import dataclass

from .clean import Block

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

    Example:
        >>> from rag.clean import clean_text
        >>> arts = segment_issue(clean_text("【宜居家园】\\n\\n停车难题化解\\n\\n新增了7个停车位。"), "a.txt")
        >>> (arts[0].section, arts[0].title, arts[0].blocks[0].text)
        ('宜居家园', '停车难题化解', '新增了7个停车位。')
    """
    markdown = any(b.kind == "heading" and b.level for b in blocks)
    articles: list[Article] = []
    section, title_parts, body = "", [], []

    def flush() -> None:
        nonlocal title_parts, body
        if any(b.kind == "text" for b in body):
            articles.append(Article(source, len(articles), section,
                                    " ".join(title_parts), tuple(body)))
        elif body and articles:  # stray captions with no text: keep them with the last article
            last = articles[-1]
            articles[-1] = Article(last.source, last.position, last.section, last.title,
                                   last.blocks + tuple(body))
        title_parts, body = [], []

    for b in blocks:
        if b.kind == "banner":
            flush()
            section = b.text
            continue
        if b.kind != "heading":
            body.append(b)
            continue
        has_text = any(x.kind == "text" for x in body)
        starts_article = (b.level > 0 if markdown else (not has_text or b.gap >= 2))
        if not has_text and (not markdown or b.level > 0 or not title_parts):
            title_parts.append(b.text)      # still collecting the title
        elif starts_article:
            flush()
            title_parts.append(b.text)
        else:
            body.append(b)                  # a sub-heading inside the article
    flush()
    return articles
