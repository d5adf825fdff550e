"""The int8 ONNX embedding backend: parity with fp32, caching, the manifest, fallback, bad names."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag import quantize
from rag.cli import main as rag_main
from rag.config import Config
from rag.embed import Embedder
from rag.errors import ConfigError
from rag.service import Assistant
from rag.sync import sync_index

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
ONE_ISSUE = SEEDS / "000_54cc604d7de70b0b.txt"


def _sentences(paths, n: int) -> list[str]:
    out = []
    for path in paths:
        found = re.findall(r"[^。！？\n]{15,160}[。！？]", path.read_text("utf-8"))
        out += found[len(found) // 3:][:2]
    return out[:n]


PARITY_TEXTS = {
    "chinese": _sentences(sorted(SEEDS.glob("*.txt")), 8),
    "traditional": ["曹楊新村是哪一年誕生的？", "香港特別行政區政府今日公佈了新的社區措施，居民反應熱烈。",
                    "這個小區新增了七個停車位，緩解了停車難的問題。"],
    "english": ["How many parking spaces were added in the neighbourhood?",
                "The subdistrict office publishes a community newspaper every month.",
                "Volunteers repaired the old lift so that elderly residents can go out again."],
    "edge": ["", "  ", "ＡＢＣ１２３？", "兰岭园\t新增\u200b停车位🚗"],
}


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def test_default_backend_is_int8_onnx(real_embedder):
    assert Config().embedding_backend == "onnx"
    assert real_embedder.backend == "onnx"
    assert isinstance(real_embedder._model, quantize.OnnxEncoder)
    assert (real_embedder.dim, real_embedder.query_prompt, real_embedder.passage_prompt) == (384, "query: ", "passage: ")


def assert_parity(embedder: Embedder, fp32: Embedder, texts: list[str]) -> None:
    """Queries and passages: unit float32 rows, each at cosine >= 0.98 to fp32's."""
    assert texts
    for verb in ("embed_queries", "embed_passages"):
        ours, ref = getattr(embedder, verb)(texts), getattr(fp32, verb)(texts)
        assert ours.dtype == np.float32 and ours.shape == ref.shape == (len(texts), 384)
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(ours * ref, axis=1)
        assert cosines.min() >= 0.98, dict(zip(texts, cosines.round(4)))


@pytest.mark.parametrize("kind", sorted(PARITY_TEXTS))
def test_int8_parity_with_fp32(real_embedder, torch_embedder, kind):
    assert_parity(real_embedder, torch_embedder, PARITY_TEXTS[kind])


def test_int8_keeps_input_order_and_batches(real_embedder):
    texts = PARITY_TEXTS["chinese"] + PARITY_TEXTS["english"]   # mixed lengths: sorted inside
    together = real_embedder.embed_passages(texts)
    one_by_one = np.concatenate([real_embedder.embed_passages([t]) for t in texts])
    # activations are scaled per batch, so batch mates move a vector slightly, never far
    similarity = together @ one_by_one.T
    assert np.diag(similarity).min() >= 0.99
    assert (similarity.argmax(axis=1) == np.arange(len(texts))).all()   # each row is its own text


def test_export_is_cached_beside_the_model(real_embedder):
    folder = real_embedder._model.folder
    assert folder.name.endswith("-onnx-int8") and (folder.parent / folder.name[:-len("-onnx-int8")]).is_dir()
    meta = json.loads((folder / "rag_int8.json").read_text("utf-8"))
    assert meta["pooling"] == "mean" and meta["dim"] == 384
    again = quantize.ensure_onnx_int8(folder, lambda: pytest.fail("exported twice"))
    assert again == folder


