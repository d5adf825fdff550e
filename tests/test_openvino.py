"""The OpenVINO embedding backend: parity with fp32, the manifest, another model, fallback."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from rag.config import Config
from rag.embed import Embedder
from rag.openvino_encoder import OpenVinoEncoder
from rag.service import Assistant
from rag.sync import sync_index
from test_quantize import ONE_ISSUE, PARITY_TEXTS, assert_parity


@pytest.fixture(scope="module")
def openvino_embedder() -> Embedder:
    return Embedder(backend="openvino")


@pytest.fixture(scope="module")
def fp32_embedder() -> Embedder:
    return Embedder(backend="torch")


def test_openvino_runs_the_onnx_export_beside_the_model(openvino_embedder):
    assert openvino_embedder.backend == "openvino" and isinstance(openvino_embedder._model, OpenVinoEncoder)
    folder = openvino_embedder._model.folder
    assert folder.name.endswith("-openvino") and (folder / "model.onnx").is_file()
    assert (openvino_embedder.dim, openvino_embedder.query_prompt) == (384, "query: ")


@pytest.mark.parametrize("kind", ["chinese", "traditional", "english", "edge"])
def test_openvino_parity_with_fp32(openvino_embedder, fp32_embedder, kind):
    assert_parity(openvino_embedder, fp32_embedder, PARITY_TEXTS[kind])


def test_manifest_records_openvino_and_queries_follow_it(openvino_embedder, tokenizer, tmp_path, monkeypatch):
    ix = tmp_path / "ov"
    sync_index(ix, [ONE_ISSUE], config=Config(embedding_backend="openvino"), embedder=openvino_embedder,
               tokenizer=tokenizer)
    manifest = json.loads((ix / "manifest.json").read_text("utf-8"))
    assert manifest["embedding_backend"] == manifest["config"]["embedding_backend"] == "openvino"
    asked = []

    def embedder_as_asked(model, **kwargs):   # the OpenVINO model is loaded once, by the fixture
        asked.append(kwargs["backend"])
        return openvino_embedder

    monkeypatch.setattr("rag.embed.Embedder", embedder_as_asked)
    bot = Assistant(ix, tokenizer=tokenizer)
    assert asked == ["openvino"]
    assert bot.ask("兰岭园新增了多少个停车位？").citations[0].source == ONE_ISSUE.name


def test_other_model_through_openvino_and_fallback_when_damaged(tiny_model_folder, tmp_path, caplog):
    emb = Embedder(model=str(tiny_model_folder), cache_dir=tmp_path, backend="openvino", batch_size=2)
    texts = ["第一段。", "第二段文字，长一些。", "third", ""]
    ref = Embedder(model=str(tiny_model_folder), backend="torch").embed_passages(texts)
    assert emb.backend == "openvino" and emb.dim == 32
    assert np.sum(emb.embed_passages(texts) * ref, axis=1).min() >= 0.999   # the same fp32 graph
    (folder,) = [p for p in tmp_path.iterdir() if p.name.endswith("-openvino")]
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged / folder.name)
    (damaged / folder.name / "model.onnx").write_bytes(b"not an onnx file")
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        fallback = Embedder(model=str(tiny_model_folder), cache_dir=damaged, backend="openvino")
    assert fallback.backend == "torch" and fallback.embed_queries(["停车位"]).shape == (1, 32)
    assert "OpenVINO embedding backend is unusable" in caplog.text and "pip install openvino" in caplog.text
    assert str(damaged / folder.name) in caplog.text
