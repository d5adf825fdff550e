"""Index on disk and incremental sync, with the fast fake embedder."""

import json
import sqlite3

import numpy as np
import pytest

from conftest import FakeEmbedder, sync_killed_at_switch
from rag.config import Config
from rag.errors import ConfigError, IndexFormatError, IngestError
from rag.index import Index
from rag.sync import sync_index

NEW_ISSUE = "【宜居家园】\n\n青桐苑充电棚建成\n\n青桐苑小区新建的充电棚共有23个充电位，居民可以扫码充电。\n"


def build(index_dir, paths, embedder, tokenizer, **kw):
    return sync_index(index_dir, paths, embedder=embedder, tokenizer=tokenizer,
                      config=Config(model=embedder.name), **kw)


def test_build_save_load_gives_equal_results(tmp_path, seed_copy, fake_embedder, tokenizer):
    index, report = build(tmp_path / "ix", [seed_copy], fake_embedder, tokenizer)
    assert (report.documents, report.embedded, report.reused, report.removed) == (5, report.chunks, 0, 0)
    assert report.articles >= 15 and report.chunks == len(index) > 40
    loaded = Index.load(tmp_path / "ix", model=fake_embedder.name, dim=fake_embedder.dim)
    assert [c.id for c in loaded.chunks] == [c.id for c in index.chunks]
    np.testing.assert_allclose(loaded.vectors, index.vectors)
    q = fake_embedder.embed_queries(["兰岭园新增了多少个停车位"])[0]
    assert loaded.search_dense(q, 5) == index.search_dense(q, 5)
    toks = tokenizer("兰岭园新增了多少个停车位")
    assert loaded.search_lexical(toks, 5) == index.search_lexical(toks, 5)
    assert loaded.chunks[loaded.search_lexical(toks, 1)[0][0]].source == "000_54cc604d7de70b0b.txt"
    manifest = json.loads((tmp_path / "ix" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == fake_embedder.name and manifest["dim"] == 64
    assert manifest["config"]["chunk_size"] == 300 and manifest["chunks"] == len(index)
    assert set(manifest["files"]) == {p.name for p in seed_copy.iterdir()}
    assert {"faiss-cpu", "bm25s", "jieba"} <= set(manifest["versions"])


def test_unchanged_corpus_embeds_nothing_new_issue_embeds_only_itself(tmp_path, seed_copy, tokenizer):
    ix = tmp_path / "ix"
    build(ix, [seed_copy], FakeEmbedder(), tokenizer)
    again = FakeEmbedder()
    _, report = build(ix, [], again, tokenizer)          # no paths: the recorded sources
    assert report.embedded == 0 and again.embedded == [] and report.reused == report.chunks

    (seed_copy / "005_new.txt").write_text(NEW_ISSUE, encoding="utf-8")
    emb = FakeEmbedder()
    index, report = build(ix, [], emb, tokenizer)
    new_chunks = [c for c in index.chunks if c.source == "005_new.txt"]
    assert report.documents == 6 and report.embedded == len(new_chunks) == len(emb.embedded) >= 1
    assert all("青桐苑" in t for t in emb.embedded)

    (seed_copy / "005_new.txt").unlink()
    index, report = build(ix, [], FakeEmbedder(), tokenizer)
    assert report.removed == 1 and report.embedded == 0
    assert not any(c.source == "005_new.txt" for c in index.chunks)


def test_changed_file_reembeds_only_changed_chunks(tmp_path, seed_copy, tokenizer):
    ix = tmp_path / "ix"
    index, _ = build(ix, [seed_copy], FakeEmbedder(), tokenizer)
    path = seed_copy / "004_07934d45b728f14b.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("11月26日", "11月27日"), encoding="utf-8")
    emb = FakeEmbedder()
    _, report = build(ix, [], emb, tokenizer)
    assert 1 <= report.embedded <= 3 and all("11月27日" in t for t in emb.embedded)


def test_bad_file_leaves_index_exactly_as_it_was(tmp_path, seed_copy, tokenizer):
    ix = tmp_path / "ix"
    build(ix, [seed_copy], FakeEmbedder(), tokenizer)
    before = {p.relative_to(ix): p.read_bytes() for p in ix.rglob("*") if p.is_file()}
    bad = tmp_path / "broken.txt"
    bad.write_bytes(b"\x00\x01\x02binary" * 100)
    with pytest.raises(IngestError, match=r"broken\.txt: looks like a binary file.*not changed"):
        build(ix, [bad], FakeEmbedder(), tokenizer)
    after = {p.relative_to(ix): p.read_bytes() for p in ix.rglob("*") if p.is_file()}
    assert after == before


def test_killed_build_leaves_previous_index_live(tmp_path, seed_copy, tokenizer):
    """A build killed (SIGKILL) at the worst moment, just before the manifest switch."""
    ix = tmp_path / "ix"
    build(ix, [seed_copy], FakeEmbedder(), tokenizer)
    old = Index.load(ix)
    (seed_copy / "005_new.txt").write_text(NEW_ISSUE, encoding="utf-8")
    proc = sync_killed_at_switch(ix)
    assert proc.returncode == -9, proc.stderr.decode()
    loaded = Index.load(ix)
    assert [c.id for c in loaded.chunks] == [c.id for c in old.chunks]
    # The next sync finishes the job and clears the leftovers.
    _, report = build(ix, [], FakeEmbedder(), tokenizer)
    assert report.documents == 6
    assert sorted(p.name for p in ix.iterdir() if p.name.startswith(("gen-", ".building"))) == ["gen-3"]


def test_damaged_index_is_rebuilt_by_the_next_sync(tmp_path, seed_copy, tokenizer):
    ix = tmp_path / "ix"
    index, _ = build(ix, [seed_copy], FakeEmbedder(), tokenizer)
    for f in ix.glob("gen-*/*/dense.faiss"):
        f.write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match=r"dense\.faiss: damaged index file"):
        Index.load(ix)
    rebuilt, report = build(ix, [], FakeEmbedder(), tokenizer)   # sources come from the manifest
    assert report.documents == 5 and report.embedded == len(index) == len(rebuilt)


def test_load_checks_model_dimension_and_counts(tmp_path, seed_copy, fake_embedder, tokenizer):
    ix = tmp_path / "ix"
    build(ix, [seed_copy], fake_embedder, tokenizer)
    with pytest.raises(IndexFormatError, match="built with model 'fake-bigram-64'.*'other-model'.*rag index"):
        Index.load(ix, model="other-model")
    with pytest.raises(IndexFormatError, match="dimension 64.*gives 384"):
        Index.load(ix, dim=384)
    manifest = json.loads((ix / "manifest.json").read_text(encoding="utf-8"))
    store = ix / f"gen-{manifest['generation']}" / "tail" / "chunks.sqlite"
    n = manifest["chunks"]
    db = sqlite3.connect(store)
    db.execute("DELETE FROM chunks WHERE row = ?", (n - 1,))   # a half-written chunk store
    db.commit()
    db.close()
    with pytest.raises(IndexFormatError, match=r"tail/chunks\.sqlite: damaged index file"):
        Index.load(ix)
    with pytest.raises(IndexFormatError, match="no index at"):
        Index.load(tmp_path / "nowhere")


def test_empty_index_and_empty_query(tmp_path, fake_embedder):
    index = Index.write(tmp_path / "empty", {"dim": 64}, None, set(), lambda: iter(()), 0, Config())
    assert index.search_dense(np.ones(64), 5) == [] and index.search_lexical(["停车"], 5) == []
    assert index.search_lexical([], 5) == [] and index.article_text("x.txt", 0) == ""
    loaded = Index.load(tmp_path / "empty")
    assert len(loaded) == 0 and list(loaded.chunks) == [] and loaded.doc_freq.get("停车") == 0


def test_two_files_with_one_name_are_refused(tmp_path, seed_copy, fake_embedder, tokenizer):
    other = tmp_path / "other"
    other.mkdir()
    (other / "000_54cc604d7de70b0b.txt").write_text(NEW_ISSUE, encoding="utf-8")
    with pytest.raises(IngestError, match="both named 000_54cc604d7de70b0b.txt"):
        build(tmp_path / "ix", [seed_copy, other], fake_embedder, tokenizer)


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['chunk_sise'\]"):
        Config.from_dict({"chunk_sise": 100})
    with pytest.raises(ConfigError, match="chunk_overlap"):
        Config(chunk_size=100, chunk_overlap=100)
    assert Config.from_dict(Config().to_dict()) == Config()
