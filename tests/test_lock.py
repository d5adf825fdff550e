"""One writer at a time: the index folder's lock, as the CLI, Python and the chat take it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS, FakeEmbedder
from fault_cases import fake_sync, indexed, live_bytes
from rag import uploads
from rag.cli import EXIT_BUSY
from rag.config import Config
from rag.errors import IndexBusyError
from rag.index import Index
from rag.lock import writer_lock
from rag.service import Assistant

HERE = Path(__file__).resolve().parent


def issues(folder: Path, tag: str, n: int = 3) -> set[str]:
    """``n`` small made-up issues named after ``tag``; returns their file names."""
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{tag}{i}.txt").write_text(
            f"【宜居家园】\n\n{tag}苑第{i}号楼加装电梯\n\n{tag}苑第{i}号楼的电梯已经投入使用，共有{10 + i}户居民受益。\n",
            encoding="utf-8")
    return {f"{tag}{i}.txt" for i in range(n)}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def rag_popen(*args: str, stderr_path: Path) -> subprocess.Popen:
    with open(stderr_path, "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "rag", *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=err, text=True)


@pytest.fixture
def small_index(tmp_path, seed_copy) -> Path:
    fake_sync(tmp_path / "ix", [seed_copy])
    return tmp_path / "ix"


def test_two_rag_index_runs_at_once_keep_both_sides_files(seed_index_dir, tmp_path):
    """The lost update of issue 10: two syncs adding A and B at once must end with both."""
    ix = tmp_path / "ix"
    shutil.copytree(seed_index_dir, ix)
    names_a, names_b = issues(tmp_path / "A", "甲"), issues(tmp_path / "B", "乙")
    errs = [tmp_path / "a.err", tmp_path / "b.err"]
    # Both start while a third writer holds the lock, so both really run at the same time.
    with writer_lock(ix):
        procs = [rag_popen("index", "--index-dir", str(ix), "--json", str(tmp_path / d), stderr_path=e)
                 for d, e in zip("AB", errs)]
        wait_for(lambda: all("another sync" in e.read_text() for e in errs), 300, "both to wait")
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e.read_text()[-2000:] for e in errs]
    assert all("waiting for it to finish" in e.read_text() for e in errs)
    reports = [json.loads(o) for o in outs]
    final = indexed(ix)
    assert set(final) == {p.name for p in SEEDS.glob("*.txt")} | names_a | names_b
    # the second writer started from the first one's index: it reported all 11 issues
    assert sorted(r["documents"] for r in reports) == [8, 11]


def test_rag_index_no_wait_fails_at_once_when_busy(small_index, tmp_path):
    issues(tmp_path / "new", "丙", 1)
    before = live_bytes(small_index)
    with writer_lock(small_index):
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-m", "rag", "index", "--index-dir", str(small_index),
                              "--no-wait", str(tmp_path / "new")], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
        took = time.monotonic() - started
    assert out.returncode == EXIT_BUSY, out.stderr
    assert "another sync" in out.stderr and f"pid {os.getpid()}" in out.stderr and "--no-wait" in out.stderr
    assert "Traceback" not in out.stderr and took < 60   # no model was loaded: it failed at once
    assert live_bytes(small_index) == before


def test_python_and_chat_writers_wait_then_start_from_the_latest_index(small_index, tmp_path, tokenizer):
    names_a, names_b = issues(tmp_path / "A", "丁", 1), issues(tmp_path / "B", "戊", 1)
    emb = FakeEmbedder()
    chat = Assistant(small_index, config=Config(model=emb.name), embedder=emb, tokenizer=tokenizer)
    steps: list[str] = []
    with writer_lock(small_index):
        with pytest.raises(IndexBusyError, match="another sync.*try again"):
            fake_sync(small_index, [tmp_path / "A"], wait=False)
        upload = threading.Thread(target=chat.add_files, args=([tmp_path / "A"],),
                                  kwargs={"progress": lambda f, m: steps.append(m)})
        script = threading.Thread(target=fake_sync, args=(small_index, [tmp_path / "B"]))
        upload.start()
        script.start()
        wait_for(lambda: any(m.startswith("another sync") for m in steps), 60, "the upload to wait")
        assert upload.is_alive() and script.is_alive()
    upload.join(120)
    script.join(120)
    assert names_a | names_b <= set(indexed(small_index))
    assert "另一个索引任务正在进行" in uploads.progress_text(steps[0])


def test_killed_writer_leaves_no_lock_and_readers_never_wait(small_index):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom rag.lock import writer_lock\n"
         "with writer_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(600)\n",
         str(small_index)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        assert len(Index.load(small_index)) > 40          # a reader does not wait for the writer
        assert time.monotonic() - started < 10
        with pytest.raises(IndexBusyError, match=f"pid {holder.pid}"):
            fake_sync(small_index, wait=False)
    finally:
        holder.kill()
        holder.wait()
    fake_sync(small_index, wait=False)                    # the killed holder's lock is gone


def test_readers_see_a_whole_generation_while_a_writer_syncs(small_index, seed_copy):
    writer = subprocess.Popen([sys.executable, str(HERE / "fault_cases.py"), "churn",
                               str(small_index), str(seed_copy), "6"], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True)
    loads = []
    while writer.poll() is None:
        index = Index.load(small_index)                   # raises if it met half a generation
        loads.append((index.manifest["documents"], len(index), index.manifest["chunks"]))
    assert writer.returncode == 0, writer.stderr.read()[-2000:]
    assert loads and all(d in (5, 6) and n == c for d, n, c in loads)
    assert indexed(small_index).keys() == {p.name for p in seed_copy.iterdir()}


def test_the_chat_follows_a_sync_made_by_another_process(small_index, tmp_path, tokenizer):
    names = issues(tmp_path / "C", "己", 1)
    emb = FakeEmbedder()
    chat = Assistant(small_index, config=Config(model=emb.name), embedder=emb, tokenizer=tokenizer)
    fake_sync(small_index, [tmp_path / "C"])              # e.g. a scheduled `rag index`
    wait_for(lambda: chat.ask("己苑第0号楼的电梯有多少户居民受益？") and names <= set(chat.index.manifest["files"]),
             60, "the chat to load the new index")
    answer = chat.ask("己苑第0号楼的电梯有多少户居民受益？")
    assert answer.found and answer.citations[0].source == "己0.txt"
