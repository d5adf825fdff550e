"""Checksums that let loading name the damaged file of an index.

A generation folder's files are listed in the manifest with their size and CRC-32, and
the manifest carries a CRC-32 of its own content. A truncated or overwritten file is then
found by name before any parser reads it (a flipped byte inside a vector or a chunk's text
parses fine and would silently answer wrong). CRC-32 finds accidental damage, which is
the point here, and reads about 1 GB/s; it is no defence against deliberate tampering.

Files over 64 MB (a large base part's vectors) are checked by size and by the CRC of their
first and last MiB only: reading gigabytes at every start would undo their memory mapping.
A file a new generation hard-links from the previous one keeps its recorded checksum
instead of being read again. Indexes saved before these fields existed load without checks.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from .errors import IndexFormatError

__all__ = ["seal_manifest", "verify_files", "verify_manifest"]

_BLOCK = 1 << 20
_WHOLE_LIMIT = 64 << 20
FILES_KEY = "gen_files"
SEAL_KEY = "manifest_crc32"


def _crc32(path: Path, size: int) -> dict:
    crc = 0
    with open(path, "rb") as f:
        if size <= _WHOLE_LIMIT:
            while block := f.read(_BLOCK):
                crc = zlib.crc32(block, crc)
            return {"crc32": f"{crc:08x}"}
        crc = zlib.crc32(f.read(_BLOCK))
        f.seek(size - _BLOCK)
        return {"crc32_ends": f"{zlib.crc32(f.read(_BLOCK), crc):08x}"}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def seal_manifest(manifest: dict, gen_dir: Path, old_gen: Path | None = None,
                  old_manifest: dict | None = None) -> dict:
    """The manifest with the checksums of ``gen_dir``'s files and of itself; files hard-linked
    from ``old_gen`` keep their checksums from ``old_manifest``."""
    old_files = (old_manifest or {}).get(FILES_KEY) or {}
    files = {}
    for path in sorted(p for p in gen_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(gen_dir).as_posix()
        if rel in old_files and old_gen is not None and _same_file(path, old_gen / rel):
            files[rel] = old_files[rel]
        else:
            size = path.stat().st_size
            files[rel] = {"bytes": size, **_crc32(path, size)}
    out = {k: v for k, v in manifest.items() if k != SEAL_KEY}
    out[FILES_KEY] = files
    out[SEAL_KEY] = _manifest_crc(out)
    return out


def verify_files(folder: Path, manifest: dict, fix: str) -> None:
    """Raise IndexFormatError naming the first file of ``folder`` that is missing or damaged."""
    for rel, want in (manifest.get(FILES_KEY) or {}).items():
        path = folder / rel
        try:
            size = path.stat().st_size
            problem = (f"{size} bytes, the manifest recorded {want['bytes']} (truncated or overwritten)"
                       if size != want["bytes"] else
                       "its content does not match the checksum in the manifest (corrupted)"
                       if _crc32(path, size) != {k: v for k, v in want.items() if k != "bytes"} else None)
        except FileNotFoundError:
            problem = "missing"
        except OSError as e:
            problem = f"unreadable ({e.strerror or e})"
        if problem:
            raise IndexFormatError(f"{path}: damaged index file: {problem}; {fix}")


def _manifest_crc(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != SEAL_KEY}
    return f"{zlib.crc32(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()):08x}"


def verify_manifest(path: Path, manifest: dict, fix: str) -> None:
    """Raise IndexFormatError naming ``path`` if a sealed manifest was changed after saving."""
    if SEAL_KEY in manifest and manifest[SEAL_KEY] != _manifest_crc(manifest):
        raise IndexFormatError(f"{path}: damaged manifest: its content does not match its own "
                               f"checksum (corrupted or edited by hand); {fix}")
