"""Contract: Qdrant's own engine (qdrant-edge-py, in-process) scores our points as qdrant-client's local
mode does, for what the backend relies on: BM25 weights times the IDF modifier, and RRF over two
prefetches with k = rrf_k + 1 (Qdrant's 1/(rank + k - 1) is ours, 1/(rank + rrf_k))."""

from collections import Counter

import numpy as np
import qdrant_edge as qe
from qdrant_client import models

from conftest import FakeEmbedder
from rag.config import Config
from rag.qdrant_points import DENSE, SPARSE, sparse
from rag.sync import sync_index

QUERIES = ["兰岭园新增了多少个停车位", "曹杨新村是哪一年诞生的", "凉城新村街道党工委书记", "金梅园百姓会客厅主题色"]


def test_edge_engine_scores_as_local_mode_and_as_ours(tmp_path, seed_copy, tokenizer):
    emb = FakeEmbedder()
    remote, _ = sync_index(tmp_path / "ix", [seed_copy], embedder=emb, tokenizer=tokenizer,
                           config=Config(model=emb.name, backend="qdrant", qdrant=str(tmp_path / "qd")))
    local, _ = sync_index(tmp_path / "local", [seed_copy], embedder=FakeEmbedder(), tokenizer=tokenizer,
                          config=Config(model=emb.name))
    points = list(remote.scroll(remote.visible(), with_vectors=True))
    shard = qe.EdgeShard.create(str(tmp_path / "edge"), qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=emb.dim, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}))
    shard.update(qe.UpdateOperation.upsert_points([
        qe.Point(p.id, {DENSE: p.vector[DENSE], SPARSE: qe.SparseVector(p.vector[SPARSE].indices,
                                                                          p.vector[SPARSE].values)},
                 {"source": p.payload["source"]}) for p in points]))
    by_id = {p.id: p.payload["id"] for p in points}
    for q in QUERIES:
        toks, qvec = tokenizer(q), emb.embed_queries([q])[0].tolist()
        qs = sparse({t: float(n) for t, n in Counter(toks).items()})
        edge_sparse = shard.query(qe.QueryRequest(limit=10, query=qe.Query.Nearest(
            qe.SparseVector(qs.indices, qs.values), using=SPARSE)))
        client_sparse = remote.client.query_points(remote.collection, query=qs, using=SPARSE, limit=10).points
        ours = local.search_lexical(toks, 10)
        assert [round(p.score, 4) for p in edge_sparse] == [round(p.score, 4) for p in client_sparse] \
            == [round(s, 4) for _, s in ours], q
        assert {by_id[p.id] for p in edge_sparse} == {by_id[p.id] for p in client_sparse}

        prefetch = [qe.Prefetch(limit=30, query=qe.Query.Nearest(qvec, using=DENSE)),
                    qe.Prefetch(limit=30, query=qe.Query.Nearest(qe.SparseVector(qs.indices, qs.values),
                                                                 using=SPARSE))]
        edge_rrf = shard.query(qe.QueryRequest(limit=20, prefetches=prefetch, query=qe.Fusion.Rrf(k=61)))
        client_rrf = remote.client.query_points(remote.collection, prefetch=[
            models.Prefetch(query=qvec, using=DENSE, limit=30), models.Prefetch(query=qs, using=SPARSE, limit=30)],
            query=models.RrfQuery(rrf=models.Rrf(k=61)), limit=20).points
        fused = local.hybrid(np.asarray(qvec, np.float32), toks, 30, 60)
        expect = {local.chunks[r].id: round(v[0], 6) for r, v in fused.items()}
        for got in (edge_rrf, client_rrf):
            scores = {by_id[p.id]: round(p.score, 6) for p in got}
            assert all(expect[cid] == s for cid, s in scores.items()), q
            assert sorted(scores.values(), reverse=True) == sorted(expect.values(), reverse=True)[:len(scores)]
    shard.close()
