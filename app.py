"""Web chat over the community newspapers: cited answers, sources, adding a new issue.

UI code only; the library (``rag/``) never imports gradio.

    python app.py [--host H] [--port P] [--index-dir DIR]

Host and port fall back to GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, then 127.0.0.1:7860;
the index to RAG_INDEX_DIR, then ./index (built from seeds/ on first start if missing).
"""

from __future__ import annotations

import os

# Before gradio is imported: no telemetry and no version check, the app must run offline.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402
import base64  # noqa: E402
import hashlib  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import unicodedata  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

import gradio as gr  # noqa: E402

from rag.editors import EditorGate  # noqa: E402
from rag.errors import EmptyQuestionError, IndexWriteError, IngestError, RagError  # noqa: E402
from rag.ingest import SUPPORTED_SUFFIXES  # noqa: E402

log = logging.getLogger("app")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_SUFFIXES = SUPPORTED_SUFFIXES   # .txt .md .pdf .docx .html .htm
ALLOWED_TEXT = "、".join(ALLOWED_SUFFIXES[:-1]) + " 或 " + ALLOWED_SUFFIXES[-1]
ALL_PAPERS = "全部报纸"
EXAMPLES = ["兰岭园新增了多少个停车位？", "金梅园百姓会客厅的主题色是什么？",
            "曹杨新村是哪一年诞生的？", "凉城新村街道党工委书记是谁？"]
# System fonts only: gr.themes.GoogleFont would make the page fetch fonts from the internet.
FONTS = ["PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC",
         "Source Han Sans SC", "WenQuanYi Micro Hei", "ui-sans-serif", "system-ui", "sans-serif"]
MONO_FONTS = ["ui-monospace", "Consolas", "DejaVu Sans Mono", "monospace"]
CSS = """
.gradio-container { max-width: 980px !important; margin: 0 auto !important; }
#rag-title h1 { margin-bottom: 0; }
#rag-status { color: var(--body-text-color-subdued); font-size: 0.92em; }
.rag-short { font-size: 1.15em; margin-bottom: 0.4em; }
.rag-short strong { color: var(--color-accent); }
.rag-text { line-height: 1.75; }
.rag-ref { color: var(--color-accent); font-size: 0.85em; vertical-align: super; }
.rag-refusal { color: var(--body-text-color-subdued); }
.rag-error { color: var(--error-text-color); }
.rag-ok { color: var(--color-green-600, #16a34a); }
.rag-sources { margin-top: 0.8em; border-top: 1px solid var(--border-color-primary); }
.rag-sources-h { font-size: 0.85em; color: var(--body-text-color-subdued); margin: 0.5em 0 0.2em; }
.rag-src { margin: 0.5em 0; }
.rag-src-title { font-weight: 600; }
.rag-meta { font-size: 0.82em; color: var(--body-text-color-subdued); }
.rag-ocr-note { font-size: 0.82em; color: #a15c00; }
.rag-quote { margin: 0.25em 0 0; padding: 0.3em 0.7em; border-left: 3px solid var(--color-accent);
             background: var(--background-fill-secondary); font-size: 0.92em; line-height: 1.7; }
.rag-quote mark { background: #ffe58f; color: inherit; padding: 0 2px; border-radius: 2px; }
#rag-upload-msg { min-height: 1.5em; }
#rag-examples { gap: 8px; align-items: center; flex-wrap: wrap; }
#rag-examples > * { flex: 0 0 auto !important; min-width: 0 !important; width: auto !important; }
#rag-examples button { white-space: nowrap; padding: 4px 12px; }
.rag-try { color: var(--body-text-color-subdued); font-size: 0.9em; white-space: nowrap; }
"""


class UploadRejected(ValueError):
    """An uploaded file is refused before it reaches the library (type, size or name)."""


