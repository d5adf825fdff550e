"""Command line: ``rag index``, ``rag ask``, ``rag eval``, ``rag serve``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import IndexBusyError, RagError

__all__ = ["main", "EXIT_BUSY"]

EXIT_BUSY = 75   # EX_TEMPFAIL: another sync holds the index (rag index --no-wait); try again later


def _index_dir(args: argparse.Namespace) -> Path:
    return Path(args.index_dir or os.environ.get("RAG_INDEX_DIR") or "index")


def _cmd_index(args: argparse.Namespace) -> int:
    from .config import Config
    from .index import MANIFEST, read_manifest
    from .sync import sync_index
    config = None
    changes = {}
    if args.model:   # another sentence-transformers model: a hub id or a local folder
        changes.update(model=args.model, query_prompt=None, passage_prompt=None)
    if args.embedding_backend:
        changes.update(embedding_backend=args.embedding_backend)
    if changes:
        index_dir = _index_dir(args)
        base = read_manifest(index_dir).get("config", {}) if (index_dir / MANIFEST).exists() else {}
        config = Config.from_dict({**base, **changes})
    config = _backend_config(args, config)
    _, report = sync_index(_index_dir(args), args.paths, config=config, progress=not args.json,
                           wait=not args.no_wait)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        r = report
        print(f"index {_index_dir(args)}: {r.documents} issues, {r.articles} articles, {r.chunks} chunks "
              f"({r.embedded} embedded, {r.reused} reused, {r.removed} issues removed) in {r.seconds:.1f}s")
    return 0


def _backend_config(args: argparse.Namespace, config):
    """--backend/--qdrant on top of the recorded (or given) config; None when neither is given."""
    if not (args.backend or args.qdrant):
        return config
    from .config import Config
    from .index import MANIFEST, read_manifest
    index_dir = _index_dir(args)
    if config is None:
        config = Config.from_dict(read_manifest(index_dir).get("config", {})) \
            if (index_dir / MANIFEST).exists() else Config()
    backend = args.backend or ("qdrant" if args.qdrant else config.backend)
    qdrant = args.qdrant or (config.qdrant if backend == "qdrant" else "")
    if qdrant and "://" not in qdrant:
        qdrant = str(Path(qdrant).resolve())   # a folder: recorded absolute, like the sources
    return config.replace(backend=backend, qdrant=qdrant)


def _cmd_ask(args: argparse.Namespace) -> int:
    from .service import Assistant
    a = Assistant(_index_dir(args)).ask(args.question, paper=args.paper, since=args.since, until=args.until)
    if args.json:
        print(json.dumps(a.to_dict(), ensure_ascii=False, indent=1))
        return 0
    if a.short_answer:
        print(f"答：{a.short_answer}")
    print(a.text)
    for c in a.citations:
        where = " ".join(x for x in (c.paper, c.date, c.issue, f"第{c.page}页" if c.page else "") if x)
        section = f" 【{c.section}】" if c.section else ""     # a web article has no section banner
        print(f"[{c.n}] {c.source}{f' ({where})' if where else ''}{section}《{c.title}》\n    “{c.quote}”")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate, load_questions
    from .service import Assistant
    report = evaluate(Assistant(_index_dir(args)), load_questions(args.questions))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    misses = [r for r in report["results"] if r["miss"]]
    if args.misses:
        for group in ("refused_answerable", "answered_wrong", "trap_answered"):
            rows = [r for r in misses if r["miss"] == group]
            print(f"== {group.replace('_', ' ')}: {len(rows)}")
            for r in rows:
                said = "(refused)" if not r["found"] else (r["short_answer"] or r["answer"][:80])
                print(f"  {r['id']} [{r['type']}] {r['question']}\n      gold: {r['gold']} ({r['source']})\n"
                      f"      said: {said}")
        print()
    else:
        for r in report["results"]:
            mark = "ok " if r["correct"] else "BAD"
            said = r["short_answer"] or ("(refused)" if not r["found"] else "-")
            print(f"{mark} {r['id']} {r['question']} -> {said} | gold {r['gold']}")
        print()
    print("accuracy by type: " + ", ".join(f"{k} {v['accuracy']:.2f} ({v['questions']})"
                                          for k, v in report["by_type"].items()))
    print("misses: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report["misses"].items()))
    for k, v in report["metrics"].items():
        print(f"{k:>18}: {v}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import app   # the Gradio UI lives beside the package, in app.py
    except ImportError:
        raise RagError("rag serve needs app.py (run it from the project folder): python app.py") from None
    argv = [*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else []),
            *(["--index-dir", args.index_dir] if args.index_dir else []),
            *(["--editor-password", args.editor_password] if args.editor_password else [])]
    return app.main(argv) or 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rag", description="Cited answers over community newspapers.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--index-dir", help="index folder (default: $RAG_INDEX_DIR or ./index)")

    p = sub.add_parser("index", help="add files or folders to the index and sync it")
    common(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--model", help="embedding model (hub id or folder); changing it re-embeds everything")
    p.add_argument("--backend", choices=["local", "qdrant"],
                   help="where vectors and tokens live: local files (FAISS + bm25s, the default) or Qdrant")
    p.add_argument("--qdrant", metavar="URL_OR_PATH",
                   help="Qdrant server URL (http://host:6333) or a folder for qdrant-client's local mode")
    p.add_argument("--embedding-backend", choices=("onnx", "openvino", "torch"),
                   help="onnx: int8 copy of the model, ~2.5x faster (default); openvino: the model on "
                        "OpenVINO; torch: fp32. "
                        "Recorded in the manifest; changing it re-embeds everything")
    p.add_argument("--no-wait", action="store_true",
                   help=f"if another sync is running on the index, fail at once (exit {EXIT_BUSY}) instead of waiting")
    p.add_argument("paths", nargs="*", help="issue files or folders (default: the recorded sources, or seeds/)")
    p.set_defaults(func=_cmd_index)
    p = sub.add_parser("ask", help="answer one question")
    common(p)
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.add_argument("--paper", help="only this paper's issues (its name as the files give it)")
    p.add_argument("--since", metavar="YYYY-MM", help="only issues from this month on (YYYY, YYYY-MM or YYYY-MM-DD)")
    p.add_argument("--until", metavar="YYYY-MM", help="only issues up to this month")
    p.add_argument("question")
    p.set_defaults(func=_cmd_ask)
    p = sub.add_parser("eval", help="score answers on a JSONL question file")
    common(p)
    p.add_argument("--questions", required=True, help="JSONL file: id, question, answer, source")
    p.add_argument("--json", action="store_true", help="print metrics and per-question results as JSON")
    p.add_argument("--misses", action="store_true",
                   help="print each miss (question, gold answer, what was answered), grouped by how it went wrong")
    p.set_defaults(func=_cmd_eval)
    p = sub.add_parser("serve", help="start the web chat (same as python app.py)")
    common(p)
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--editor-password", help="password for adding issues (or RAG_EDITOR_PASSWORD)")
    p.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command != "serve":
        logging.getLogger("rag").setLevel(logging.INFO)
    try:
        return args.func(args)
    except RagError as e:
        print(f"rag {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BUSY if isinstance(e, IndexBusyError) else 2
    except KeyboardInterrupt:
        print(f"rag {args.command}: interrupted; the index on disk is unchanged", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
