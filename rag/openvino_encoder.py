"""The OpenVINO embedding backend: the model's ONNX graph run by OpenVINO's CPU runtime.

The export is rag.quantize's ONNX graph of the transformer (standard ONNX ops, fp32), made
once, offline, from the materialised folder and cached beside it as ``<model>-openvino/``.
OpenVINO cannot read the int8 file of the ``onnx`` backend: ONNX Runtime's optimiser fuses
it into ``com.microsoft`` operators (QAttention, QEmbedLayerNormalization) that OpenVINO has
no conversion for. Measured on this 2-core AVX2 machine, side by side: OpenVINO ran the fp32
graph at about 2x torch fp32, the dynamically quantised int8 graph (standard ops) slower than
that, and a statically quantised (QDQ) graph slower still with cosine to fp32 down to 0.955;
ONNX Runtime's int8 stayed about 2x faster than OpenVINO fp32, so ``onnx`` stays the default.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from .e5_weights import build_once
from .errors import ModelLoadError
from .quantize import OnnxEncoder, complete, export_graph, write_marker

__all__ = ["OpenVinoEncoder", "openvino_folder", "ensure_openvino", "export_openvino"]

logger = logging.getLogger(__name__)


def openvino_folder(int8_folder: Path) -> Path:
    """The OpenVINO copy's folder, beside the int8 one (``…-onnx-int8`` -> ``…-openvino``)."""
    return int8_folder.with_name(int8_folder.name.removesuffix("-onnx-int8") + "-openvino")


def export_openvino(st_model, out: Path) -> None:
    """Write the ONNX graph of a loaded fp32 ``SentenceTransformer`` into folder ``out``."""
    started = time.perf_counter()
    meta = export_graph(st_model, out / "model.onnx")
    write_marker(st_model, out, meta, started)


def ensure_openvino(folder: Path, load_fp32) -> Path:
    """Return ``folder`` holding the export, exporting it first if it is missing (see quantize.ensure_onnx_int8)."""
    if not complete(folder):
        logger.info("exporting an ONNX copy of the embedding model for OpenVINO (once) into %s", folder)
        st_model = load_fp32()
        build_once(folder, lambda tmp: export_openvino(st_model, tmp), complete, disk="~0.5 GB")
    return folder


class OpenVinoEncoder(OnnxEncoder):
    """Runs an exported folder with OpenVINO on the CPU; tokenising, pooling and ``encode`` as OnnxEncoder."""

    def _open(self, path: Path):
        import openvino as ov

        core = ov.Core()
        try:
            compiled = core.compile_model(core.read_model(str(path)), "CPU", {
                "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": os.cpu_count() or 1})
        except RuntimeError as exc:   # OpenVINO raises RuntimeError for unreadable or unconvertible graphs
            raise ModelLoadError(f"OpenVINO cannot load {path}: {str(exc).strip().splitlines()[-1]}") from exc
        request, lock = compiled.create_infer_request(), threading.Lock()

        def run(ids, mask):
            with lock:   # one infer request: the chat's threads take turns (both cores serve each)
                return request.infer({"input_ids": ids, "attention_mask": mask})[0].copy()
        return run
