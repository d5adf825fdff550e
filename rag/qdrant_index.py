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
the composer); Qdrant keeps everything else. The point format is rag.qdrant_points; writing
a generation is rag.qdrant_write.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator

import numpy as np

from .chunk import Chunk
from .errors import IndexFormatError
from .filters import Where
from .fusion import rrf
from .generation import NewRows
from .qdrant_points import DENSE, SPARSE, chunk_of, connect, sparse, visible
from .qdrant_write import write_collection

__all__ = ["QdrantIndex"]

log = logging.getLogger(__name__)


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
        return chunk_of(payload)

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Chunk]:
        chunks = [chunk_of(p.payload) for p in self._index.scroll(self._index.visible())]
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
        return visible(self.generation, where)

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

    @staticmethod
    def write(index_dir: str | Path, manifest: dict, old, keep: set[str], new_rows: NewRows, n_new: int,
              config) -> "QdrantIndex":
        """Write generation n+1 to Qdrant (see rag.qdrant_write), then switch the manifest; load it."""
        index_dir = Path(index_dir)
        # Held until the index has opened: a local-mode client is shared by weak reference, and
        # an in-memory (":memory:") one would otherwise go, with its collection, in between.
        client = connect(config.qdrant)
        index = QdrantIndex(index_dir, write_collection(index_dir, manifest, old, keep, new_rows, n_new, config))
        del client
        return index