def test_manifest_records_backend_and_queries_follow_it(seed_index_dir, torch_embedder, tokenizer, tmp_path,
                                                       monkeypatch):
    manifest = json.loads((seed_index_dir / "manifest.json").read_text("utf-8"))
    assert manifest["embedding_backend"] == manifest["config"]["embedding_backend"] == "onnx"
    bot = Assistant(seed_index_dir, tokenizer=tokenizer)   # builds its embedder from the manifest
    assert bot.embedder.backend == "onnx"
    assert bot.ask("兰岭园新增了多少个停车位？").citations[0].source == ONE_ISSUE.name

    torch_dir = tmp_path / "fp32"
    _, report = sync_index(torch_dir, [ONE_ISSUE], config=Config(embedding_backend="torch"),
                           embedder=torch_embedder, tokenizer=tokenizer)
    assert json.loads((torch_dir / "manifest.json").read_text("utf-8"))["embedding_backend"] == "torch"
    int8 = bot.embedder
    asked = []

    def embedder_as_asked(model, **kwargs):   # the fp32 model is loaded once, by the fixture
        asked.append(kwargs["backend"])
        return torch_embedder if kwargs["backend"] == "torch" else int8

    monkeypatch.setattr("rag.embed.Embedder", embedder_as_asked)
    bot = Assistant(torch_dir, tokenizer=tokenizer)
    assert asked == ["torch"] and bot.embedder.backend == "torch"
    assert bot.ask("兰岭园新增了多少个停车位？").citations[0].source == ONE_ISSUE.name

    # switching the backend re-embeds every chunk: fp32 and int8 vectors are not mixed
    _, again = sync_index(torch_dir, config=Config(), tokenizer=tokenizer)
    assert asked == ["torch", "onnx"]
    assert again.embedded == report.chunks and again.reused == 0
    assert json.loads((torch_dir / "manifest.json").read_text("utf-8"))["embedding_backend"] == "onnx"


def test_unknown_backend_names_the_choices(capsys):
    with pytest.raises(ConfigError, match="unknown embedding_backend 'tensorrt'; choose one of onnx, openvino, torch"):
        Config(embedding_backend="tensorrt")
    with pytest.raises(ConfigError, match="unknown embedding_backend"):
        Config.from_dict({"embedding_backend": "OpenVINO"})
    with pytest.raises(ConfigError, match="unknown embedding backend 'gpu'; choose one of onnx, openvino, torch"):
        Embedder(backend="gpu")
    with pytest.raises(SystemExit) as exit_info:
        rag_main(["index", "--embedding-backend", "tensorrt"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_int8_cache(tiny_model_folder, tmp_path_factory) -> Path:
    """A model cache holding the tiny model's int8 copy (exported once for this module)."""
    cache = tmp_path_factory.mktemp("tiny-int8")
    Embedder(model=str(tiny_model_folder), cache_dir=cache)
    return cache


def test_other_model_through_int8(tiny_model_folder, tiny_int8_cache):
    emb = Embedder(model=str(tiny_model_folder), cache_dir=tiny_int8_cache, batch_size=2)
    assert emb.backend == "onnx" and emb.dim == 32
    assert [p.name for p in tiny_int8_cache.iterdir()][0].startswith("st-")
    texts = ["第一段。", "第二段文字，长一些。", "third", ""]
    vectors = emb.embed_passages(texts)
    assert vectors.shape == (4, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    ref = Embedder(model=str(tiny_model_folder), backend="torch").embed_passages(texts)
    assert np.sum(vectors * ref, axis=1).min() >= 0.98


def test_unusable_int8_copy_falls_back_to_torch_with_a_warning(tiny_model_folder, tiny_int8_cache, tmp_path,
                                                              caplog):
    shutil.copytree(tiny_int8_cache, tmp_path, dirs_exist_ok=True)
    (folder,) = tmp_path.iterdir()
    (folder / "model.onnx").write_bytes(b"not an onnx file")           # damaged on disk
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        emb = Embedder(model=str(tiny_model_folder), cache_dir=tmp_path)
    assert emb.backend == "torch" and emb.embed_queries(["停车位"]).shape == (1, 32)
    assert "int8 ONNX embedding backend is unusable" in caplog.text and str(folder) in caplog.text
    assert "--embedding-backend torch" in caplog.text


def test_missing_onnxruntime_falls_back_and_the_manifest_says_torch(tiny_model_folder, tmp_path, monkeypatch,
                                                                   caplog, tokenizer):
    def no_runtime(folder, load_fp32):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(quantize, "ensure_onnx_int8", no_runtime)
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        emb = Embedder(model=str(tiny_model_folder), cache_dir=tmp_path)
    assert emb.backend == "torch" and "pip install onnxruntime" in caplog.text
    ix = tmp_path / "ix"
    sync_index(ix, [ONE_ISSUE], config=Config(model=str(tiny_model_folder)), embedder=emb, tokenizer=tokenizer)
    manifest = json.loads((ix / "manifest.json").read_text("utf-8"))
    assert manifest["embedding_backend"] == manifest["config"]["embedding_backend"] == "torch"