def clean_filename(name: str) -> str:
    """Return a safe base name for an uploaded issue file.

    Drops any directory part (both / and \\), keeps letters (Chinese included), digits,
    ``-``, ``_`` and ``.``, and refuses any type the library cannot read.

    Example:
        >>> clean_filename("../../etc/第3期 社区报.TXT")
        '第3期_社区报.txt'
    """
    base = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in ALLOWED_SUFFIXES:
        raise UploadRejected(f"只能添加 {ALLOWED_TEXT} 文件，收到的是「{base or name}」。")
    stem = re.sub(r"[^\w\-.]+", "_", stem).strip("._-")[:80] or "upload"
    return f"{stem}.{suffix.lower()}"


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


def _store_upload(src: Path, uploads_dir: Path) -> Path:
    """Copy an uploaded file into ``uploads_dir`` under a clean name; return the destination.

    Until :func:`_settle_upload` runs, a marker ``.<name>.pending`` (and, if a file was
    replaced, its bytes in ``.<name>.previous``) lets a failed indexing, or the next start
    after a crash (:func:`recover_uploads`), put things back as they were.
    """
    name = clean_filename(src.name)
    size = src.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"文件太大（{size / 2**20:.1f} MB），上限为 "
                             f"{MAX_UPLOAD_BYTES // 2**20} MB。")
    if size == 0:
        raise UploadRejected("文件是空的。")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    dest = uploads_dir / name
    _pending(dest).touch()
    if dest.exists():
        shutil.copyfile(dest, _previous(dest))
    incoming = uploads_dir / f".{name}.incoming"
    shutil.copyfile(src, incoming)
    os.replace(incoming, dest)   # never a half-copied issue under its own name
    return dest


