"""The index on Qdrant: a server or cluster (a URL), or qdrant-client's embedded local mode (a folder).

One collection holds every chunk as a point: a dense vector ``dense`` (cosine), the
project's own jieba tokens as a sparse vector ``bm25`` (BM25 term weights from
rag.lexical.term_weights, token ids a CRC32 of the token; Qdrant's IDF modifier supplies
the IDF, so Chinese tokenisation stays ours), and the chunk as payload. Hybrid search is one
RRF query over two prefetches; filters are payload filters.

Generations make a sync all-or-nothing as on the local backend: each point records the
generation that added it (``gen``) and, once removed, the one that removed it (``gone``);
readers see ``gen <= live`` and not ``gone <= live``. A sync writes generation n+1 (upserts
keyed by chunk id and text hash, idempotent), then switches ``manifest.json``; a crash before
that leaves generation n exactly as it was, and the next sync clears the leftovers. The index
folder keeps the manifest and ``gen-<n>/doc_freq.json`` (chunk frequency of each token, for
the composer); Qdrant keeps everything else.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import threading
import weakref
import zlib
from collections import Counter
from hashlib import sha1
from pathlib import Path
from typing import Iterator

import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .filters import Where, date_span
from .index import MANIFEST, FORMAT_VERSION, NewRows, _versions, rrf
from .lexical import term_weights
from .store import CHUNK_FIELDS

__all__ = ["QdrantIndex", "connect", "point_id", "sparse"]

log = logging.getLogger(__name__)
DENSE, SPARSE = "dense", "bm25"
_BATCH = 256
# qdrant-client's local mode allows one client per folder in a process (it locks the folder);
# the sync and the index it replaces share it. Entries go when no index uses them.
_local_clients: "weakref.WeakValueDictionary[str, object]" = weakref.WeakValueDictionary()
_clients_lock = threading.Lock()


@atexit.register
def _close_local_clients() -> None:   # before interpreter shutdown, where qdrant-client's __del__ fails
    for client in list(_local_clients.values()):
        client.close()


def connect(location: str):
    """A QdrantClient for a server URL, or for the local-mode folder ``location``."""
    from qdrant_client import QdrantClient
    if "://" in location:
        return QdrantClient(url=location, timeout=60)
    with _clients_lock:
        client = _local_clients.get(location)
        if client is None:
            try:   # ":memory:": local mode without a folder, for one process (benchmarks)
                client = QdrantClient(location=location) if location == ":memory:" else QdrantClient(path=location)
            except RuntimeError as e:   # the folder is locked by another process
                raise IndexFormatError(f"Qdrant folder {location} is in use by another process ({e}); local "
                                       "mode serves one process: stop it, or run a Qdrant server") from None
            _local_clients[location] = client
        return client


def point_id(chunk: Chunk) -> int:
    """The point's id: from the chunk id and text hash, so writing a chunk twice is one point."""
    return int.from_bytes(sha1(f"{chunk.id}\n{chunk.sha}".encode()).digest()[:8], "big") >> 1


def sparse(weights: dict[str, float]):
    """Token weights as a Qdrant sparse vector (ids: CRC32 of the token; a clash adds up)."""
    from qdrant_client import models
    merged: Counter[int] = Counter()
    for token, w in weights.items():
        merged[zlib.crc32(token.encode("utf-8"))] += w
    ids = sorted(merged)
    return models.SparseVector(indices=ids, values=[float(merged[i]) for i in ids])


def _visible(gen: int, where: Where | None = None):
    from qdrant_client import models as m
    must = [m.FieldCondition(key="gen", range=m.Range(lte=gen))]
    if where is not None and where.paper:
        must.append(m.FieldCondition(key="paper", match=m.MatchValue(value=where.paper)))
    days = where.day_range if where is not None else None
    if days:
        must += [m.FieldCondition(key="day_first", range=m.Range(gt=0, lte=days[1])),
                 m.FieldCondition(key="day_last", range=m.Range(gte=days[0]))]
    return m.Filter(must=must, must_not=[m.FieldCondition(key="gone", range=m.Range(lte=gen))])


