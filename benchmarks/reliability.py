#!/usr/bin/env python
"""Reliability report: the fault and fuzz cases, at larger counts than the tests, and the load run.

    python benchmarks/reliability.py [--fuzz 200] [--damage-rounds 3] [--users 20] [--seconds 120] [--quick]

Prints one table: for each kind of case, how many were tried, how many crashed (an unexpected
exception, a traceback, a process dying other than by the planned kill), how many left a lost
or mixed index (one that does not load, or holds neither exactly the old nor exactly the new
files), and how many showed something unescaped on the page; then the load figures of
``benchmarks/load.py``. Targets: 0 crashes, 0 lost or mixed indexes.

Syncs in the fault cases use the fake embedder of ``tests/conftest.py`` (what is tested is the
writing, not the vectors); fuzzed questions, the app kill and the load use the real model.
Everything happens in a temporary folder; the app listens on 127.0.0.1 only. ``--quick``
skips the app kill and the load (a few minutes less).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import app_cases as ac  # noqa: E402
from rag import uploads  # noqa: E402
from conftest import SEEDS  # noqa: E402
import fault_cases as fc  # noqa: E402
from load import measure, print_table  # noqa: E402


def _tally(name: str, outcomes: list) -> dict:
    bad = [o for o in outcomes if o.crashed or not o.index_ok or not o.escaped]
    for o in bad[:3]:
        print(f"  FAILED {o.case}: crashed={o.crashed} index_ok={o.index_ok} escaped={o.escaped} {o.detail[:300]}",
              file=sys.stderr)
    return {"kind": name, "tried": len(outcomes), "crashes": sum(o.crashed for o in outcomes),
            "lost_or_mixed": sum(not o.index_ok for o in outcomes),
            "unescaped": sum(not o.escaped for o in outcomes)}


def fault_rows(work: Path, rounds: int, fuzz: int) -> list[dict]:
    """Every fault and fuzz kind; each prints its progress as it goes."""
    issues = work / "issues"
    shutil.copytree(SEEDS, issues)
    (issues / "005_extra.txt").write_text("【同心向党】\n\n金桥社区开展志愿服务\n\n金桥社区的42名志愿者为老人理发。\n",
                                          encoding="utf-8")
    template = work / "template"
    fc.fake_sync(template, [issues])
    new = work / "new" / "006_new.txt"
    new.parent.mkdir()
    new.write_text(fc.NEW_ISSUE, encoding="utf-8")
    rows = []

    def step(name: str, make) -> None:
        started = time.monotonic()
        rows.append(_tally(name, make()))
        print(f"{name}: {rows[-1]['tried']} cases in {time.monotonic() - started:.0f} s", file=sys.stderr)

    step("SIGKILL at each step of a save", lambda: [
        fc.crash_outcome(template, new, r) for r in fc.run_cases("kill", template, work / "kill", new, ["all"])])
    step("file size limit (full disk) in a build", lambda: [
        fc.disk_full_outcome(template, new, r) for r in fc.run_cases("fsize", template, work / "fsize", new, ["all"])])
    rels = [p.relative_to(template).as_posix() for p in fc.live_files(template)]
    rng = random.Random(0)
    step("damaged index file, then rag index", lambda: [
        fc.corruption_case(template, work / "damaged", rel, mode, rng)
        for _ in range(rounds) for rel in rels for mode in fc.DAMAGE])
    step("index from a newer format version", lambda: [_newer_version(template, work / "newer", new)])
    step("3 writers at once (lost update)", lambda: [
        fc.concurrent_writers_case(template, work / f"writers{k}", 3) for k in range(rounds)])
    step("index loads during 20 syncs", lambda: _readers(template, issues, work / "readers"))
    step("fuzzed uploads, every accepted type", lambda: _uploads(work / "uploads", issues, fuzz))
    return rows


def _newer_version(template: Path, work: Path, new: Path):
    from rag.errors import IndexVersionError
    from rag.index import FORMAT_VERSION, MANIFEST, Index
    shutil.copytree(template, work)
    manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(format_version=FORMAT_VERSION + 1, versions={"rag-shequ": "9.1.0"})
    (work / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    before = fc.live_bytes(work)
    said = []
    for attempt in (lambda: Index.load(work), lambda: fc.fake_sync(work, [new])):
        try:
            attempt()
        except IndexVersionError as e:
            said.append("rag-shequ>=9.1.0" in str(e))
        except Exception as e:  # noqa: BLE001
            return fc.Outcome("newer format", crashed=True, detail=f"{type(e).__name__}: {e}")
    return fc.Outcome("newer format", crashed=said != [True, True], index_ok=fc.live_bytes(work) == before)


def _readers(template: Path, issues: Path, work: Path) -> list:
    """Load the index over and over while another process syncs it 20 times."""
    import subprocess
    from rag.index import Index
    shutil.copytree(template, work)
    writer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fault_cases.py"), "churn",
                               str(work), str(issues), "20"], cwd=ROOT, stderr=subprocess.DEVNULL)
    outcomes = []
    while writer.poll() is None:
        try:
            index = Index.load(work)
            whole = index.manifest["documents"] in (6, 7) and len(index) == index.manifest["chunks"]
            outcomes.append(fc.Outcome("reader", index_ok=whole))
        except Exception as e:  # noqa: BLE001
            outcomes.append(fc.Outcome("reader", crashed=True, detail=f"{type(e).__name__}: {e}"))
    (issues / "zz_churn.txt").unlink(missing_ok=True)
    return outcomes + [fc.Outcome("writer", crashed=writer.returncode != 0)]


def _uploads(work: Path, issues: Path, n: int) -> list:
    from conftest import FakeEmbedder
    from rag.config import Config
    from rag.service import Assistant
    fc.fake_sync(work / "index", [issues])
    emb = FakeEmbedder()
    assistant = Assistant(work / "index", config=Config(model=emb.name), embedder=emb, tokenizer=fc._tokenizer())
    cases = ac.fuzz_uploads(random.Random(1), uploads.ALLOWED_SUFFIXES, n, uploads.MAX_UPLOAD_BYTES)
    return [ac.upload_case(assistant, work / "index" / "uploads", work, *c) for c in cases]


def real_model_rows(work: Path, fuzz: int, quick: bool) -> tuple[list[dict], Path]:
    """Fuzzed questions and (unless quick) the app kill, on an index of the seeds built with the real model."""
    from rag.service import Assistant
    from rag.sync import sync_index
    index = work / "seed-index"
    sync_index(index, [SEEDS])
    assistant = Assistant(index)
    before = fc.live_bytes(index)
    started = time.monotonic()
    outcomes = [ac.question_case(assistant, q) for q in ac.fuzz_questions(random.Random(2), fuzz)]
    if fc.live_bytes(index) != before:
        outcomes.append(fc.Outcome("index after questions", index_ok=False))
    rows = [_tally("fuzzed questions", outcomes)]
    print(f"fuzzed questions: {len(outcomes)} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if not quick:
        rows.append(_tally("SIGKILL of the app during an upload", [ac.app_kill_case(index, work / "app-kill")]))
    return rows, index


def print_rows(rows: list[dict]) -> None:
    total_label = "total (target: 0 crashes, 0 lost or mixed)"
    width = max(len(total_label), *(len(r["kind"]) for r in rows))
    print(f"{'case':<{width}}  {'tried':>6}  {'crashes':>7}  {'lost or mixed':>13}  {'unescaped':>9}")
    for r in rows:
        print(f"{r['kind']:<{width}}  {r['tried']:>6}  {r['crashes']:>7}  {r['lost_or_mixed']:>13}  {r['unescaped']:>9}")
    total = {k: sum(r[k] for r in rows) for k in ("tried", "crashes", "lost_or_mixed", "unescaped")}
    print(f"{total_label:<{width}}  {total['tried']:>6}  {total['crashes']:>7}  "
          f"{total['lost_or_mixed']:>13}  {total['unescaped']:>9}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz", type=int, default=200, help="random questions and random uploads (each)")
    parser.add_argument("--damage-rounds", type=int, default=3, help="rounds of damaging every index file")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--think", type=float, default=0.0, help="each load user's pause between questions")
    parser.add_argument("--quick", action="store_true", help="skip the app kill and the load run")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} at start (timings are noisy on a busy machine)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="rag-reliability-") as tmp:
        work = Path(tmp)
        rows = fault_rows(work / "faults", args.damage_rounds, args.fuzz)
        more, index = real_model_rows(work / "real", args.fuzz, args.quick)
        rows += more
        load = None if args.quick else measure(args.users, args.seconds, args.think, index)
    print()
    print_rows(rows)
    if load:
        print(f"\nload: {args.users} users for {args.seconds:.0f} s through the HTTP API "
              f"(think time {args.think} s), an editor uploading an issue a third of the way in")
        print_table(load)
    if args.out:
        args.out.write_text(json.dumps({"cases": rows, "load": load}, ensure_ascii=False, indent=1),
                            encoding="utf-8")
    failed = any(r["crashes"] or r["lost_or_mixed"] or r["unescaped"] for r in rows)
    return 1 if failed or (load and load["errors"]) else 0


if __name__ == "__main__":
    sys.exit(main())
