"""A short, bounded run of benchmarks/load.py's load against the app's real HTTP API (the full
2-minute run with the real model is ``python benchmarks/load.py``)."""

from __future__ import annotations

import socket

import pytest

import app
from conftest import FakeEmbedder
from load import load_questions, new_issue, percentile, run_load, summarize
from fault_cases import fake_sync
from rag.config import Config
from rag.editors import EditorGate
from rag.service import Assistant


def test_percentile():
    assert percentile([0.3, 0.1, 0.2, 0.4], 50) == 0.2 and percentile([1.0] * 19 + [9.0], 95) == 1.0
    assert percentile(list(range(1, 101)), 95) == 95


def test_users_and_time_are_bounded():
    with pytest.raises(ValueError, match="users must be"):
        run_load("http://127.0.0.1:9/", 65, 1, ["q"])
    with pytest.raises(ValueError, match="seconds"):
        run_load("http://127.0.0.1:9/", 1, 10_000, ["q"])


def test_short_load_with_an_upload_answers_everyone(tmp_path, seed_copy, tokenizer):
    fake_sync(tmp_path / "index", [seed_copy])
    emb = FakeEmbedder()
    assistant = Assistant(tmp_path / "index", config=Config(model=emb.name), embedder=emb, tokenizer=tokenizer)
    demo = app.build_demo(assistant, EditorGate.for_host("127.0.0.1", "pw"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        result = run_load(demo.local_url, 4, 6, load_questions(), upload=(new_issue(tmp_path), "pw"))
    finally:
        demo.close()
    assert result["errors"] == 0, result["error_examples"]
    assert result["requests"] >= 8 and result["p95_s"] > 0
    upload = result["upload"]
    assert upload["ok"], upload["message"]
    assert upload["new_issue_answerable_after"] and upload["probe_lost_it_after_finding"] == 0
    # a probe may see the new issue before the upload's reply reaches the editor (the swap comes
    # first), so "found before the end" is reported, not asserted to be 0


def test_a_probe_that_loses_the_new_issue_is_counted():
    events = {"upload_start": 1.0, "upload_end": 3.0, "upload_ok": True, "upload_message": "ok"}
    records = [(0.5, 0.1, True, "")]
    steady = [(1.0, 1.1, False), (1.5, 2.6, True), (2.7, 2.9, True), (3.1, 3.2, True)]
    flip = [(1.0, 1.1, False), (1.5, 2.6, True), (2.7, 2.9, False), (3.1, 3.2, True)]
    got = summarize(records, 4.0, 1, dict(events, probes=steady))["upload"]
    assert got["probe_lost_it_after_finding"] == 0 and got["probe_found_before_end"] == 2
    assert got["new_issue_answerable_after"]
    got = summarize(records, 4.0, 1, dict(events, probes=flip))["upload"]
    assert got["probe_lost_it_after_finding"] == 1