def _payload(chunk: Chunk, tokens: list[str], gen: int) -> dict:
    first, last = date_span(chunk.date)
    return {**{f: getattr(chunk, f) for f in CHUNK_FIELDS}, "cuts": list(chunk.cuts),
            "page_marks": [list(m) for m in chunk.page_marks], "sha": chunk.sha,
            "tokens": " ".join(tokens), "gen": gen, "day_first": first, "day_last": last}


def _chunk(payload: dict) -> Chunk:
    values = {f: payload[f] for f in CHUNK_FIELDS if f in payload}
    values["cuts"] = tuple(values["cuts"])
    values["page_marks"] = tuple(tuple(m) for m in values.get("page_marks", ()))
    return Chunk(**values)


class _Points:
    """``index.chunks``: point id -> Chunk (payloads of recent search results are kept)."""

    def __init__(self, index: "QdrantIndex") -> None:
        self._index, self._cache, self._lock = index, {}, threading.Lock()

    def remember(self, pid: int, payload: dict) -> None:
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[pid] = payload

    def __getitem__(self, pid: int) -> Chunk:
        payload = self._cache.get(pid)
        if payload is None:
            found = self._index.client.retrieve(self._index.collection, [pid], with_payload=True)
            if not found:
                raise IndexError(f"point {pid} is not in collection {self._index.collection}")
            payload = found[0].payload
            self.remember(pid, payload)
        return _chunk(payload)

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Chunk]:
        chunks = [_chunk(p.payload) for p in self._index.scroll(self._index.visible())]
        return iter(sorted(chunks, key=lambda c: (c.source, c.article, c.position)))


