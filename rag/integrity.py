"""Checksums that let loading name the damaged file of an index.

A generation folder's files are listed in the manifest with their size and CRC-32, and
the manifest carries a CRC-32 of its own content. A truncated or overwritten file is then
found by name before any parser reads it (a flipped byte inside a vector or a chunk's text
parses fine and would silently answer wrong). CRC-32 finds accidental damage, which is
the point here, and reads about 1 GB/s; it is no defence against deliberate tampering.
Indexes saved before these fields existed load without the check.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from .errors import IndexFormatError

__all__ = ["file_checksums", "verify_files", "seal_manifest", "verify_manifest"]

_BLOCK = 1 << 20
FILES_KEY = "gen_files"
SEAL_KEY = "manifest_crc32"


def _crc32(path: Path) -> str:
    crc = 0
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            crc = zlib.crc32(block, crc)
    return f"{crc:08x}"


def file_checksums(folder: Path) -> dict[str, dict]:
    """``{relative path: {"bytes", "crc32"}}`` of every file under ``folder``, sorted by path."""
    return {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "crc32": _crc32(p)}
            for p in sorted(folder.rglob("*")) if p.is_file()}


def verify_files(folder: Path, manifest: dict, fix: str) -> None:
    """Raise IndexFormatError naming the first file of ``folder`` that is missing or damaged."""
    for rel, want in (manifest.get(FILES_KEY) or {}).items():
        path = folder / rel
        try:
            size = path.stat().st_size
            problem = (f"{size} bytes, the manifest recorded {want['bytes']} (truncated or overwritten)"
                       if size != want["bytes"] else
                       "its content does not match the checksum in the manifest (corrupted)"
                       if _crc32(path) != want["crc32"] else None)
        except FileNotFoundError:
            problem = "missing"
        except OSError as e:
            problem = f"unreadable ({e.strerror or e})"
        if problem:
            raise IndexFormatError(f"{path}: damaged index file: {problem}; {fix}")


def _manifest_crc(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != SEAL_KEY}
    return f"{zlib.crc32(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()):08x}"


def seal_manifest(manifest: dict, gen_dir: Path) -> dict:
    """The manifest with the checksums of ``gen_dir``'s files and of itself."""
    out = {k: v for k, v in manifest.items() if k != SEAL_KEY}
    out[FILES_KEY] = file_checksums(gen_dir)
    out[SEAL_KEY] = _manifest_crc(out)
    return out


def verify_manifest(path: Path, manifest: dict, fix: str) -> None:
    """Raise IndexFormatError naming ``path`` if a sealed manifest was changed after saving."""
    if SEAL_KEY in manifest and manifest[SEAL_KEY] != _manifest_crc(manifest):
        raise IndexFormatError(f"{path}: damaged manifest: its content does not match its own "
                               f"checksum (corrupted or edited by hand); {fix}")
