"""The chat's HTML: answers with their cited sources, the source viewer, the status line.

No gradio here (``app.py`` builds the page). Everything that came from the sources or the
user is escaped; a question is shown as typed, never as markup.
"""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote

__all__ = ["highlight", "render_answer", "source_label", "render_error", "render_status",
           "question_html", "render_source"]


def highlight(quote: str, span: str | None) -> str:
    """Escape ``quote`` as HTML and wrap the first occurrence of ``span`` in <mark>.

    When the exact span is absent (the short answer may be rephrased), the longest piece
    of it (at least two characters) found in the quote is marked instead.
    """
    span = (span or "").strip()
    best = ""
    for i in range(len(span)):
        for j in range(len(span), i + len(best), -1):  # only pieces longer than the best so far
            if j - i >= 2 and span[i:j] in quote:
                best = span[i:j]
                break
    if len(best) < 2:
        return html.escape(quote)
    at = quote.index(best)
    return (html.escape(quote[:at]) + "<mark>" + html.escape(best) + "</mark>"
            + html.escape(quote[at + len(best):]))


def _markers(text: str) -> str:
    """Escape the answer text, style its [n] markers and keep its line breaks."""
    out = re.sub(r"\[(\d+)\]", r'<span class="rag-ref">[\1]</span>', html.escape(text))
    return out.replace("\n", "<br>")


def render_answer(answer) -> str:
    """One assistant message as HTML: short answer, text with [n], then the cited sources.

    Everything that came from the sources or the user is escaped. The HTML is kept on a
    single line so the chat's Markdown renderer treats it as one block.
    """
    if not answer.found:  # the library's refusal says why; keep ours for when it is silent
        note = _markers(answer.text) if answer.text else "抱歉，现有的社区报里没有找到这个问题的答案。"
        return f'<div class="rag-answer rag-refusal">{note}</div>'
    parts = ['<div class="rag-answer">']
    if answer.short_answer:
        parts.append(f'<div class="rag-short">答：<strong>{html.escape(answer.short_answer)}'
                     "</strong></div>")
    parts.append(f'<div class="rag-text">{_markers(answer.text)}</div>')
    if answer.citations:
        parts.append('<div class="rag-sources"><div class="rag-sources-h">来源</div>')
        for c in answer.citations:
            section = c.section if not c.section or c.section.startswith("【") else f"【{c.section}】"
            meta = " · ".join(html.escape(x) for x in (section, source_label(c)) if x)
            parts.append(
                f'<div class="rag-src" title="点击查看原文"><span class="rag-ref">[{int(c.n)}]</span> '
                f'<span class="rag-src-title">{html.escape(c.title or "（无标题）")}</span>'
                f'<div class="rag-meta">{meta} {_cite_link(c)}</div>'
                f'<div class="rag-quote">{highlight(c.quote, answer.short_answer)}</div></div>')
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def _date_label(date: str) -> str:
    """"2021-03" -> "2021年3月", "2021-03-15" -> "2021年3月15日", "2021" -> "2021年"."""
    parts = [int(p) for p in date.split("-") if p.isdigit()]
    return "".join(f"{n}{unit}" for n, unit in zip(parts, "年月日"))


def source_label(c) -> str:
    """Where a citation comes from, as a reader names it: "凉城社区晨报 · 2021年3月 · 第2版 · 第2页".

    Without the paper's name the file name stands first: "青桐苑_第1期.txt · 第1期".
    """
    page = getattr(c, "page", None)
    fields = [getattr(c, "paper", "") or c.source, _date_label(getattr(c, "date", "") or ""),
              getattr(c, "issue", ""), f"第{int(page)}页" if page else ""]
    return " · ".join(f for f in fields if f)


def _cite_link(c) -> str:
    """The 查看原文 link; its href carries what the source viewer needs (see VIEWER_JS).

    The chat's HTML sanitizer drops data- attributes but keeps a fragment link.
    """
    data = json.dumps({"source": c.source, "page": getattr(c, "page", None), "quote": c.quote},
                      ensure_ascii=False)
    return f'<a class="rag-open" href="#cite:{html.escape(quote(data, safe=""), quote=True)}">查看原文</a>'


def render_error(message: str) -> str:
    return f'<div class="rag-answer rag-error">{html.escape(message)}</div>'


def render_status(status: dict) -> str:
    return (f"已收录 **{status['documents']}** 期报纸 · **{status['articles']}** 篇文章 · "
            f"**{status['chunks']}** 个片段 · 模型 `{status['model']}`")


# HTML and Markdown specials as numeric entities: a question is shown as typed, never as markup
# (html.escape alone would leave "![x](http://…)" to the chat's Markdown renderer: an image from
# anywhere).
_SHOWN_AS_TYPED = str.maketrans({c: f"&#{ord(c)};" for c in "<>&\"'\\`*_[]()!#|~$"})


def question_html(question: str) -> str:
    """The user's question as one line of inert HTML for the chat."""
    lines = question.translate(_SHOWN_AS_TYPED).splitlines()
    return f'<div class="rag-question">{"<br>".join(lines)}</div>'


def _mark_quote(text: str, quote: str) -> str:
    """The article text as HTML paragraphs, the quote marked where it stands."""
    at = text.find(quote) if quote else -1
    if at < 0:
        return "".join(f"<p>{highlight(p, quote)}</p>" for p in text.split("\n") if p.strip())
    marked = (html.escape(text[:at]) + "\x00" + html.escape(quote) + "\x01" + html.escape(text[at + len(quote):]))
    paras = [p for p in marked.split("\n") if p.strip()]
    out, open_mark = [], False
    for p in paras:   # a quote never spans paragraphs, but keep the tags balanced if it did
        p = ("<mark>" if open_mark else "") + p.replace("\x00", "<mark>").replace("\x01", "</mark>")
        open_mark = p.count("<mark>") > p.count("</mark>")
        out.append(f"<p>{p}{'</mark>' if open_mark else ''}</p>")
    return "".join(out)


def render_source(view) -> str:
    """The viewer's HTML for a ``rag.sourceview.SourceView``: the page image, or the article."""
    page_label = f"第{view.page}页" if view.page else ""
    meta = view.meta or {}
    issue = meta.get("issue", "")
    pages = meta.get("page_issues") or []
    if view.page and 0 < view.page <= len(pages) and pages[view.page - 1]:
        issue = pages[view.page - 1]
    label = " · ".join(x for x in (meta.get("paper", ""), _date_label(meta.get("date", "")), issue,
                                   page_label) if x)
    parts = ['<div class="rag-viewer-head">',
             f'<span class="rag-src-title">{html.escape(view.title or view.source)}</span>',
             f'<div class="rag-meta">{html.escape(" · ".join(x for x in (label, view.source) if x))}']
    if meta.get("url", "").startswith(("http://", "https://")):
        parts.append(f' · <a href="{html.escape(meta["url"], quote=True)}" target="_blank" '
                     'rel="noopener noreferrer">原网页</a>')
    parts.append("</div>")
    if view.page and view.page in (meta.get("ocr_pages") or []):
        parts.append('<div class="rag-ocr-note">此页为扫描件，文字由 OCR 识别，可能有错字，请以页面图像为准。</div>')
    parts.append("</div>")
    if view.image:
        data = base64.b64encode(view.image).decode("ascii")
        parts.append(f'<img class="rag-page" alt="{html.escape(page_label)}，引文已标出" '
                     f'src="data:image/png;base64,{data}">')
    if view.text and not view.image:
        parts.append(f'<div class="rag-article">{_mark_quote(view.text, view.quote)}</div>')
    return "".join(parts)