def _pending(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.pending")


def _previous(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.previous")


def _settle_upload(dest: Path, added: bool) -> None:
    """Keep the upload (``added``) or put back what was there before; then drop the marker."""
    previous = _previous(dest)
    if added:
        previous.unlink(missing_ok=True)
    elif previous.exists():
        os.replace(previous, dest)
    else:
        dest.unlink(missing_ok=True)
    _pending(dest).unlink(missing_ok=True)


def recover_uploads(uploads_dir: Path, indexed: dict) -> list[str]:
    """After a crash mid-upload, make the uploads folder agree with the index.

    ``indexed`` is the manifest's ``files``. An upload whose marker is left is kept if the
    index holds exactly its bytes (the crash came after the switch), else put back as it
    was. Returns the names of the uploads that were not added.
    """
    lost = []
    for marker in sorted(uploads_dir.glob(".*.pending")):
        dest = uploads_dir / marker.name[1:-len(".pending")]
        entry = indexed.get(dest.name) or {}
        added = dest.is_file() and entry.get("sha256") == hashlib.sha256(dest.read_bytes()).hexdigest()
        _settle_upload(dest, added)
        if not added:
            lost.append(dest.name)
            log.warning("the upload of %s was interrupted and was NOT added; upload it again", dest.name)
    for partial in uploads_dir.glob(".*.incoming"):
        partial.unlink()
    return lost


def reply_to(assistant, question: str, previous: list[str], paper: str | None = None,
             since: str | None = None, until: str | None = None) -> str:
    """The assistant's chat message for ``question`` as HTML; errors become a message.

    ``paper``/``since``/``until`` come from the chat's filter selector ("全部" or empty: none).
    """
    filters = {k: v.strip() for k, v in dict(paper=paper, since=since, until=until).items()
               if v and v.strip() and v != ALL_PAPERS}
    try:
        return render_answer(assistant.ask(question, previous=list(previous), **filters))
    except EmptyQuestionError:
        return render_error("请先输入一个问题。")
    except RagError as exc:
        log.warning("question %r failed: %s", question, exc)
        return render_error(f"出错了：{exc}")
    except Exception:  # the page must show a message, never a stack trace
        log.exception("question %r failed", question)
        return render_error("系统出错了，请稍后再试。")


def _progress_text(desc: str) -> str:
    """The library's progress step in Chinese: "embedding 3/9 new chunks" -> "正在向量化新片段 3/9"."""
    m = re.match(r"embedding (\d+)/(\d+)", desc)
    if m:
        return f"正在向量化新片段 {m.group(1)}/{m.group(2)}…"
    if desc.startswith("reading"):
        return "正在读取文件…"
    if desc.startswith("saving"):
        return "正在保存索引…"
    if desc.startswith("another sync"):
        return "另一个索引任务正在进行，等它完成后再添加…"
    return "完成" if desc == "done" else "正在建立索引…"


def add_upload(assistant, src: Path, uploads_dir: Path, progress=None) -> tuple[bool, str]:
    """Store an uploaded issue under ``uploads_dir`` and index it; return (ok, message).

    On any failure the uploads folder is put back as it was (the library leaves the index
    as it was), and the message says why.
    """
    try:
        dest = _store_upload(src, uploads_dir)
    except UploadRejected as exc:
        return False, f"未添加：{exc}"
    except OSError as exc:   # a full disk, say: nothing was indexed
        log.error("storing upload %s failed: %s", src.name, exc)
        return False, f"未添加：服务器无法保存文件（{exc.strerror or exc}），索引保持不变。"
    try:
        summary = assistant.add_files([dest], progress=progress)
    except Exception as exc:
        _settle_upload(dest, added=False)
        if not isinstance(exc, RagError):
            log.exception("adding %s failed", dest)
        reason = str(exc) if isinstance(exc, (IngestError, IndexWriteError)) else "索引时出错，详情见服务器日志"
        return False, f"未能添加「{dest.name}」，索引保持不变。原因：{reason}"
    _settle_upload(dest, added=True)
    return True, (f"已添加「{dest.name}」：新增 {summary['embedded']} 个片段，"
                  f"复用 {summary['reused']} 个，用时 {summary['seconds']:.1f} 秒。现在可以提问了。")


# HTML and Markdown specials as numeric entities: a question is shown as typed, never as markup
# (html.escape alone would leave "![x](http://…)" to the chat's Markdown renderer: an image from
# anywhere).
_SHOWN_AS_TYPED = str.maketrans({c: f"&#{ord(c)};" for c in "<>&\"'\\`*_[]()!#|~$"})


def question_html(question: str) -> str:
    """The user's question as one line of inert HTML for the chat."""
    lines = question.translate(_SHOWN_AS_TYPED).splitlines()
    return f'<div class="rag-question">{"<br>".join(lines)}</div>'


def chat_turn(assistant, question: str, history: list, questions: list[str], paper: str | None = None,
              since: str | None = None, until: str | None = None) -> tuple[str, list, list[str]]:
    """One turn of the chat: (cleared box, history with the escaped question and its answer,
    questions); ``paper``/``since``/``until`` as in :func:`reply_to`."""
    question = (question or "").strip()
    history = list(history or [])
    if not question:
        history.append({"role": "assistant", "content": render_error("请先输入一个问题。")})
        return "", history, questions
    history.append({"role": "user", "content": question_html(question)})
    history.append({"role": "assistant",
                    "content": reply_to(assistant, question, questions, paper, since, until)})
    return "", history, [*questions, question]


# The queue, set for a 2-core server. Answering is CPU-bound (~45-50 ms of server CPU per answer
# through the HTTP API, measured by benchmarks/load.py), so two answers at once keep both cores
# busy (the torch backend runs one thread per answer: see _one_thread_per_answer) and a slow
# English answer does not hold up the rest; with the int8 ONNX backend one worker and two
# measured the same within noise (20 users, side by side). More would only make each slower.
# A full queue refuses at once ("queue full") rather than letting waits grow without bound:
# 200 waiting questions are about 5-10 s of work. Uploads run one at a time in their own pool,
# so an upload never holds up a question.
CHAT_WORKERS = 2
QUEUE_MAX = 200


def _client(request) -> str:
    return getattr(getattr(request, "client", None), "host", None) or "unknown"


def _upload_panel(gate: EditorGate, notice: str):
    """The 添加新一期报纸 panel: (file, password box or None, message), or None when closed."""
    with gr.Accordion("添加新一期报纸", open=bool(notice), elem_id="rag-upload-box"):
        if not gate.uploads_offered:
            # No file component and no upload event: no HTTP endpoint of the page takes a file.
            gr.Markdown("此页面对局域网开放，尚未设置编辑口令，所以这里不能添加报纸。管理员可以用 "
                        "`python app.py --editor-password 口令`（或环境变量 `RAG_EDITOR_PASSWORD`）"
                        "重新启动以开放上传，或在服务器上运行 `rag index 文件或文件夹`。",
                        elem_id="rag-upload-off")
            return None
        password = None
        if gate.mode == "password":
            password = gr.Textbox(label="编辑口令", type="password", elem_id="rag-editor-password",
                                  placeholder="先输入编辑口令，再选择文件")
        gr.Markdown(f"上传 {ALLOWED_TEXT} 文件（不超过 {MAX_UPLOAD_BYTES // 2**20} MB）："
                    "PDF 需带文字层（扫描件请先识别文字）；网页请保存文章页本身。"
                    "只为新内容计算向量；索引完成前，问题照常用现有索引回答。")
        upload = gr.File(label="选择文件", type="filepath", file_count="single",
                         elem_id="rag-upload", height=150)
        upload_msg = gr.Markdown(notice, elem_id="rag-upload-msg")
    return upload, password, upload_msg


def build_demo(assistant, gate: EditorGate | None = None, interrupted: list[str] = ()) -> gr.Blocks:
    """The chat page around a loaded ``rag.service.Assistant``.

    ``gate`` decides who may add issues (default: open, as on loopback with no password);
    ``interrupted`` names uploads a crash cut short, to tell the editor they were not added.
    Theme and CSS are launch options in Gradio 6: launch with ``**launch_options()``.
    """
    gate = gate or EditorGate.for_host("127.0.0.1")
    uploads_dir = Path(assistant.status()["index_dir"]) / "uploads"
    notice = "".join(f'<div class="rag-error">上次上传「{html.escape(name)}」时服务器中断，'
                     "该文件未添加，请重新上传。</div>" for name in interrupted)

    def respond(question, history, questions, paper=None, since=None, until=None):
        return chat_turn(assistant, question, history, questions, paper, since, until)

    def add_issue(path, password="", request: gr.Request = None, progress=gr.Progress()):
        if not path:
            return gr.update(), gr.update(), None
        refusal = gate.check(password, _client(request))   # on the server, for every upload
        if refusal:
            return f'<div class="rag-error">{html.escape(refusal)}</div>', gr.update(), None
        progress(0.0, desc="正在读取文件…")
        # The library reports its steps in English; the page says the same in Chinese.
        ok, message = add_upload(assistant, Path(path), uploads_dir,
                                 progress=lambda frac, desc: progress(frac, desc=_progress_text(desc)))
        css = "rag-ok" if ok else "rag-error"
        return (f'<div class="{css}">{html.escape(message)}</div>',
                render_status(assistant.status()), None)

    with gr.Blocks(title="社区报问答", analytics_enabled=False) as demo:
        gr.Markdown("# 社区报问答\n根据街道社区报的原文回答问题，每个答案都标出出处，方便核对。",
                    elem_id="rag-title")
        # Filled on each page load, so a visitor after an upload sees the current counts.
        status = gr.Markdown("正在读取索引状态…", elem_id="rag-status")
        questions = gr.State([])
        chatbot = gr.Chatbot(
            label="对话", height=520, elem_id="rag-chat", latex_delimiters=[],
            feedback_options=None, buttons=["copy"],
            placeholder="**你好！** 请输入关于社区报的问题，例如“兰岭园新增了多少个停车位？”"
                        "<br>可以接着追问，例如“那实际有多少辆车？”")
        with gr.Row():
            box = gr.Textbox(placeholder="输入问题，按回车发送", show_label=False, scale=5,
                             elem_id="rag-question", autofocus=True)
            send = gr.Button("发送", variant="primary", scale=1, elem_id="rag-send")
        with gr.Row(elem_id="rag-examples"):
            gr.HTML('<span class="rag-try">试试：</span>', scale=0, min_width=40)
            example_buttons = [gr.Button(q, size="sm", variant="secondary", scale=0)
                               for q in EXAMPLES]
        selector = filter_selector(assistant.status())
        panel = _upload_panel(gate, notice)

        # Every way of asking shares one pool of CHAT_WORKERS (see above).
        chat_io = dict(outputs=[box, chatbot, questions], show_progress="minimal",
                       concurrency_id="chat", concurrency_limit=CHAT_WORKERS)
        box.submit(respond, [box, chatbot, questions, *selector], api_name="ask", **chat_io)
        send.click(respond, [box, chatbot, questions, *selector], api_visibility="undocumented", **chat_io)
        for button in example_buttons:
            button.click(respond, [button, chatbot, questions, *selector], api_visibility="undocumented",
                         **chat_io)
        chatbot.clear(lambda: [], None, questions, api_visibility="private")
        demo.load(lambda: render_status(assistant.status()), None, status, show_progress="hidden",
                  api_visibility="private")
        if panel:
            upload, password, upload_msg = panel
            upload.upload(add_issue, [upload, *([password] if password else [])],
                          [upload_msg, status, upload], api_name="add_issue", concurrency_limit=1,
                          concurrency_id="upload", show_progress_on=upload)
        source_viewer(assistant)
    # api_open=False: no REST route skips the queue, so the limits above hold for every client.
    # Queue positions go out every 2 s, not to every waiting client after every answer (with 20
    # waiting, 20 messages an answer): measured 52.8 -> 47.5 ms server and 16.7 -> 13.2 ms client
    # CPU per answer with 20 users.
    demo.queue(max_size=QUEUE_MAX, default_concurrency_limit=1, api_open=False, status_update_rate=2)
    return demo


# -- the source viewer: a click on a citation shows the PDF page or the article ----------

VIEWER_JS = """
() => {
  document.addEventListener("click", (event) => {
    const cite = event.target.closest(".rag-src");
    const link = cite && cite.querySelector("a.rag-open");
    const box = document.querySelector("#rag-cite-request textarea");
    const button = document.querySelector("#rag-cite-open");
    if (!link || !box || !button) return;
    event.preventDefault();
    box.value = decodeURIComponent(link.getAttribute("href").replace(/^#cite:/, ""));
    box.dispatchEvent(new Event("input", { bubbles: true }));
    setTimeout(() => button.click(), 60);
  });
}
"""
VIEWER_CSS = """
.rag-src { cursor: pointer; }
.rag-src:hover .rag-src-title { text-decoration: underline; }
.rag-open { color: var(--color-accent) !important; margin-left: 0.4em; white-space: nowrap; }
.rag-hidden { display: none !important; }
#rag-viewer img.rag-page { width: 100%; max-width: 900px; border: 1px solid var(--border-color-primary); }
#rag-viewer .rag-article p { line-height: 1.8; margin: 0.4em 0; }
#rag-viewer mark { background: #ffe58f; color: inherit; padding: 0 2px; }
"""


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


def open_source(assistant, request: str) -> str:
    """The viewer's HTML for a clicked citation (JSON with source, page and quote)."""
    from rag.sourceview import view_source
    try:
        data = json.loads(request or "")
        source, quote = str(data["source"]), str(data.get("quote") or "")
        page = int(data["page"]) if data.get("page") else None
    except (ValueError, KeyError, TypeError):
        return render_error("无法打开这条出处，请重新提问后再点击。")
    try:
        return render_source(view_source(assistant.index, source, quote, page))
    except RagError as exc:
        return render_error(f"无法打开原文：{exc}")
    except Exception:   # the page must show a message, never a stack trace
        log.exception("showing %s failed", source)
        return render_error("无法打开原文，详情见服务器日志。")


def source_viewer(assistant) -> None:
    """The 原文 panel under the chat, filled when a citation is clicked (see VIEWER_JS)."""
    with gr.Group(elem_id="rag-viewer-box"):
        viewer = gr.HTML('<div class="rag-meta">点击答案下方的出处，可查看原文（PDF 显示原版面，引文已标出）。</div>',
                         elem_id="rag-viewer")
    request = gr.Textbox(elem_id="rag-cite-request", elem_classes=["rag-hidden"], show_label=False)
    button = gr.Button("open", elem_id="rag-cite-open", elem_classes=["rag-hidden"])
    button.click(lambda r: open_source(assistant, r), request, viewer, show_progress="minimal").then(
        None, None, None, js="() => document.getElementById('rag-viewer')?.scrollIntoView({behavior: 'smooth'})")


def filter_selector(status: dict) -> list:
    """The paper and date-range selector (an accordion); its three inputs, for the chat handlers."""
    dates = status.get("dates") or ["", ""]
    with gr.Accordion("只看某份报纸或某段时间", open=False, elem_id="rag-filter"):
        with gr.Row():
            paper = gr.Dropdown([ALL_PAPERS, *status.get("papers", [])], value=ALL_PAPERS, label="报纸",
                                elem_id="rag-paper", scale=2)
            since = gr.Textbox(label="从（年-月）", placeholder=dates[0][:7] or "2024-01", elem_id="rag-since",
                               scale=1)
            until = gr.Textbox(label="到（年-月）", placeholder=dates[-1][:7] or "2024-12", elem_id="rag-until",
                               scale=1)
    return [paper, since, until]


def launch_options() -> dict:
    """Keyword arguments for ``demo.launch``: local fonts only, no telemetry, upload cap."""
    theme = gr.themes.Default(primary_hue="red", font=FONTS, font_mono=MONO_FONTS)
    return dict(theme=theme, css=CSS + VIEWER_CSS, js=VIEWER_JS, max_file_size=MAX_UPLOAD_BYTES,
                footer_links=["api"], enable_monitoring=False, ssr_mode=False, run_history=False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="社区报问答：网页聊天界面")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to bind (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                        help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--index-dir", type=Path,
                        default=Path(os.environ.get("RAG_INDEX_DIR") or "index"),
                        help="index folder (default RAG_INDEX_DIR, or ./index)")
    parser.add_argument("--editor-password", default=os.environ.get("RAG_EDITOR_PASSWORD") or None,
                        help="password for adding issues (default RAG_EDITOR_PASSWORD; prefer the "
                             "variable, a command line is visible to other users). Without one, "
                             "uploads are open on loopback and closed on any other address")
    return parser.parse_args(argv)


def _one_thread_per_answer() -> None:
    """With the torch embedding backend: the queue runs CHAT_WORKERS answers at once, about one
    per core. With torch's default (all cores for each answer) concurrent answers fight over the
    cores and, on a busy machine, each becomes many times slower (measured at load average 8 on
    2 cores: p50 1.98 s with 2 threads, 0.19 s with 1). An upload's embedding then also leaves a
    core free for questions. (The int8 ONNX backend sets its own threads, without spinning.)"""
    import torch
    torch.set_num_threads(1)


def main(argv: list[str] | None = None) -> None:
    """Load the model and index (building it from seeds/ if missing) and serve the chat."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own health checks
    from rag.service import Assistant  # imported here: loading torch is slow, --help is not

    _one_thread_per_answer()
    assistant = Assistant(args.index_dir)
    log.info("index %s ready: %s", args.index_dir, assistant.status())
    interrupted = recover_uploads(args.index_dir / "uploads", assistant.index.manifest.get("files", {}))
    gate = EditorGate.for_host(args.host, args.editor_password)
    log.info("adding issues: %s", {"open": "open (loopback, no editor password)",
                                   "password": "with the editor password",
                                   "closed": "closed (not loopback and no editor password; set "
                                             "RAG_EDITOR_PASSWORD or --editor-password)"}[gate.mode])
    demo = build_demo(assistant, gate, interrupted)
    demo.launch(server_name=args.host, server_port=args.port, **launch_options())


if __name__ == "__main__":
    main()
