"""Writing a new generation of a local index (see rag.index for the layout), then switching to it.

A generation keeps the old base part by hard links when it can and rewrites only the tail;
when the tail outgrows ``Config.tail_limit`` (or removed rows pass ``_COMPACT`` of the base)
the tail is appended to the base, whose approximate index grows by the new rows only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .chunk import Chunk
from .integrity import seal_manifest
from .manifest import FORMAT_VERSION, library_versions, switch_manifest
from .parts import write_part

__all__ = ["write_generation", "NewRows"]

log = logging.getLogger(__name__)

_COMPACT = 0.25          # removed rows beyond this share of the base: rewrite it without them
NewRows = Callable[[], Iterator[tuple[Chunk, list[str], np.ndarray]]]


def write_generation(index_dir: Path, manifest: dict, old, keep: set[str], new_rows: NewRows, n_new: int,
                     config) -> dict:
    """Write a new generation: ``old``'s chunks of the files in ``keep`` (``old`` an Index or None),
    then ``n_new`` new rows (chunk, tokens, vector) from ``new_rows()``; switch the manifest to it.
    Returns the new manifest."""
    index_dir.mkdir(parents=True, exist_ok=True)
    dim = int(manifest["dim"])
    gen = 1 + max([int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()] or [0])
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=index_dir))
    base = old.parts[0] if old and old.parts and old.manifest["parts"].get("base", {}).get("chunks") else None
    tail = old.parts[-1] if old and old.parts and old.parts[-1] is not base else None
    ranges = [list(r) for r in old.removed["ranges"]] if base else []
    dead_tokens = Counter(old.removed["tokens"]) if base else Counter()
    if base:   # a base file not kept: its rows die (they keep their numbers)
        for source, first, n in base.runs:
            if source in keep:
                continue
            live = np.flatnonzero(old._live[first:first + n]) + first   # rows removed before stay so
            for seg in np.split(live, np.flatnonzero(np.diff(live) > 1) + 1) if len(live) else []:
                ranges.append([int(seg[0]), len(seg)])
                for _, tokens in base.store.rows(int(seg[0]), int(seg[-1]) + 1):
                    dead_tokens.update(set(tokens))
    n_base = base.n if base else 0
    n_dead = sum(n for _, n in ranges)
    tail_runs = [(first, n) for source, first, n in tail.runs if source in keep] if tail else []
    n_tail = sum(n for _, n in tail_runs) + n_new

    def tail_rows() -> Iterator[tuple[Chunk, list[str], np.ndarray]]:
        for first, n in tail_runs:
            for i, (chunk, tokens) in enumerate(tail.store.rows(first, first + n)):
                yield chunk, tokens, tail.vectors[first + i]
        yield from new_rows()

    parts: dict[str, dict] = {}
    exact_limit, tail_limit = config.exact_limit, config.tail_limit
    if n_tail > tail_limit or (n_base and n_dead > _COMPACT * n_base):
        compact = n_dead > _COMPACT * n_base
        live = np.ones(n_base, bool)
        for first, n in ranges:
            live[first:first + n] = False

        def base_rows() -> Iterator[tuple[Chunk, list[str], np.ndarray]]:
            if base:
                for i, (chunk, tokens) in enumerate(base.store.rows()):
                    if live[i] or not compact:
                        yield chunk, tokens, base.vectors[i]
            yield from tail_rows()
        kept = int(live.sum()) if compact else n_base
        grow = base.folder / "dense.faiss" if base and base.kind != "flat" and not compact else None
        parts["base"] = write_part(tmp / "base", base_rows(), kept + n_tail, dim, exact_limit,
                                   grow=grow, grown=n_base if grow is not None else 0)
        if compact:
            ranges, dead_tokens = [], Counter()
        log.info("index: tail merged into the base (%d rows%s)", kept + n_tail,
                 ", removed rows dropped" if compact else "")
    else:
        if base:
            (tmp / "base").mkdir()
            for f in base.folder.rglob("*"):
                if f.is_file():
                    dst = tmp / "base" / f.relative_to(base.folder)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    _link(f, dst)
            parts["base"] = dict(old.manifest["parts"]["base"])
        if n_tail:
            parts["tail"] = write_part(tmp / "tail", tail_rows(), n_tail, dim, exact_limit=n_tail + 1)
    (tmp / "removed.json").write_text(json.dumps({"ranges": ranges, "tokens": dead_tokens},
                                                 ensure_ascii=False), encoding="utf-8")
    _fsync_tree(tmp)
    gen_dir = index_dir / f"gen-{gen}"
    os.replace(tmp, gen_dir)
    total = sum(p["chunks"] for p in parts.values())
    manifest = dict(manifest, format_version=FORMAT_VERSION, generation=gen, backend="local",
                    versions=library_versions(), parts=parts, chunks=total - sum(n for _, n in ranges))
    # Last: the checksums of the generation's files (a hard-linked file keeps its old one).
    manifest = seal_manifest(manifest, gen_dir, old.index_dir / f"gen-{old.manifest['generation']}"
                             if old else None, old.manifest if old else None)
    switch_manifest(index_dir, manifest)
    for stale in index_dir.glob("gen-*"):
        if stale.name != gen_dir.name:
            shutil.rmtree(stale, ignore_errors=True)
    for stale in index_dir.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)
    log.info("index saved: %s (%d chunks, generation %d)", index_dir, manifest["chunks"], gen)
    return manifest


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)     # a kept part costs no copy; its files are never written again
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(folder: Path) -> None:
    for f in folder.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
