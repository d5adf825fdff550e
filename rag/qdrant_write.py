"""Writing generation n+1 of an index on Qdrant (see rag.qdrant_index), then switching the manifest.

Upserts are keyed by chunk id and text hash (idempotent); removed points are marked
``gone`` with the new generation; a sync that died before its switch leaves points and
marks that the next sync clears first. The manifest switch is the commit.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from hashlib import sha1
from pathlib import Path
from typing import Iterator

import numpy as np

from .generation import NewRows
from .lexical import term_weights
from .manifest import FORMAT_VERSION, library_versions, switch_manifest
from .qdrant_points import DENSE, SPARSE, connect, payload, point_id, sparse

__all__ = ["write_collection"]

log = logging.getLogger(__name__)
_BATCH = 256


def write_collection(index_dir: Path, manifest: dict, old, keep: set[str], new_rows: NewRows, n_new: int,
                     config) -> dict:
    """Write generation n+1 to Qdrant: ``old``'s points of the files in ``keep`` stay, the rest are
    removed, ``new_rows()`` are upserted; then switch the manifest. Returns the new manifest."""
    from qdrant_client import models as m
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    client = connect(config.qdrant)
    prev = old if getattr(old, "backend", None) == "qdrant" else None
    collection = prev.collection if prev else "rag_" + sha1(str(index_dir.resolve()).encode()).hexdigest()[:12]
    live = prev.generation if prev else 0
    gen = 1 + max([int(p.name[4:]) for p in index_dir.glob("gen-*") if p.name[4:].isdigit()] + [live])
    if not client.collection_exists(collection):
        client.create_collection(
            collection, vectors_config={DENSE: m.VectorParams(size=int(manifest["dim"]), distance=m.Distance.COSINE)},
            sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
            shard_number=1)   # IDF is per shard: one shard keeps BM25 statistics whole
        for field, kind in () if "://" not in config.qdrant else (("gen", "integer"), ("gone", "integer"), ("day_first", "integer"),
                            ("day_last", "integer"), ("article", "integer"), ("source", "keyword"),
                            ("sha", "keyword"), ("paper", "keyword")):
            client.create_payload_index(collection, field, field_schema=kind)
    # (Local mode has no payload indexes; a server needs them for fast filters.)
    # Leftovers of a sync that died before its switch: its points, and its removal marks.
    client.delete(collection, m.Filter(must=[m.FieldCondition(key="gen", range=m.Range(gt=live))]))
    client.delete_payload(collection, ["gone"], m.Filter(must=[m.FieldCondition(key="gone", range=m.Range(gt=live))]))

    doc_freq = Counter(prev.doc_freq if prev else {})
    going: dict[int, list[str]] = {}
    if prev or client.count(collection).count:
        for p in (prev.scroll(prev.visible()) if prev else _all_points(client, collection)):
            if p.payload["source"] not in keep or not prev:
                going[p.id] = p.payload["tokens"].split()
    before = len(prev) if prev else len(going)
    avgdl = float((prev.manifest if prev else {}).get("avgdl") or 0)
    rows = list(new_rows()) if not avgdl else None
    if rows is not None:   # the first build fixes the mean chunk length the weights use
        avgdl = float(np.mean([len(t) for _, t, _ in rows])) if rows else 1.0
    added, batch = 0, []
    for chunk, tokens, vector in (rows if rows is not None else new_rows()):
        pid = point_id(chunk)
        if going.pop(pid, None) is not None:
            continue                  # the same chunk, unchanged: it stays as it is
        doc_freq.update(set(tokens))
        batch.append(m.PointStruct(id=pid, payload=payload(chunk, tokens, gen), vector={
            DENSE: np.asarray(vector, np.float32).tolist(), SPARSE: sparse(term_weights(tokens, avgdl))}))
        added += 1
        if len(batch) >= _BATCH:
            client.upsert(collection, batch, wait=True)
            batch = []
    if batch:
        client.upsert(collection, batch, wait=True)
    for start in range(0, len(going), 1000):
        ids = list(going)[start:start + 1000]
        client.set_payload(collection, {"gone": gen}, points=ids, wait=True)
    for tokens in going.values():
        doc_freq.subtract(set(tokens))
    gen_dir = index_dir / f"gen-{gen}"
    gen_dir.mkdir()
    (gen_dir / "doc_freq.json").write_text(json.dumps({t: c for t, c in doc_freq.items() if c > 0},
                                                      ensure_ascii=False), encoding="utf-8")
    manifest = dict(manifest, config=config.to_dict(), format_version=FORMAT_VERSION, generation=gen, backend="qdrant",
                    collection=collection, avgdl=round(avgdl, 4), versions=library_versions(),
                    chunks=before - len(going) + added)
    switch_manifest(index_dir, manifest)
    client.delete(collection, m.Filter(must=[m.FieldCondition(key="gone", range=m.Range(lte=gen))]))
    for stale in index_dir.glob("gen-*"):
        if stale.name != gen_dir.name:
            shutil.rmtree(stale, ignore_errors=True)
    log.info("qdrant: generation %d of %s in %s (%d chunks)", gen, collection, config.qdrant, manifest["chunks"])
    return manifest


def _all_points(client, collection) -> Iterator:
    offset = None
    while True:
        points, offset = client.scroll(collection, limit=1024, offset=offset, with_payload=["source", "tokens"])
        yield from points
        if offset is None:
            return
