"""Faults survived: a sync killed at each step of its save, a full disk, damaged index files,
an index from a newer version, and the app killed during an upload."""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SEEDS
from app_cases import app_kill_case
from fault_cases import (DAMAGE, NEW_ISSUE, corruption_case, crash_outcome, damage, disk_full_outcome,
                         fake_sync, indexed, live_bytes, live_files, run_cases)
from rag import cli
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


def test_rag_index_repairs_a_damaged_index(seed_index_dir, tmp_path, capsys):
    ix = tmp_path / "ix"
    shutil.copytree(seed_index_dir, ix)
    vectors = next(p for p in live_files(ix) if p.name == "dense.faiss")
    damage(vectors, "flip", random.Random(1))
    assert cli.main(["ask", "--index-dir", str(ix), "兰岭园新增了多少个停车位？"]) == 2
    said = capsys.readouterr().err
    assert "dense.faiss: damaged index file" in said and f"rag index --index-dir {ix}" in said
    out = subprocess.run([sys.executable, "-m", "rag", "index", "--index-dir", str(ix), "--json"],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["documents"] == 5
    assert indexed(ix) == indexed(seed_index_dir)


def test_index_from_a_newer_version_names_the_version_needed(template, tmp_path, capsys):
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
    assert cli.main(["ask", "--index-dir", str(ix), "问题"]) == 2
    assert "needs rag-shequ 9.1.0 or later" in capsys.readouterr().err


def test_app_killed_during_an_upload_serves_the_previous_index_next_time(seed_index_dir, tmp_path):
    outcome = app_kill_case(seed_index_dir, tmp_path)
    assert not outcome.crashed and outcome.index_ok, outcome.detail
