"""Read a saved web page (.html/.htm): the article body only, with the page's metadata.

A WeChat article keeps its body in ``#js_content``, hidden by a style until a script shows
it; main-text extractors that skip hidden elements drop it, so it is read directly. Other
pages go through trafilatura with ``favor_precision=True`` (navigation, counters and
comment boxes left out). Title, date, author, URL and site come from the page's metadata.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from .errors import IngestError
from .ingest import Document, paragraphs_document
from .meta import IssueMeta, meta_from_lines, normalize_date

__all__ = ["read_html"]

log = logging.getLogger(__name__)

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)""", re.I)
_BLOCKS = {"p", "section", "div", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "td", "pre", "figcaption"}
_DROP = ("script", "style", "noscript", "iframe", "svg", "button", "form", "mpvoice", "mp-miniprogram")
_WECHAT_TIME = re.compile(r"""\b(?:var\s+)?ct\s*=\s*["'](\d{10})["']""")
# a photo caption: <figcaption>, a "caption"/"img_desc" class, or small type (WeChat sets 12-13px)
_CAPTION_CLASS = re.compile(r"caption|desc|pic_?txt|img_?text", re.I)
_SMALL_TYPE = re.compile(r"font-size\s*:\s*(\d+(?:\.\d+)?)px", re.I)


def _decode(data: bytes, name: str) -> str:
    m = _CHARSET.search(data[:4096])
    for enc in ([m.group(1).decode("ascii", "replace")] if m else []) + ["utf-8", "gb18030"]:
        try:
            return data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
    raise IngestError(f"{name}: cannot decode the page (not UTF-8 nor GBK); save it again as UTF-8 HTML")


def _meta(tree, *keys: str) -> str:
    for key in keys:
        for attr in ("property", "name", "itemprop"):
            found = tree.xpath(f"//meta[@{attr}=$k]/@content", k=key)
            if found and found[0].strip():
                return found[0].strip()
    return ""


def _text_of(tree, xpath: str) -> str:
    found = tree.xpath(xpath)
    return " ".join(found[0].text_content().split()) if found else ""


def _is_caption(el) -> bool:
    for node in (el, *el.iterdescendants()):
        if not isinstance(node.tag, str):
            continue
        m = _SMALL_TYPE.search(node.get("style") or "")
        if node.tag == "figcaption" or _CAPTION_CLASS.search(node.get("class") or "") or \
                (m and float(m.group(1)) <= 13):
            return True
    return False


def _paragraphs(root) -> tuple[list[str], set[int]]:
    """The text of each innermost block element under ``root``, in document order, and the
    indexes of those that are photo captions."""
    out, captions = [], set()
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag not in _BLOCKS:
            continue
        if any(isinstance(d.tag, str) and d.tag in _BLOCKS for d in el.iterdescendants()):
            continue
        text = " ".join(el.text_content().split())
        if text:
            if _is_caption(el):
                captions.add(len(out))
            out.append(text)
    return out, captions


def _trafilatura(page: str) -> list[str]:
    import trafilatura
    text = trafilatura.extract(page, favor_precision=True, include_comments=False,
                               include_tables=True, deduplicate=True) or ""
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_html(data: bytes, name: str) -> Document:
    """Read a saved article page: ``# title``, then its paragraphs one blank line apart.

    Raises:
        IngestError: undecodable, not HTML, or no article text in it.
    """
    import lxml.html
    from lxml import etree

    page = _decode(data, name)
    try:
        tree = lxml.html.document_fromstring(page.encode("utf-8"), parser=lxml.html.HTMLParser(
            encoding="utf-8", remove_comments=True, huge_tree=False))
    except (etree.ParserError, ValueError) as e:
        raise IngestError(f"{name}: not a readable HTML page ({e})") from None
    title = (_meta(tree, "og:title", "twitter:title") or _text_of(tree, "//*[@id='activity-name']")
             or _text_of(tree, "//title") or _text_of(tree, "//h1"))
    wechat_name = _text_of(tree, "//*[@id='js_name']")
    paper = wechat_name or _meta(tree, "og:site_name", "application-name")
    date = normalize_date(_meta(tree, "article:published_time", "pubdate", "publishdate", "date",
                                "datePublished") or _text_of(tree, "//*[@id='publish_time']"))
    m = _WECHAT_TIME.search(page)
    if not date and m:
        date = dt.datetime.fromtimestamp(int(m.group(1)), dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d")
    url = _meta(tree, "og:url") or "".join(tree.xpath("//link[@rel='canonical']/@href")[:1])
    author = _meta(tree, "author", "article:author", "og:article:author")

    body = tree.xpath("//*[@id='js_content']")
    if body:
        for el in body[0].xpath(".//" + " | .//".join(_DROP)):
            el.drop_tree()
        paragraphs, captions = _paragraphs(body[0])
    else:
        paragraphs, captions = _trafilatura(page), set()
    if not paragraphs:
        raise IngestError(f"{name}: no article text found in the page; save the article page itself "
                          "(not a list or a login page), or copy its text into a .txt file")
    stated = meta_from_lines(paragraphs[:8])
    if title and paragraphs[0] == title:   # the headline is set as a title either way
        paragraphs = paragraphs[1:]
        captions = {k - 1 for k in captions if k}
    head = [f"# {title}"] if title else []
    meta = IssueMeta(paper=paper, date=date, url=url, title=title, author=author).filled_from(stated)
    return paragraphs_document(head + paragraphs, meta, {k + len(head) for k in captions})
