"""The Qdrant backend through qdrant-client's local mode (the client code that talks to a server)."""

import gc
import json

import pytest

from conftest import DEV_QUESTIONS, FakeEmbedder, sync_killed_at_switch
from rag.config import Config
from rag.filters import Where
from rag.index import Index
from rag.qdrant_index import QdrantIndex
from rag.retrieve import Retriever
from rag.sync import sync_index

NEW_ISSUE = "【宜居家园】\n\n青桐苑充电棚建成\n\n青桐苑小区新建的充电棚共有23个充电位，居民可以扫码充电。\n"
QUESTIONS = [json.loads(x)["question"] for x in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()]


def build(ix, paths, tokenizer, qdrant=None, emb=None):
    emb = emb or FakeEmbedder()
    config = Config(model=emb.name, backend="qdrant", qdrant=str(qdrant)) if qdrant else Config(model=emb.name)
    index, report = sync_index(ix, paths, embedder=emb, tokenizer=tokenizer, config=config)
    return index, report, emb


def ranked(index, tokenizer, question, where=None):
    return [(h.chunk.id, round(h.score, 6)) for h in
            Retriever(index, FakeEmbedder(), tokenizer).search(question, where=where)]


def test_qdrant_retrieves_as_the_local_backend(tmp_path, seed_copy, tokenizer):
    local, _, _ = build(tmp_path / "local", [seed_copy], tokenizer)
    remote, report, _ = build(tmp_path / "ix", [seed_copy], tokenizer, qdrant=tmp_path / "qd")
    assert isinstance(remote, QdrantIndex) and isinstance(Index.load(tmp_path / "ix"), QdrantIndex)
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["backend"] == "qdrant" and manifest["config"]["qdrant"] == str(tmp_path / "qd")
    assert len(remote) == len(local) == report.chunks
    for q in QUESTIONS:   # BM25 weights, IDF, RRF and tie-breaks: the same lists, the same scores
        assert ranked(remote, tokenizer, q) == ranked(local, tokenizer, q), q
    toks = tokenizer("兰岭园新增了多少个停车位")
    assert [(remote.chunks[p].id, round(s, 4)) for p, s in remote.search_lexical(toks, 5)] == \
        [(local.chunks[r].id, round(s, 4)) for r, s in local.search_lexical(toks, 5)]
    for term in ("曹杨", "停车位", "党建", "没有的词"):
        assert remote.doc_freq.get(term, 0) == local.doc_freq.get(term, 0)
    assert remote.article_text("000_54cc604d7de70b0b.txt", 2) == local.article_text("000_54cc604d7de70b0b.txt", 2)
    c = local.chunks[0]
    assert (remote.vector_for(c.sha) == local.vector_for(c.sha)).all()
    assert sorted(x.id for x in remote.chunks) == sorted(x.id for x in local.chunks)


def test_qdrant_sync_adds_changes_and_removes(tmp_path, seed_copy, tokenizer):
    ix, qd = tmp_path / "ix", tmp_path / "qd"
    index, first, _ = build(ix, [seed_copy], tokenizer, qdrant=qd)
    index, report, emb = build(ix, [], tokenizer, qdrant=qd)
    assert report.embedded == 0 and emb.embedded == [] and len(index) == first.chunks
    (seed_copy / "005_new.txt").write_text(NEW_ISSUE, encoding="utf-8")
    index, report, emb = build(ix, [], tokenizer, qdrant=qd)
    assert report.embedded == 1 and all("青桐苑" in t for t in emb.embedded)
    assert ranked(index, tokenizer, "青桐苑有多少个充电位")[0][0].startswith("005_new.txt")
    path = seed_copy / "004_07934d45b728f14b.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("11月26日", "11月27日"), encoding="utf-8")
    index, report, emb = build(ix, [], tokenizer, qdrant=qd)
    assert 1 <= report.embedded <= 3 and all("11月27日" in t for t in emb.embedded)
    assert "11月26日" not in "".join(index.article_text("004_07934d45b728f14b.txt", a) for a in range(9))
    (seed_copy / "005_new.txt").unlink()
    index, report, _ = build(ix, [], tokenizer, qdrant=qd)
    assert report.removed == 1 and len(index) == first.chunks == report.chunks
    assert not any(h[0].startswith("005_new.txt") for h in ranked(index, tokenizer, "青桐苑有多少个充电位"))
    assert index.doc_freq.get("青桐苑", 0) == 0
    # Removed and replaced points are deleted once the new generation is live.
    assert index.client.count(index.collection).count == len(index)


