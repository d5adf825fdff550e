"""Uploads are an editor's job: the gate on its own, and the app's real HTTP API in each mode."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import app
from conftest import FakeEmbedder
from load import _answer_html
from fault_cases import NEW_ISSUE, NEW_QUESTION, fake_sync, indexed
from rag.config import Config
from rag.editors import EditorGate, is_loopback
from rag.service import Assistant

# Every Gradio component that takes a file from the client.
FILE_COMPONENTS = {"file", "files", "uploadbutton", "image", "audio", "video", "model3d",
                   "multimodaltextbox", "gallery", "imageeditor", "simpleimage", "dataframe"}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.1.2.3", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("", False), ("myhost.lan", False)])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_gate_modes_follow_host_and_password():
    assert EditorGate.for_host("127.0.0.1").mode == "open"
    assert EditorGate.for_host("0.0.0.0").mode == "closed"
    assert EditorGate.for_host("0.0.0.0", "pw").mode == "password"
    assert EditorGate.for_host("127.0.0.1", "pw").mode == "password"   # a password always applies
    assert EditorGate.for_host("127.0.0.1").check(None, "c") is None
    assert "未设置编辑口令" in EditorGate.for_host("0.0.0.0").check("anything", "c")


def test_gate_checks_in_constant_time_and_limits_wrong_passwords(monkeypatch):
    compared = []
    real = app_hmac = __import__("hmac").compare_digest
    monkeypatch.setattr("rag.editors.hmac.compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    gate = EditorGate("password", "秘密 pw", max_failures=3, window=60)
    assert gate.check("秘密 pw", "10.0.0.1", now=0) is None
    assert compared == [("秘密 pw".encode(), "秘密 pw".encode())] and app_hmac is real
    for t in range(3):
        assert "不正确" in gate.check("wrong", "10.0.0.1", now=t)
    assert "过多" in gate.check("秘密 pw", "10.0.0.1", now=10)       # locked out, even when right
    assert gate.check("秘密 pw", "10.0.0.2", now=10) is None          # another client is not
    assert "不正确" in gate.check("", "10.0.0.2", now=11) and "不正确" in gate.check(None, "10.0.0.2", now=11)
    assert gate.check("秘密 pw", "10.0.0.1", now=61) is None          # the oldest failure expired


def test_editor_password_comes_from_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv("RAG_EDITOR_PASSWORD", raising=False)
    assert app.parse_args(["--host", "0.0.0.0"]).editor_password is None
    monkeypatch.setenv("RAG_EDITOR_PASSWORD", "from-env")
    assert app.parse_args([]).editor_password == "from-env"
    assert app.parse_args(["--editor-password", "flag"]).editor_password == "flag"


# ---- the real HTTP API (in-process Gradio server on 127.0.0.1, fake embedder) ----------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path, seed_copy, tokenizer):
    """serve(gate) -> (assistant, gradio Client) for a fresh index of the seeds."""
    from gradio_client import Client
    demos = []

    def start(gate: EditorGate):
        fake_sync(tmp_path / "index", [seed_copy])
        emb = FakeEmbedder()
        assistant = Assistant(tmp_path / "index", config=Config(model=emb.name), embedder=emb,
                              tokenizer=tokenizer)
        demo = app.build_demo(assistant, gate)
        demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True,
                    quiet=True, **app.launch_options())
        demos.append(demo)
        return assistant, Client(demo.local_url, verbose=False, download_files=False, analytics_enabled=False)
    yield start
    for demo in demos:
        demo.close()


@pytest.fixture
def invented(tmp_path) -> Path:
    path = tmp_path / "青桐苑_第1期.txt"
    path.write_text(NEW_ISSUE, encoding="utf-8")
    return path


def answerable(assistant, name: str) -> bool:
    a = assistant.ask(NEW_QUESTION)
    return a.found and any(c.source == name for c in a.citations)


def test_beyond_loopback_without_password_no_endpoint_takes_an_issue(serve, invented):
    from gradio_client import handle_file
    assistant, client = serve(EditorGate.for_host("0.0.0.0"))
    before = indexed(assistant.index_dir)
    components = {c["id"]: c["type"] for c in client.config["components"]}
    takes_file = [d for d in client.config["dependencies"]
                  if any(components.get(i) in FILE_COMPONENTS for i in d["inputs"])]
    assert takes_file == []
    calls = 0
    for i, dep in enumerate(client.config["dependencies"]):   # every endpoint, documented or not
        try:
            client.predict(*[handle_file(str(invented))] * len(dep["inputs"]), fn_index=i)
        except Exception:  # noqa: BLE001 - refusing is the point; what matters is the index below
            pass
        calls += 1
    assert calls >= 2
    assert indexed(assistant.index_dir) == before and not answerable(assistant, invented.name)
    assert not (assistant.index_dir / "uploads").exists()
    page = json.dumps(client.config, ensure_ascii=False)
    assert "RAG_EDITOR_PASSWORD" in page and "--editor-password" in page     # how to enable it
    answer = client.predict("兰岭园新增了多少个停车位？", [], api_name="/ask")   # asking stays open
    assert "7个停车位" in _answer_html(answer)


def test_with_a_password_the_server_checks_every_upload(serve, invented):
    from gradio_client import handle_file
    assistant, client = serve(EditorGate.for_host("0.0.0.0", "correct horse"))
    before = indexed(assistant.index_dir)
    for given in ["", "wrong", "correct horse "]:
        message = client.predict(handle_file(str(invented)), given, api_name="/add_issue")[0]
        assert "编辑口令不正确" in message
    assert indexed(assistant.index_dir) == before and not answerable(assistant, invented.name)
    message = client.predict(handle_file(str(invented)), "correct horse", api_name="/add_issue")[0]
    assert "rag-ok" in message and invented.name in message
    assert answerable(assistant, invented.name)
    for _ in range(5):
        client.predict(handle_file(str(invented)), "guess", api_name="/add_issue")
    message = client.predict(handle_file(str(invented)), "correct horse", api_name="/add_issue")[0]
    assert "错误次数过多" in message                                          # rate-limited


def test_on_loopback_without_password_uploads_stay_open(serve, invented):
    from gradio_client import handle_file
    assistant, client = serve(EditorGate.for_host("127.0.0.1"))
    message = client.predict(handle_file(str(invented)), api_name="/add_issue")[0]
    assert "rag-ok" in message and answerable(assistant, invented.name)
