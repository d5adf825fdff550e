"""Adding an uploaded issue file from the chat: a clean name, size and type checks, and a
pending marker so that a failed indexing, or the next start after a crash, puts the uploads
folder back as it was.

No gradio here (``app.py`` builds the page).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import unicodedata
from pathlib import Path

from .errors import IndexWriteError, IngestError, RagError
from .ingest import SUPPORTED_SUFFIXES

__all__ = ["UploadRejected", "clean_filename", "recover_uploads", "add_upload", "progress_text",
           "MAX_UPLOAD_BYTES", "ALLOWED_SUFFIXES"]

log = logging.getLogger("app")

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_SUFFIXES = SUPPORTED_SUFFIXES   # .txt .md .pdf .docx .html .htm
ALLOWED_TEXT = "、".join(ALLOWED_SUFFIXES[:-1]) + " 或 " + ALLOWED_SUFFIXES[-1]


class UploadRejected(ValueError):
    """An uploaded file is refused before it reaches the library (type, size or name)."""


def clean_filename(name: str) -> str:
    """Return a safe base name for an uploaded issue file.

    Drops any directory part (both / and \\), keeps letters (Chinese included), digits,
    ``-``, ``_`` and ``.``, and refuses any type the library cannot read.

    Example:
        >>> clean_filename("../../etc/第3期 社区报.TXT")
        '第3期_社区报.txt'
    """
    base = unicodedata.normalize("NFKC", name or "").replace("\\", "/").split("/")[-1]
    stem, dot, suffix = base.rpartition(".")
    if not dot or f".{suffix.lower()}" not in ALLOWED_SUFFIXES:
        raise UploadRejected(f"只能添加 {ALLOWED_TEXT} 文件，收到的是「{base or name}」。")
    stem = re.sub(r"[^\w\-.]+", "_", stem).strip("._-")[:80] or "upload"
    return f"{stem}.{suffix.lower()}"


def _store_upload(src: Path, uploads_dir: Path) -> Path:
    """Copy an uploaded file into ``uploads_dir`` under a clean name; return the destination.

    Until :func:`_settle_upload` runs, a marker ``.<name>.pending`` (and, if a file was
    replaced, its bytes in ``.<name>.previous``) lets a failed indexing, or the next start
    after a crash (:func:`recover_uploads`), put things back as they were.
    """
    name = clean_filename(src.name)
    size = src.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise UploadRejected(f"文件太大（{size / 2**20:.1f} MB），上限为 "
                             f"{MAX_UPLOAD_BYTES // 2**20} MB。")
    if size == 0:
        raise UploadRejected("文件是空的。")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    dest = uploads_dir / name
    _pending(dest).touch()
    if dest.exists():
        shutil.copyfile(dest, _previous(dest))
    incoming = uploads_dir / f".{name}.incoming"
    shutil.copyfile(src, incoming)
    os.replace(incoming, dest)   # never a half-copied issue under its own name
    return dest


def _pending(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.pending")


def _previous(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.previous")


def _settle_upload(dest: Path, added: bool) -> None:
    """Keep the upload (``added``) or put back what was there before; then drop the marker."""
    previous = _previous(dest)
    if added:
        previous.unlink(missing_ok=True)
    elif previous.exists():
        os.replace(previous, dest)
    else:
        dest.unlink(missing_ok=True)
    _pending(dest).unlink(missing_ok=True)


def recover_uploads(uploads_dir: Path, indexed: dict) -> list[str]:
    """After a crash mid-upload, make the uploads folder agree with the index.

    ``indexed`` is the manifest's ``files``. An upload whose marker is left is kept if the
    index holds exactly its bytes (the crash came after the switch), else put back as it
    was. Returns the names of the uploads that were not added.
    """
    lost = []
    for marker in sorted(uploads_dir.glob(".*.pending")):
        dest = uploads_dir / marker.name[1:-len(".pending")]
        entry = indexed.get(dest.name) or {}
        added = dest.is_file() and entry.get("sha256") == hashlib.sha256(dest.read_bytes()).hexdigest()
        _settle_upload(dest, added)
        if not added:
            lost.append(dest.name)
            log.warning("the upload of %s was interrupted and was NOT added; upload it again", dest.name)
    for partial in uploads_dir.glob(".*.incoming"):
        partial.unlink()
    return lost


def progress_text(desc: str) -> str:
    """The library's progress step in Chinese: "embedding 3/9 new chunks" -> "正在向量化新片段 3/9"."""
    m = re.match(r"embedding (\d+)/(\d+)", desc)
    if m:
        return f"正在向量化新片段 {m.group(1)}/{m.group(2)}…"
    m = re.match(r"reading .* by OCR: page (\d+)/(\d+)", desc)
    if m:
        return f"正在识别扫描页 {m.group(1)}/{m.group(2)}（每页约 5 秒）…"
    if desc.startswith("reading"):
        return "正在读取文件…"
    if desc.startswith("saving"):
        return "正在保存索引…"
    if desc.startswith("another sync"):
        return "另一个索引任务正在进行，等它完成后再添加…"
    return "完成" if desc == "done" else "正在建立索引…"


def add_upload(assistant, src: Path, uploads_dir: Path, progress=None) -> tuple[bool, str]:
    """Store an uploaded issue under ``uploads_dir`` and index it; return (ok, message).

    On any failure the uploads folder is put back as it was (the library leaves the index
    as it was), and the message says why.
    """
    try:
        dest = _store_upload(src, uploads_dir)
    except UploadRejected as exc:
        return False, f"未添加：{exc}"
    except OSError as exc:   # a full disk, say: nothing was indexed
        log.error("storing upload %s failed: %s", src.name, exc)
        return False, f"未添加：服务器无法保存文件（{exc.strerror or exc}），索引保持不变。"
    try:
        summary = assistant.add_files([dest], progress=progress)
    except Exception as exc:
        _settle_upload(dest, added=False)
        if not isinstance(exc, RagError):
            log.exception("adding %s failed", dest)
        reason = str(exc) if isinstance(exc, (IngestError, IndexWriteError)) else "索引时出错，详情见服务器日志"
        return False, f"未能添加「{dest.name}」，索引保持不变。原因：{reason}"
    _settle_upload(dest, added=True)
    return True, (f"已添加「{dest.name}」：新增 {summary['embedded']} 个片段，"
                  f"复用 {summary['reused']} 个，用时 {summary['seconds']:.1f} 秒。现在可以提问了。")