def test_qdrant_killed_sync_leaves_previous_generation_live(tmp_path, seed_copy, tokenizer):
    """A sync killed (SIGKILL) after its upserts and removal marks, just before the switch."""
    ix, qd = tmp_path / "ix", tmp_path / "qd"
    old, _, _ = build(ix, [seed_copy], tokenizer, qdrant=qd)
    before = {q: ranked(old, tokenizer, q) for q in QUESTIONS[:8]}
    ids = sorted(c.id for c in old.chunks)
    del old
    gc.collect()   # local mode: one process at a time; this one lets go of the folder
    (seed_copy / "005_new.txt").write_text(NEW_ISSUE, encoding="utf-8")
    (seed_copy / "001_91c320f7f684b254.txt").unlink()
    proc = sync_killed_at_switch(ix, "rag.manifest", f"backend='qdrant', qdrant={str(qd)!r}")
    assert proc.returncode == -9, proc.stderr.decode()
    loaded = Index.load(ix)
    assert sorted(c.id for c in loaded.chunks) == ids
    assert {q: ranked(loaded, tokenizer, q) for q in before} == before
    index, report, _ = build(ix, [], tokenizer, qdrant=qd)   # the next sync finishes the job
    assert report.documents == 5 and report.removed == 1
    assert index.client.count(index.collection).count == len(index) == report.chunks
    assert sorted(p.name for p in ix.iterdir() if p.name.startswith("gen-")) == [f"gen-{index.generation}"]


def test_qdrant_payload_filters(tmp_path, seed_copy, tokenizer, monkeypatch):
    import dataclasses
    from rag import sync as sync_module
    real = sync_module.issue_chunks
    dates = {"000_54cc604d7de70b0b.txt": "2021-03", "004_07934d45b728f14b.txt": "2024-11"}

    def labelled(text, source, config, tok):
        n, chunks = real(text, source, config, tok)
        return n, [dataclasses.replace(c, paper="曹杨" if source < "002" else "凉城", date=dates.get(source, ""))
                   for c in chunks]
    monkeypatch.setattr(sync_module, "issue_chunks", labelled)
    local, _, _ = build(tmp_path / "local", [seed_copy], tokenizer)
    remote, _, _ = build(tmp_path / "ix", [seed_copy], tokenizer, qdrant=tmp_path / "qd")
    for where in (Where(paper="曹杨"), Where(paper="凉城", since="2024-01"), Where(until="2022-12"),
                  Where(paper="没有")):
        for q in QUESTIONS[:10]:
            assert ranked(remote, tokenizer, q, where) == ranked(local, tokenizer, q, where), (q, where)
    assert {h[0].split("#")[0] for h in ranked(remote, tokenizer, "停车", Where(paper="曹杨"))} <= \
        {"000_54cc604d7de70b0b.txt", "001_91c320f7f684b254.txt"}


def test_dev_answers_on_qdrant_match_local(tmp_path, seed_index_dir, real_embedder, tokenizer, assistant):
    """The real model: Qdrant local mode answers the dev questions as the local backend does."""
    import shutil
    from rag.service import Assistant
    ix = tmp_path / "ix"
    shutil.copytree(seed_index_dir, ix)
    config = Config.from_dict(Index.load(ix).manifest["config"]).replace(backend="qdrant", qdrant=str(tmp_path / "qd"))
    _, report = sync_index(ix, config=config, embedder=real_embedder, tokenizer=tokenizer)
    assert report.embedded == 0          # the local index's vectors moved over; nothing re-embedded
    local = assistant    # the seed index on the local backend
    remote = Assistant(ix, embedder=real_embedder, tokenizer=tokenizer)
    same, refusals = 0, []
    for q in QUESTIONS:
        a, b = local.ask(q), remote.ask(q)
        same += (a.short_answer, [c.source for c in a.citations]) == (b.short_answer, [c.source for c in b.citations])
        refusals.append(a.found == b.found)
    assert same >= 0.95 * len(QUESTIONS) and all(refusals)
    assert remote.status()["backend"] == "qdrant"


@pytest.mark.parametrize("location", ["", "not-a-backend"])
def test_qdrant_backend_needs_a_location(location):
    from rag.errors import ConfigError
    with pytest.raises(ConfigError, match="qdrant|backend"):
        Config(backend="qdrant" if not location else location, qdrant="")


def test_in_memory_qdrant_keeps_its_collection_after_the_write(tmp_path, seed_copy, tokenizer):
    gc.collect()
    index, report, _ = build(tmp_path / "ix", [seed_copy], tokenizer, qdrant=":memory:")
    gc.collect()   # the writer's client reference is gone; the index's own keeps the collection
    assert len(index) == report.chunks and index.client.collection_exists(index.collection)
    assert ranked(index, tokenizer, "兰岭园新增了多少个停车位")
