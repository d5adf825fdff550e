#!/usr/bin/env python
"""Load test: N simultaneous chat users through the app's real HTTP API (gradio_client).

    python benchmarks/load.py [--users 20] [--seconds 120] [--think 0] [--index-dir DIR] [--no-upload]

Starts ``app.py`` on 127.0.0.1 (a free port, a copy of the index or one built from seeds/,
an editor password of its own), then runs ``--users`` threads, each its own Gradio client,
asking the dev questions back to back (``--think`` seconds between) until ``--seconds``
have passed; it then stops the server. Meanwhile, unless ``--no-upload``, an editor uploads
a new issue a third of the way in while a probe keeps asking about it.

Prints throughput, p50/p95/max latency, errors, server RSS, and for the upload: how many
questions were answered while it ran and whether the new issue was answerable after it.
Only 127.0.0.1 is ever contacted; users and time are capped (64 users, 15 minutes).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"   # never through a proxy

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"
MAX_USERS, MAX_SECONDS = 64, 900
NEW_QUESTION = "青桐苑的充电棚有多少个充电位？"
WARM_UP = ["兰岭园新增了多少个停车位？", "How many parking spaces were added in Lanlingyuan?"]
NEW_ISSUE = ("【宜居家园】\n\n青桐苑建成智能充电棚\n\n近日，青桐苑小区的智能充电棚正式投入使用，"
             "共设置了23个充电位，居民扫码即可为电动自行车充电。\n\n")


def new_issue(folder: Path) -> Path:
    """A made-up issue: the 青桐苑 article, then a seed issue with its digits shifted (new text to embed)."""
    seed = sorted((ROOT / "seeds").glob("*.txt"))[1].read_text(encoding="utf-8")
    path = folder / "青桐苑_第1期.txt"
    path.write_text(NEW_ISSUE + re.sub(r"\d", lambda m: str((int(m.group()) + 3) % 10), seed),
                    encoding="utf-8")
    return path


def _client(url: str):
    from gradio_client import Client
    # ssl_verify=False: the server is plain http on 127.0.0.1, and gradio_client makes a new httpx
    # client per request, which with verification loads the CA bundle every time (most of its CPU).
    return Client(url, verbose=False, download_files=False, analytics_enabled=False, ssl_verify=False)


def _answer_html(result) -> str:
    """The last chat message of an ``/ask`` result (box, history); Gradio 6 sends a message's
    content as a list of parts, earlier versions as a string."""
    history = result[1] if isinstance(result, (list, tuple)) else result
    content = history[-1]["content"] if history else ""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def run_load(url: str, users: int, seconds: float, questions: list[str], think: float = 0.0,
             upload: tuple[Path, str | None] | None = None, seed: int = 0) -> dict:
    """Drive ``users`` clients at ``url`` for ``seconds``; with ``upload`` = (file, password),
    an editor adds that issue a third of the way in while a probe asks about it."""
    if not 1 <= users <= MAX_USERS or not 0 < seconds <= MAX_SECONDS:
        raise ValueError(f"users must be 1..{MAX_USERS} and seconds 0..{MAX_SECONDS}")
    clients = [_client(url) for _ in range(users)]   # connected before the clock starts
    records: list[tuple[float, float, bool, str]] = []   # (start, seconds, ok, error)
    start = time.monotonic()
    deadline = start + seconds
    events: dict = {}

    def user(client, rng: random.Random) -> None:
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            try:
                shown = _answer_html(client.predict(rng.choice(questions), [], api_name="/ask"))
                ok, error = "rag-answer" in shown and "rag-error" not in shown, "" if "rag-error" not in shown else shown[:200]
            except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the run
                ok, error = False, f"{type(e).__name__}: {e}"[:200]
            records.append((t0 - start, time.monotonic() - t0, ok, error))
            if think:
                time.sleep(think)

    def editor() -> None:
        from gradio_client import handle_file
        time.sleep(seconds / 3)
        client, probe = _client(url), _client(url)
        probes: list[tuple[float, float, bool]] = []
        done = threading.Event()

        def ask_probe() -> None:
            while not done.is_set() or len([p for p in probes if p[0] > events["upload_end"]]) < 3:
                t0 = time.monotonic() - start
                try:
                    shown = _answer_html(probe.predict(NEW_QUESTION, [], api_name="/ask"))
                except Exception:  # noqa: BLE001 - counted as "not answerable"
                    shown = ""
                probes.append((t0, time.monotonic() - start, "23个" in shown and "青桐苑_第1期" in shown))
                time.sleep(0.3)

        events["upload_start"] = time.monotonic() - start
        prober = threading.Thread(target=ask_probe)
        prober.start()
        args = [handle_file(str(upload[0]))] + ([upload[1]] if upload[1] else [])
        try:
            message = str(client.predict(*args, api_name="/add_issue")[0])
        except Exception as e:  # noqa: BLE001
            message = f"{type(e).__name__}: {e}"
        events["upload_end"] = time.monotonic() - start
        events["upload_message"] = re.sub(r"<[^>]+>", "", message)
        events["upload_ok"] = "rag-ok" in message
        done.set()
        prober.join(timeout=60)
        events["probes"] = probes

    threads = [threading.Thread(target=user, args=(c, random.Random(seed + i))) for i, c in enumerate(clients)]
    if upload:
        threads.append(threading.Thread(target=editor))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 600)
    elapsed = time.monotonic() - start
    return summarize(records, elapsed, users, events)


def summarize(records, elapsed: float, users: int, events: dict) -> dict:
    latencies = [r[1] for r in records]
    errors = [r[3] for r in records if not r[2]]
    out = {"users": users, "seconds": round(elapsed, 1), "requests": len(records),
           "throughput_per_s": round(len(records) / elapsed, 2), "errors": len(errors),
           "error_examples": sorted(set(errors))[:3],
           "p50_s": round(percentile(latencies, 50), 3), "p95_s": round(percentile(latencies, 95), 3),
           "max_s": round(max(latencies, default=float("nan")), 3),
           "slowest_started_at_s": round(max(records, key=lambda r: r[1])[0], 1) if records else None}
    if "upload_end" in events:
        a, b = events["upload_start"], events["upload_end"]
        during = [r for r in records if a <= r[0] and r[0] + r[1] <= b]
        after = [p for p in events.get("probes", []) if p[0] > b]
        before = [p for p in events.get("probes", []) if p[1] < b]
        by_end = sorted(events.get("probes", []), key=lambda p: p[1])
        # once one probe has seen the new issue, a probe that starts later must see it too:
        # the index went from the old generation to the new one, never back or to a mix
        lost = sum(1 for i, p in enumerate(by_end) if not p[2] and any(q[2] and q[1] < p[0] for q in by_end[:i]))
        out["upload"] = {
            "ok": events["upload_ok"], "seconds": round(b - a, 2), "message": events["upload_message"][:160],
            "answered_during": sum(r[2] for r in during), "errors_during": sum(not r[2] for r in during),
            "p95_during_s": round(percentile([r[1] for r in during], 95), 3),
            "probes_before_end": len(before), "probe_found_before_end": sum(p[2] for p in before),
            "probe_lost_it_after_finding": lost,
            "new_issue_answerable_after": bool(after) and all(p[2] for p in after)}
    return out


# ---- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_app(index_dir: Path, password: str, log_path: Path, timeout: float = 900):
    """``python app.py`` on 127.0.0.1 and a free port; returns (process, url) once it answers."""
    port = free_port()
    env = {**os.environ, "RAG_EDITOR_PASSWORD": password, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--host", "127.0.0.1", "--port",
                                 str(port), "--index-dir", str(index_dir)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with direct.open(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(1)
    stop_app(proc)
    raise RuntimeError(f"app.py did not answer within {timeout}s:\n{log_path.read_text()[-3000:]}")


def stop_app(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def measure(users: int, seconds: float, think: float = 0.0, index_dir: Path | None = None,
            upload: bool = True) -> dict:
    """Start the app, run the load (and the upload), stop the app; the figures as a dict."""
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        tmp = Path(tmp)
        work_index = tmp / "index"
        if index_dir:
            shutil.copytree(index_dir, work_index, ignore=shutil.ignore_patterns("uploads", ".sync.lock*"))
        password = secrets.token_urlsafe(12)
        proc, url = start_app(work_index, password, tmp / "app.log")
        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append(rss_mb(proc.pid))
        try:
            for q in WARM_UP:   # the first English question reads the dictionary (~1 s): not load
                _client(url).predict(q, [], api_name="/ask")
            rss_idle = rss_mb(proc.pid)
            sampler = threading.Thread(target=sample)
            sampler.start()
            loadavg, server_cpu, client_cpu = os.getloadavg()[0], cpu_seconds(proc.pid), time.process_time()
            result = run_load(url, users, seconds, load_questions(), think,
                              upload=(new_issue(tmp), password) if upload else None)
            server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu, time.process_time() - client_cpu
            stop.set()
            sampler.join()
            # CPU per answer does not depend on how busy the machine is, unlike latency: 2 cores
            # serve at most about 2 / (server + client CPU per answer) answers a second.
            n = max(result["requests"], 1)
            result.update(rss_idle_mb=round(rss_idle), rss_max_mb=round(max(samples, default=rss_idle)),
                          rss_peak_mb=round(rss_mb(proc.pid, "VmHWM")), think_s=think,
                          server_cpu_ms_per_answer=round(1000 * server_cpu / n, 1),
                          client_cpu_ms_per_answer=round(1000 * client_cpu / n, 1),
                          loadavg_before=round(loadavg, 1), loadavg_after=round(os.getloadavg()[0], 1))
        finally:
            stop.set()
            stop_app(proc)
    return result


def print_table(r: dict) -> None:
    rows = [("users", r["users"], ""), ("duration", f"{r['seconds']} s", "2 min"),
            ("requests", r["requests"], ""), ("throughput", f"{r['throughput_per_s']} answers/s", ""),
            ("errors", r["errors"], "0"), ("latency p50", f"{r['p50_s']} s", ""),
            ("latency p95", f"{r['p95_s']} s", "<= 1.5 s"), ("latency max", f"{r['max_s']} s", ""),
            ("server RSS idle / max / peak", f"{r['rss_idle_mb']} / {r['rss_max_mb']} / {r['rss_peak_mb']} MB", ""),
            ("CPU per answer: server / load client", f"{r['server_cpu_ms_per_answer']} / "
                                                     f"{r['client_cpu_ms_per_answer']} ms", ""),
            ("load average before / after", f"{r['loadavg_before']} / {r['loadavg_after']}", "")]
    if "upload" in r:
        u = r["upload"]
        rows += [("upload during load", f"{'added' if u['ok'] else 'FAILED'} in {u['seconds']} s", ""),
                 ("answered during upload", f"{u['answered_during']} ({u['errors_during']} errors, "
                                            f"p95 {u['p95_during_s']} s)", "> 0, 0 errors"),
                 ("new issue answerable after", "yes" if u["new_issue_answerable_after"] else "NO", "yes")]
    width = max(len(k) for k, _, _ in rows)
    for k, v, target in rows:
        print(f"{k:<{width}}  {v!s:<34} {('target ' + target) if target else ''}")
    if r["error_examples"]:
        print("error examples:", *r["error_examples"], sep="\n  ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help=f"simultaneous users (1..{MAX_USERS})")
    parser.add_argument("--seconds", type=float, default=120, help=f"duration (at most {MAX_SECONDS})")
    parser.add_argument("--think", type=float, default=0.0, help="pause of each user between questions (s)")
    parser.add_argument("--index-dir", type=Path, help="an index to copy (default: built from seeds/ on start)")
    parser.add_argument("--no-upload", action="store_true", help="no editor upload during the load")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS or not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--users must be 1..{MAX_USERS} and --seconds 0..{MAX_SECONDS}")
    result = measure(args.users, args.seconds, args.think, args.index_dir, not args.no_upload)
    print(json.dumps(result, ensure_ascii=False, indent=1) if args.json else "", end="")
    if not args.json:
        print_table(result)
    u = result.get("upload", {})
    return 0 if result["errors"] == 0 and (not u or (u["ok"] and u["new_issue_answerable_after"])) else 1


if __name__ == "__main__":
    sys.exit(main())
