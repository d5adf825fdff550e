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
import html  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

import gradio as gr  # noqa: E402

from rag.chat_html import question_html, render_answer, render_error, render_source, render_status  # noqa: E402
from rag.editors import EditorGate  # noqa: E402
from rag.errors import EmptyQuestionError, RagError  # noqa: E402
from rag.uploads import ALLOWED_TEXT, MAX_UPLOAD_BYTES, add_upload, progress_text, recover_uploads  # noqa: E402

log = logging.getLogger("app")

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
                                 progress=lambda frac, desc: progress(frac, desc=progress_text(desc)))
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
