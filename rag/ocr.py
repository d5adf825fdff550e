"""Read a scanned PDF page (no text layer) with OCR, offline.

The engine is RapidOCR (PP-OCRv4 detection and recognition, Apache-2.0): its models ship
inside the ``rapidocr_onnxruntime`` wheel and run on ONNX Runtime, so nothing is downloaded.
Each recognised line comes back as characters with boxes in PDF points, the same form as a
text layer's, so :mod:`rag.pdf` lays out a scanned page (columns, running head, titles,
captions) exactly as it does a printed one.

Measured on a two-column issue rendered to images (``benchmarks/extract.py --ocr``): about 98%
of the characters come back right, but rare characters in names can be lost (兰岭园 read as
兰园), so answers from a scan are marked as read by OCR and the page image is the reference.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import threading
from collections import OrderedDict
from typing import NamedTuple

__all__ = ["OcrLine", "why_unavailable", "read_lines", "MAX_OCR_PAGES"]

MAX_OCR_PAGES = 40      # about 5 s a page on 2 cores: a 40-page scan is a few minutes, no more
_SCALE = 2.0            # 144 dpi: as accurate as 200 or 250 dpi on 10.5 pt type, and the fastest
_MAX_SIDE = 2400        # pixels; a poster-sized page is rendered smaller, never gigabytes
_lock = threading.Lock()
_cache: OrderedDict[str, tuple] = OrderedDict()   # page pixels' digest -> lines


class OcrLine(NamedTuple):
    """A recognised line: its text and box in PDF points, from the page's top-left corner."""
    text: str
    x0: float
    top: float
    x1: float
    bottom: float


@functools.lru_cache(maxsize=1)
def _engine():
    from rapidocr_onnxruntime import RapidOCR
    return RapidOCR()


def why_unavailable() -> str:
    """"" if OCR can run here, else why not (for an error message)."""
    try:
        importlib.import_module("rapidocr_onnxruntime")
    except Exception as e:  # noqa: BLE001 - ImportError, or a missing system library under cv2
        return f"OCR is not installed ({type(e).__name__}: {e}); pip install rapidocr_onnxruntime"
    return ""


def read_lines(page) -> list[OcrLine]:
    """The text lines OCR finds on a ``pypdfium2`` page, top-down (cached by the page's pixels,
    since the source viewer asks again for the page it highlights)."""
    import numpy as np

    width, height = page.get_width(), page.get_height()
    scale = min(_SCALE, _MAX_SIDE / max(width, height, 1.0))
    array = np.asarray(page.render(scale=scale, grayscale=True).to_pil().convert("RGB"))
    key = hashlib.sha1(array.tobytes()).hexdigest() + f"@{scale:.4f}"
    with _lock:   # one recognition at a time: the engine is not documented as thread-safe
        if key not in _cache:
            # no angle classifier: pages are upright, and it turned whole headlines upside down
            found, _ = _engine()(array, use_cls=False)
            _cache[key] = tuple(_line(array, box, text, scale) for box, text, _score in found or [] if text.strip())
            while len(_cache) > 64:
                _cache.popitem(last=False)
        return sorted(_cache[key], key=lambda l: (l.top, l.x0))


def _line(array, box, text: str, scale: float) -> OcrLine:
    """The line's box, its sides moved in to its ink: the detector pads boxes unevenly (a leading
    quote mark can reach into a column gutter), and the layout finds gutters between boxes.
    Its top and bottom stay as detected, a steadier measure of the type size than the ink."""
    h, w = array.shape[:2]
    x0, x1 = max(0, int(min(p[0] for p in box))), min(w, int(max(p[0] for p in box)) + 1)
    y0, y1 = max(0, min(p[1] for p in box)), min(h, max(p[1] for p in box))
    cols = (array[int(y0):int(y1) + 1, x0:x1, 0] < 128).any(axis=0).nonzero()[0]
    if len(cols):
        x0, x1 = x0 + cols[0], x0 + cols[-1] + 1
    return OcrLine(text.strip(), x0 / scale, y0 / scale, x1 / scale, y1 / scale)
