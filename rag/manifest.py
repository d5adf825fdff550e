"""The index folder's ``manifest.json``: its format version, reading it, and the atomic switch to a new one.

The manifest is written last: a sync writes its new generation, then replaces the manifest
in one ``os.replace``, so a reader sees the old index or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

from .errors import IndexFormatError, IndexVersionError

__all__ = ["FORMAT_VERSION", "MANIFEST", "read_manifest", "check_version", "library_versions", "switch_manifest"]

FORMAT_VERSION = 2
MANIFEST = "manifest.json"


def library_versions() -> dict[str, str]:
    """Versions of the packages that wrote an index (recorded in its manifest)."""
    out = {}
    for pkg in ("rag-shequ", "faiss-cpu", "bm25s", "jieba", "sentence-transformers", "transformers"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def read_manifest(index_dir: Path) -> dict:
    """The manifest of an index folder; IndexFormatError if it is missing or unreadable."""
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexFormatError(f"no index at {index_dir} (no {MANIFEST}); build one with: "
                               f"rag index --index-dir {index_dir} [PATH ...]")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexFormatError(f"{path}: unreadable manifest ({e}); rebuild with: "
                               f"rag index --index-dir {index_dir}") from None


def check_version(index_dir: Path, manifest: dict, fix: str) -> None:
    """IndexVersionError when a newer version wrote the index: which version reads it."""
    version = manifest.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        writer = str((manifest.get("versions") or {}).get("rag-shequ", "unknown"))
        needed = (f"rag-shequ {writer} or later (pip install -U 'rag-shequ>={writer}')"
                  if writer[:1].isdigit() else "a newer rag-shequ (pip install -U rag-shequ)")
        raise IndexVersionError(
            f"{index_dir}: the index is in format {version}, written by rag-shequ {writer}; this "
            f"rag-shequ {library_versions()['rag-shequ']} reads format {FORMAT_VERSION} only. It needs "
            f"{needed}, or build an index for this version in another folder: "
            "rag index --index-dir NEW_FOLDER")


def switch_manifest(index_dir: Path, manifest: dict) -> None:
    """Write ``manifest`` beside the live one, then replace it: the switch to a new generation."""
    tmp = index_dir / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, index_dir / MANIFEST)   # atomic on POSIX
