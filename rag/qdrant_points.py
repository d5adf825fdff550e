"""How the index lives in Qdrant: the client for a location, point ids, sparse vectors, payloads, filters.

A chunk is one point: a dense vector ``dense`` (cosine), the project's jieba tokens as a
sparse vector ``bm25`` (token ids a CRC32 of the token), and the chunk as payload with the
generation that added it (``gen``) and, once removed, the one that removed it (``gone``).
"""

from __future__ import annotations

import atexit
import threading
import weakref
import zlib
from collections import Counter
from hashlib import sha1

from .chunk import Chunk
from .errors import IndexFormatError
from .filters import Where, date_span
from .store import CHUNK_FIELDS

__all__ = ["DENSE", "SPARSE", "connect", "point_id", "sparse", "visible", "payload", "chunk_of"]

DENSE, SPARSE = "dense", "bm25"
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


def visible(gen: int, where: Where | None = None):
    from qdrant_client import models as m
    must = [m.FieldCondition(key="gen", range=m.Range(lte=gen))]
    if where is not None and where.paper:
        must.append(m.FieldCondition(key="paper", match=m.MatchValue(value=where.paper)))
    days = where.day_range if where is not None else None
    if days:
        must += [m.FieldCondition(key="day_first", range=m.Range(gt=0, lte=days[1])),
                 m.FieldCondition(key="day_last", range=m.Range(gte=days[0]))]
    return m.Filter(must=must, must_not=[m.FieldCondition(key="gone", range=m.Range(lte=gen))])


def payload(chunk: Chunk, tokens: list[str], gen: int) -> dict:
    first, last = date_span(chunk.date)
    return {**{f: getattr(chunk, f) for f in CHUNK_FIELDS}, "cuts": list(chunk.cuts),
            "page_marks": [list(m) for m in chunk.page_marks], "sha": chunk.sha,
            "tokens": " ".join(tokens), "gen": gen, "day_first": first, "day_last": last}


def chunk_of(payload: dict) -> Chunk:
    values = {f: payload[f] for f in CHUNK_FIELDS if f in payload}
    values["cuts"] = tuple(values["cuts"])
    values["page_marks"] = tuple(tuple(m) for m in values.get("page_marks", ()))
    return Chunk(**values)
