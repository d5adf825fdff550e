"""Faults survived: a sync killed at each step of its save, a full disk, damaged index files,
an index from a newer version, and the app killed during an upload."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS
from load import _answer_html, _client, start_app, stop_app
from reliability_cases import (DAMAGE, NEW_ISSUE, NEW_QUESTION, corruption_case, crash_outcome,
                               damage, disk_full_outcome, fake_sync, indexed, live_bytes, live_files,
                               run_cases)
from rag.errors import IndexVersionError
from rag.index import FORMAT_VERSION, MANIFEST, Index

EXTRA = "【同心向党】\n\n金桥社区开展志愿服务\n\n金桥社区的42名志愿者为老人理发、量血压。\n"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, Path]:
    """(an index of the seeds plus one more issue, a new issue to add to it), fake embedder."""
    root = tmp_path_factory.mktemp("faults")
    issues = root / "issues"
    shutil.copytree(SEEDS, issues)
    (issues / "005_extra.txt").write_text(EXTRA, encoding="utf-8")   # not in seeds/: a lost source shows
    fake_sync(root / "index", [issues])
    new = root / "new" / "006_new.txt"
    new.parent.mkdir()
    new.write_text(NEW_ISSUE, encoding="utf-8")
    return root / "index", new


def failures(outcomes) -> list:
    return [o for o in outcomes if o.crashed or not o.index_ok]


def test_sigkill_at_every_step_of_a_save_leaves_the_old_or_the_new_index(template, tmp_path):
    index, new = template
    runs = run_cases("kill", index, tmp_path, new, ["all"])
    assert len(runs) >= 8 and runs[-1]["status"] == 0                      # the last step is past the save
    assert all(r["status"] == -signal.SIGKILL for r in runs[:-1])
    assert not failures(crash_outcome(index, new, r) for r in runs)


def test_full_disk_during_a_build_keeps_the_previous_index(template, tmp_path):
    index, new = template
    runs = run_cases("fsize", index, tmp_path, new, ["all"])
    refused = [r for r in runs if r["status"] == 2]
    assert len(refused) >= 4, runs
    assert "File too large" in refused[0]["err"] and "previous index is unchanged" in refused[0]["err"]
    assert not failures(disk_full_outcome(index, new, r) for r in runs)


def test_each_damaged_index_file_is_named_and_repaired(template, tmp_path):
    index, _ = template
    rels = [p.relative_to(index).as_posix() for p in live_files(index)]
    assert MANIFEST in rels and any(r.endswith("dense.faiss") for r in rels) and len(rels) >= 5
    rng = random.Random(10)
    outcomes = [corruption_case(index, tmp_path / "work", rel, mode, rng) for rel in rels for mode in DAMAGE]
    assert not failures(outcomes), failures(outcomes)


def test_rag_index_repairs_a_damaged_index(seed_index_dir, tmp_path):
    ix = tmp_path / "ix"
    shutil.copytree(seed_index_dir, ix)
    vectors = next(p for p in live_files(ix) if p.name == "dense.faiss")
    damage(vectors, "flip", random.Random(1))
    ask = subprocess.run([sys.executable, "-m", "rag", "ask", "--index-dir", str(ix), "兰岭园新增了多少个停车位？"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert ask.returncode == 2 and "dense.faiss: damaged index file" in ask.stderr, ask.stderr
    assert f"rag index --index-dir {ix}" in ask.stderr and "Traceback" not in ask.stderr
    out = subprocess.run([sys.executable, "-m", "rag", "index", "--index-dir", str(ix), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["documents"] == 5
    assert indexed(ix) == indexed(seed_index_dir)


def test_index_from_a_newer_version_names_the_version_needed(template, tmp_path):
    index, new = template
    ix = tmp_path / "ix"
    shutil.copytree(index, ix)
    manifest = json.loads((ix / MANIFEST).read_text(encoding="utf-8"))
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest["versions"]["rag-shequ"] = "9.1.0"
    (ix / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    before = live_bytes(ix)
    needed = rf"format {FORMAT_VERSION + 1}, written by rag-shequ 9\.1\.0.*reads format {FORMAT_VERSION}.*rag-shequ>=9\.1\.0"
    with pytest.raises(IndexVersionError, match=needed):
        Index.load(ix)
    with pytest.raises(IndexVersionError, match=needed):   # a sync must not downgrade it
        fake_sync(ix, [new])
    assert live_bytes(ix) == before
    ask = subprocess.run([sys.executable, "-m", "rag", "ask", "--index-dir", str(ix), "问题"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert ask.returncode == 2 and "needs rag-shequ 9.1.0 or later" in ask.stderr, ask.stderr


# ---- the app killed while it adds an upload ------------------------------------------------

def _big_issue(path: Path) -> None:
    """The new issue plus every seed with its digits shifted: enough new text to take a while."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    shifted = "\n\n".join(t.translate(str.maketrans("0123456789", "3456789012")) for t in texts)
    path.write_text(NEW_ISSUE + "\n" + shifted, encoding="utf-8")


def test_app_killed_during_an_upload_serves_the_previous_index_next_time(seed_index_dir, tmp_path):
    from gradio_client import handle_file

    ix = tmp_path / "index"
    shutil.copytree(seed_index_dir, ix)
    issue = tmp_path / "青桐苑_第1期.txt"
    _big_issue(issue)
    proc, url = start_app(ix, "", tmp_path / "app1.log")
    try:
        job = _client(url).submit(handle_file(str(issue)), api_name="/add_issue")
        owner = ix / ".sync.lock.owner"            # written while a sync holds the lock
        deadline = time.monotonic() + 300
        while not owner.exists() and time.monotonic() < deadline and not job.done():
            time.sleep(0.05)
        assert owner.exists(), f"the upload never started a sync: {(tmp_path / 'app1.log').read_text()[-2000:]}"
        time.sleep(0.5)                             # well inside the embedding of ~60 new chunks
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            stop_app(proc)
    assert (ix / "uploads" / f".{issue.name}.pending").exists()   # it was cut short
    assert set(indexed(ix)) == set(indexed(seed_index_dir))       # the previous index, whole

    proc, url = start_app(ix, "", tmp_path / "app2.log")
    try:
        client = _client(url)
        assert "7个停车位" in _answer_html(client.predict("兰岭园新增了多少个停车位？", [], api_name="/ask"))
        assert issue.name not in _answer_html(client.predict(NEW_QUESTION, [], api_name="/ask"))
        config = json.dumps(client.config, ensure_ascii=False)
        assert f"上次上传「{issue.name}」时服务器中断" in config    # the page says it was not added
    finally:
        stop_app(proc)
    assert sorted(os.listdir(ix / "uploads")) == []               # nothing half-added is left
    assert "was NOT added" in (tmp_path / "app2.log").read_text()
