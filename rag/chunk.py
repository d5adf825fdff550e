"""Sentence-aware chunks inside one article, with a little overlap."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .segment import Article

__all__ = ["Chunk", "split_sentences", "chunk_article"]

# A sentence ends at 。！？；… (or ASCII !?;), taking any closing quotes with it.
_SENTENCE = re.compile(r"[^。！？!?；;…]*(?:[。！？!?；;]+|…+|$)[”’」』）)》]*")
_CLAUSE = re.compile(r"[^，,、：:]*[，,、：:]?")


@dataclass(frozen=True)
class Chunk:
    """A passage of one article; what is embedded, indexed and cited.

    Attributes:
        id: ``"<source>#<article>.<position>"``, stable while the issue is unchanged.
        source / section / title: where it comes from (file name, 【section】, article title).
        article: the article's position in the issue; position: the chunk's in the article.
        heading: the sub-heading in force where the chunk starts ("" if none).
        text: whole sentences of the article; paragraphs are separated by ``\\n``.
        cuts: offsets in ``text`` where a page break was repaired (quotes must not span them).
        page: 1-based page of a paged file (PDF) where the chunk starts; None otherwise.
        page_marks: ``(offset, page)`` pairs: where in ``text`` a later page begins.
        paper / date / issue / url: the issue's metadata where the file states it: the
            paper's name, the date as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, the issue or
            page label ("第123期", "第2版"), the article's web address; "" when unknown.
    """

    id: str
    source: str
    section: str
    title: str
    article: int
    position: int
    heading: str
    text: str
    cuts: tuple[int, ...] = ()
    page: int | None = None
    paper: str = ""
    date: str = ""
    issue: str = ""
    url: str = ""
    page_marks: tuple[tuple[int, int], ...] = ()

    def page_of(self, quote: str) -> int | None:
        """The page on which ``quote`` (a piece of ``text``) starts; ``page`` if it is not found.

        Example:
            >>> c = Chunk("a.pdf#0.0", "a.pdf", "", "", 0, 0, "", "甲。乙。", page=1, page_marks=((2, 2),))
            >>> c.page_of("乙。"), c.page_of("甲。")
            (2, 1)
        """
        at = self.text.find(quote)
        if self.page is None or at < 0:
            return self.page
        page = self.page
        for offset, p in self.page_marks:
            if offset <= at:
                page = p
        return page

    @property
    def embed_text(self) -> str:
        """What the embedder and the lexical index see: title, sub-heading, then the text."""
        return "\n".join(x for x in (self.title, self.heading, self.text) if x)

    @property
    def sha(self) -> str:
        """Hash of ``embed_text``: the embedding cache key (with the model name)."""
        return hashlib.sha256(self.embed_text.encode("utf-8")).hexdigest()[:32]


def split_sentences(text: str, max_chars: int = 0) -> list[str]:
    """Split text into sentences; their concatenation is exactly ``text``.

    A sentence longer than ``max_chars`` (when given) is split further at commas.

    Example:
        >>> split_sentences("新增了7个停车位。“很好！”他说")
        ['新增了7个停车位。', '“很好！”', '他说']
    """
    out = []
    for line in text.splitlines(keepends=True):
        for s in _SENTENCE.findall(line):
            if not s:
                continue
            if max_chars and len(s) > max_chars:
                out.extend(_split_long(s, max_chars))
            else:
                out.append(s)
    return out


def _split_long(sentence: str, max_chars: int) -> list[str]:
    pieces, cur = [], ""
    for clause in (c for c in _CLAUSE.findall(sentence) if c):
        if cur and len(cur) + len(clause) > max_chars:
            pieces.append(cur)
            cur = ""
        cur += clause
        while len(cur) > max_chars:   # a clause with no comma at all: cut it hard
            pieces.append(cur[:max_chars])
            cur = cur[max_chars:]
    if cur:
        pieces.append(cur)
    return pieces


def chunk_article(article: Article, size: int = 300, overlap: int = 60) -> list[Chunk]:
    """Cut one article into chunks of about ``size`` characters made of whole sentences.

    The trailing sentences of a chunk (up to ``overlap`` characters) open the next one,
    so a fact told across a chunk boundary is still whole in one chunk.

    Example:
        >>> from rag.clean import Block
        >>> art = Article("a.txt", 0, "宜居家园", "停车", (Block("text", "甲。乙。"),))
        >>> [c.text for c in chunk_article(art, size=2, overlap=0)]
        ['甲。', '乙。']
    """
    # (sentence, sub-heading in force, offset of each repaired cut inside it,
    #  page where it starts, (offset, page) of each page turn inside it)
    units: list[tuple[str, str, tuple[int, ...], int | None, tuple[tuple[int, int], ...]]] = []
    heading = ""
    for block in article.blocks:
        if block.kind == "heading":
            heading = block.text
            continue
        if block.kind not in ("text", "caption"):
            continue
        start, page = 0, block.page
        for s in split_sentences(block.text, max_chars=size):
            cuts = tuple(c - start for c in block.cuts if start < c < start + len(s))
            marks = []
            for offset, p in block.page_marks:
                if offset <= start:
                    page = p
                elif offset < start + len(s):
                    marks.append((offset - start, p))
            units.append((s, heading, cuts, page, tuple(marks)))
            start += len(s)
        # The last sentence of a block ends its paragraph.
        if units:
            s, *rest = units[-1]
            units[-1] = (s if s.endswith("\n") else s + "\n", *rest)

    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, length = i, 0
        # A chunk ends at the size limit, and at a sub-heading: what follows is a new topic.
        while j < len(units) and (j == i or (length + len(units[j][0]) <= size
                                             and units[j][1] == units[i][1])):
            length += len(units[j][0])
            j += 1
        text, cuts, marks, page = "", [], [], units[i][3]
        for s, _, c, p, m in units[i:j]:
            cuts.extend(len(text) + x for x in c)
            if p != page:
                marks.append((len(text), p))
                page = p
            marks.extend((len(text) + x, q) for x, q in m)
            page = marks[-1][1] if marks else page
            text += s
        chunks.append(Chunk(
            id=f"{article.source}#{article.position}.{len(chunks)}",
            source=article.source, section=article.section, title=article.title,
            article=article.position, position=len(chunks), heading=units[i][1],
            text=text.rstrip("\n"), cuts=tuple(cuts), page=units[i][3], page_marks=tuple(marks)))
        if j >= len(units):
            break
        # Step back over trailing sentences that fit in the overlap, never to i itself.
        k, back = j, 0
        while k - 1 > i and back + len(units[k - 1][0]) <= overlap and units[k - 1][1] == units[j][1]:
            k -= 1
            back += len(units[k][0])
        i = k
    return chunks
