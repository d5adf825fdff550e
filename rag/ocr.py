"""Read a scanned PDF page (no text layer) with OCR, offline.

The engine is RapidOCR (PP-OCRv4 detection and recognition, Apache-2.0): its models ship
inside the ``rapidocr_onnxruntime`` wheel and run on ONNX Runtime, so nothing is downloaded.
Each recognised line comes back as characters with boxes in PDF points, the same form as a
text layer's, so :mod:`rag.pdf` lays out a scanned page (columns, running head, titles,
captions) exactly as it does a printed one.

Recognition runs in a worker process started for one file (:class:`Reader`): the engine holds
about 550 MB while it works (830 MB at its peak), which a server answering questions should
not keep, and a crash in native code then fails one upload instead of the server.

Measured with ``python benchmarks/extract.py``: 94-99 % of characters right on a clean scan,
but rare characters in names can be lost (兰岭园 read as 兰园), so pages read by OCR are
named in the metadata and the chat's page view, and the page image is the reference.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import pickle
import subprocess
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

__all__ = ["OcrLine", "OcrFailed", "Reader", "why_unavailable", "MAX_OCR_PAGES"]

MAX_OCR_PAGES = 40      # about 5 s a page on 2 cores: a 40-page scan is a few minutes, no more
PAGE_TIMEOUT_S = 300    # one page, worker start included; a hung worker fails the file
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


class OcrFailed(RuntimeError):
    """The OCR worker crashed or timed out on a page."""


def why_unavailable() -> str:
    """"" if OCR can run here, else why not (for an error message). Nothing is imported here:
    the engine loads only in the worker."""
    missing = [m for m in ("rapidocr_onnxruntime", "onnxruntime", "cv2") if importlib.util.find_spec(m) is None]
    if missing:
        return f"OCR is not installed (no module {', '.join(missing)}); pip install rapidocr_onnxruntime"
    return ""


class Reader:
    """Reads pages by OCR in one worker process (``python -m rag.ocr``), started on the first
    page that is not cached and ended when the ``with`` block ends.

    A plain subprocess rather than multiprocessing: spawn would run the caller's ``__main__``
    again in the worker (a script without a main guard, or ``python -`` where it fails).

    Example:
        >>> with Reader() as reader:                       # doctest: +SKIP
        ...     lines = reader.lines(pdf[0])
    """

    def __init__(self) -> None:
        self._worker: subprocess.Popen | None = None

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc) -> None:
        if self._worker is not None:
            self._worker.stdin.close()   # the worker ends at end of input
            try:
                self._worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._worker.kill()
                self._worker.wait()
            self._worker.stdout.close()
            self._worker = None

    def lines(self, page) -> list[OcrLine]:
        """The text lines on a ``pypdfium2`` page, top-down (cached by the page's pixels, since
        the source viewer asks again for the page it highlights)."""
        import numpy as np

        scale = min(_SCALE, _MAX_SIDE / max(page.get_width(), page.get_height(), 1.0))
        array = np.asarray(page.render(scale=scale, grayscale=True).to_pil().convert("RGB"))
        key = hashlib.sha1(array.tobytes()).hexdigest() + f"@{scale:.4f}"
        with _lock:
            found = _cache.get(key)
        if found is None:
            found = tuple(sorted(self._ask(array, scale), key=lambda l: (l.top, l.x0)))
            with _lock:
                _cache[key] = found
                while len(_cache) > 64:
                    _cache.popitem(last=False)
        return list(found)

    def _ask(self, array, scale: float) -> tuple[OcrLine, ...]:
        if self._worker is None:
            root = str(Path(__file__).resolve().parent.parent)
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
            self._worker = subprocess.Popen([sys.executable, "-m", "rag.ocr"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        reply: list = []

        def exchange() -> None:
            try:
                pickle.dump((array, scale), self._worker.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                self._worker.stdin.flush()
                reply.append(pickle.load(self._worker.stdout))
            except Exception as e:  # noqa: BLE001 - a worker that died mid-page: reported below
                reply.append(("error", f"the OCR worker ended ({type(e).__name__})"))

        talk = threading.Thread(target=exchange, daemon=True)
        talk.start()
        talk.join(PAGE_TIMEOUT_S)
        if talk.is_alive() or reply[0][0] != "ok":
            why = f"TimeoutError: no reply in {PAGE_TIMEOUT_S} s" if talk.is_alive() else reply[0][1]
            self._worker.kill()
            self._worker.wait()
            with contextlib.suppress(OSError):   # a write cut off by the kill
                self._worker.stdin.close()
            self._worker = None
            raise OcrFailed(why)
        return tuple(OcrLine(*line) for line in reply[0][1])


# ---- in the worker process ----------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _engine():
    from rapidocr_onnxruntime import RapidOCR
    return RapidOCR()


def _recognise(array, scale: float) -> tuple[OcrLine, ...]:
    # no angle classifier: pages are upright, and it turned whole headlines upside down
    found, _ = _engine()(array, use_cls=False)
    return tuple(_line(array, box, text, scale) for box, text, _score in found or [] if text.strip())


def _line(array, box, text: str, scale: float) -> OcrLine:
    """The line's box, its sides moved in to its ink: the detector pads boxes unevenly (a leading
    quote mark can reach into a column gutter), and the layout finds gutters between boxes.
    Its top and bottom stay as detected, a steadier measure of the type size than the ink."""
    h, w = array.shape[:2]
    x0, x1 = max(0, int(min(p[0] for p in box))), min(w, int(max(p[0] for p in box)) + 1)
    y0, y1 = max(0, min(p[1] for p in box)), min(h, max(p[1] for p in box))
    cols = (array[int(y0):int(y1) + 1, x0:x1, 0] < 128).any(axis=0).nonzero()[0]
    if len(cols):
        x0, x1 = x0 + int(cols[0]), x0 + int(cols[-1]) + 1
    return OcrLine(text.strip(), x0 / scale, float(y0) / scale, x1 / scale, float(y1) / scale)


def _serve() -> None:
    """The worker: (page image, scale) pickles in on stdin, ("ok", lines) or ("error", why) out
    on stdout, until stdin ends. Anything the engine prints goes to stderr, never into replies."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        try:
            array, scale = pickle.load(requests)
        except EOFError:
            return
        try:
            reply = ("ok", [tuple(line) for line in _recognise(array, scale)])   # plain: __main__ here
        except Exception as e:  # noqa: BLE001 - reported to the reading process
            reply = ("error", f"{type(e).__name__}: {e}")
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    _serve()