class QdrantIndex:
    """The index contract of rag.index.Index on a Qdrant collection (see the module docstring)."""

    backend = "qdrant"

    def __init__(self, index_dir: Path, manifest: dict) -> None:
        self.index_dir, self.manifest = Path(index_dir), manifest
        self.location, self.collection = manifest["config"]["qdrant"], manifest["collection"]
        self.generation = int(manifest["generation"])
        self.client = connect(self.location)
        path = self.index_dir / f"gen-{self.generation}" / "doc_freq.json"
        try:
            self.doc_freq: dict[str, int] = json.loads(path.read_text(encoding="utf-8"))
            exists = self.client.collection_exists(self.collection)
        except (OSError, ValueError) as e:
            raise IndexFormatError(f"{path}: unreadable token counts ({e})") from None
        if not exists:
            raise IndexFormatError(f"Qdrant at {self.location} has no collection {self.collection!r}")
        self.chunks = _Points(self)

    def __len__(self) -> int:
        return int(self.manifest["chunks"])

    def visible(self, where: Where | None = None):
        return _visible(self.generation, where)

    def scroll(self, flt, with_vectors=False) -> Iterator:
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=1024, offset=offset,
                                                with_payload=True, with_vectors=with_vectors)
            yield from points
            if offset is None:
                return

    def article_text(self, source: str, article: int) -> str:
        from qdrant_client import models as m
        flt = self.visible()
        flt.must += [m.FieldCondition(key="source", match=m.MatchValue(value=source)),
                     m.FieldCondition(key="article", match=m.MatchValue(value=article))]
        return "".join(p.payload["text"] for p in sorted(self.scroll(flt), key=lambda p: p.payload["position"]))

    def vector_for(self, sha: str) -> np.ndarray | None:
        from qdrant_client import models as m
        flt = m.Filter(must=[m.FieldCondition(key="sha", match=m.MatchValue(value=sha))])
        points, _ = self.client.scroll(self.collection, scroll_filter=flt, limit=1, with_vectors=[DENSE])
        return np.asarray(points[0].vector[DENSE], np.float32) if points else None

    def _requests(self, query, tokens, k, rrf_k, where):
        from qdrant_client import models as m
        flt = self.visible(where)
        dense = m.QueryRequest(query=np.asarray(query, np.float32).tolist(), using=DENSE, limit=k,
                               filter=flt, with_payload=True)
        lexical = m.QueryRequest(query=sparse(Counter(tokens)), using=SPARSE, limit=k, filter=flt,
                                 with_payload=True)
        # Qdrant's RRF gives rank r (from 1) 1/(r + k - 1); ours is 1/(r + rrf_k).
        fused = m.QueryRequest(prefetch=[m.Prefetch(query=dense.query, using=DENSE, limit=k, filter=flt),
                                         m.Prefetch(query=lexical.query, using=SPARSE, limit=k, filter=flt)],
                               query=m.RrfQuery(rrf=m.Rrf(k=rrf_k + 1)), limit=2 * k, filter=flt,
                               with_payload=True)
        return dense, lexical, fused

    def _run(self, requests) -> list[list[tuple[int, float]]]:
        out = []
        for response in self.client.query_batch_points(self.collection, requests):
            for p in response.points:
                self.chunks.remember(p.id, p.payload)
            out.append([(p.id, p.score) for p in response.points])
        return out

    def search_dense(self, query: np.ndarray, k: int, where: Where | None = None) -> list[tuple[int, float]]:
        return self._run([self._requests(query, [], k, 60, where)[0]])[0] if k >= 1 and len(self) else []

    def search_lexical(self, tokens: list[str], k: int, where: Where | None = None) -> list[tuple[int, float]]:
        if not tokens or k < 1 or not len(self):
            return []
        return [(p, s) for p, s in self._run([self._requests(np.zeros(1), tokens, k, 60, where)[1]])[0] if s > 0]

    def hybrid(self, query: np.ndarray, tokens: list[str], k: int, rrf_k: int,
               where: Where | None = None) -> dict[int, list]:
        """One round trip: Qdrant's RRF over both prefetches, and each side alone for its ranks."""
        if not len(self):
            return {}
        dense, lexical, fused = self._requests(query, tokens, k, rrf_k, where)
        if not tokens:
            return rrf(self._run([dense])[0], [], rrf_k)
        d, lex, f = self._run([dense, lexical, fused])
        sides = rrf(d, [x for x in lex if x[1] > 0], rrf_k)
        return {pid: [score, *sides.get(pid, [0.0, 0.0, 0.0, 0, 0])[1:]] for pid, score in f}

    # ---- writing ---------------------------------------------------------------------------
    @staticmethod
    def write(index_dir: str | Path, manifest: dict, old, keep: set[str], new_rows: NewRows, n_new: int,
              config) -> "QdrantIndex":
        """Write generation n+1 to Qdrant (see the module docstring), then switch the manifest."""
        from qdrant_client import models as m
        index_dir = Path(index_dir)
        index_dir.mkdir(parents=True, exist_ok=True)
        client = connect(config.qdrant)
        prev = old if isinstance(old, QdrantIndex) else None
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
            for p in (prev.scroll(prev.visible()) if prev else QdrantIndex._all(client, collection)):
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
            batch.append(m.PointStruct(id=pid, payload=_payload(chunk, tokens, gen), vector={
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
                        collection=collection, avgdl=round(avgdl, 4), versions=_versions(),
                        chunks=before - len(going) + added)
        tmp = index_dir / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, index_dir / MANIFEST)   # the switch
        client.delete(collection, m.Filter(must=[m.FieldCondition(key="gone", range=m.Range(lte=gen))]))
        for stale in index_dir.glob("gen-*"):
            if stale.name != gen_dir.name:
                shutil.rmtree(stale, ignore_errors=True)
        log.info("qdrant: generation %d of %s in %s (%d chunks)", gen, collection, config.qdrant, manifest["chunks"])
        return QdrantIndex(index_dir, manifest)

    @staticmethod
    def _all(client, collection) -> Iterator:
        offset = None
        while True:
            points, offset = client.scroll(collection, limit=1024, offset=offset, with_payload=["source", "tokens"])
            yield from points
            if offset is None:
                return
