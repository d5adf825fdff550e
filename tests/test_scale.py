"""The index at scale, in small: parts, the exact/approximate switch, growing, removing, filters."""

import dataclasses
import json
import os

import bm25s
import numpy as np
import pytest

from conftest import FakeEmbedder
from rag import sync as sync_module
from rag.chunk import Chunk
from rag.config import Config
from rag.errors import ConfigError
from rag.filters import Where
from rag.lexical import DocFreq, LexicalPart, bm25_scores, build_lexical
from rag.parts import PROBE_SHARE, Part, write_part
from rag.retrieve import Retriever
from rag.service import Assistant
from rag.sync import sync_index

ISSUE = "【宜居家园】\n\n{place}充电棚建成\n\n{place}小区新建的充电棚共有{n}个充电位，居民可以扫码充电。\n"


def build(ix, paths, tokenizer, **config):
    emb = FakeEmbedder()
    index, report = sync_index(ix, paths, embedder=emb, tokenizer=tokenizer,
                               config=Config(model=emb.name, **config))
    return index, report, emb


def new_issue(folder, name, place, n):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(ISSUE.format(place=place, n=n), encoding="utf-8")
    return folder / name


def test_lexical_scores_equal_bm25s_own(tmp_path, tokenizer, seed_copy):
    docs = [tokenizer(p.read_text(encoding="utf-8")[i:i + 300]) for p in sorted(seed_copy.iterdir())
            for i in range(0, 3000, 300)]
    stats = build_lexical(tmp_path / "lex", docs)
    part = LexicalPart(tmp_path / "lex", len(docs))
    reference = bm25s.BM25()                      # bm25s's own index, Lucene BM25, k1=1.5, b=0.75
    reference.index(docs, show_progress=False)
    for q in ("兰岭园新增了多少个停车位", "曹杨新村 曹杨 党建", "金梅园百姓会客厅"):
        toks = tokenizer(q)
        ours = bm25_scores([part], [0], len(docs), toks, DocFreq([part]), len(docs))
        np.testing.assert_allclose(ours, reference.get_scores(toks), rtol=1e-5, atol=1e-6)
    assert stats["docs"] == len(docs) and part.df("曹杨") == sum("曹杨" in d for d in docs)


def test_index_type_switches_at_exact_limit(tmp_path, seed_copy, tokenizer):
    flat, report, _ = build(tmp_path / "flat", [seed_copy], tokenizer, exact_limit=1000, tail_limit=10)
    n = report.chunks
    exact, _, _ = build(tmp_path / "exact", [seed_copy], tokenizer, exact_limit=n + 1, tail_limit=10)
    approx, _, emb = build(tmp_path / "ivf", [seed_copy], tokenizer, exact_limit=n, tail_limit=10)
    kinds = [json.loads((tmp_path / d / "manifest.json").read_text())["parts"]["base"]["dense"]
             for d in ("flat", "exact", "ivf")]
    assert kinds == ["flat", "flat", "ivf-fp16"]
    assert type(approx.parts[0].dense).__name__ == "IndexIVFScalarQuantizer"
    q = emb.embed_queries(["兰岭园新增了多少个停车位"])[0]
    top_exact, top_approx = exact.search_dense(q, 5), approx.search_dense(q, 5)
    assert [r for r, _ in top_approx][:3] == [r for r, _ in top_exact][:3]
    assert np.allclose([s for _, s in top_approx], [s for _, s in top_exact], atol=1e-3)   # half-precision codes
    assert approx.search_lexical(tokenizer("兰岭园停车位"), 3) == flat.search_lexical(tokenizer("兰岭园停车位"), 3)


def test_added_issues_go_to_the_tail_then_grow_the_ivf_without_rebuilding(tmp_path, seed_copy, tokenizer,
                                                                         monkeypatch):
    ix = tmp_path / "ix"
    index, report, _ = build(ix, [seed_copy], tokenizer, exact_limit=20, tail_limit=3)
    n = report.chunks
    base_file = next(ix.glob("gen-*/base/dense.faiss"))
    inode = os.stat(base_file).st_ino
    index, report, emb = build(ix, [new_issue(tmp_path / "new", "a.txt", "青桐苑", 23)], tokenizer,
                               exact_limit=20, tail_limit=3)
    assert report.embedded == 1 and emb.embedded == [ISSUE.format(place="青桐苑", n=23).split("\n\n")[1]
                                                     + "\n" + ISSUE.format(place="青桐苑", n=23).split("\n\n")[2].strip()]
    assert os.stat(next(ix.glob("gen-*/base/dense.faiss"))).st_ino == inode      # the base: hard links, untouched
    assert index.manifest["parts"]["tail"]["chunks"] == 1 and len(index) == n + 1

    def no_new_ivf(*a, **k):
        raise AssertionError("the approximate index was rebuilt")
    monkeypatch.setattr("rag.parts._new_ivf", no_new_ivf)
    for i, place in enumerate(["海棠苑", "玉兰苑", "紫藤苑"]):
        index, report, _ = build(ix, [new_issue(tmp_path / "new", f"b{i}.txt", place, 30 + i)], tokenizer,
                                 exact_limit=20, tail_limit=3)
    assert "tail" not in index.manifest["parts"] and index.parts[0].n == n + 4   # merged: the IVF grew by 4
    for place in ("青桐苑", "紫藤苑"):
        hits = Retriever(index, FakeEmbedder(), tokenizer).search(f"{place}有多少个充电位")
        assert place in hits[0].chunk.text


def test_removed_and_changed_files_leave_the_base_then_it_is_compacted(tmp_path, seed_copy, tokenizer):
    ix = tmp_path / "ix"
    index, report, _ = build(ix, [seed_copy], tokenizer, tail_limit=3)
    first = index.article_text("000_54cc604d7de70b0b.txt", 2)
    df_before = index.doc_freq.get("兰岭园")
    path = seed_copy / "000_54cc604d7de70b0b.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("兰岭园", "百花园"), encoding="utf-8")
    index, report, emb = build(ix, [], tokenizer, tail_limit=3)
    assert index.doc_freq.get("兰岭园") == 0 < df_before and index.doc_freq.get("百花园") == df_before
    assert "百花园" in index.article_text("000_54cc604d7de70b0b.txt", 2) and "兰岭园" in first
    assert "兰岭园" not in index.article_text("000_54cc604d7de70b0b.txt", 2)
    assert index.removed["ranges"] and report.chunks == len(index) == len(list(index.chunks))
    hits = index.search_lexical(tokenizer("兰岭园 停车位"), 50)
    assert all("兰岭园" not in index.chunks[r].text for r, _ in hits)   # the old rows are never returned
    (seed_copy / "001_91c320f7f684b254.txt").unlink()
    index, report, _ = build(ix, [], tokenizer, tail_limit=3)
    assert report.removed == 1 and not any(c.source == "001_91c320f7f684b254.txt" for c in index.chunks)
    assert index.removed["ranges"] == []          # more than a quarter removed: the base was rewritten
    assert index.doc_freq.get("百花园") == df_before and len(index) == report.chunks


@pytest.fixture
def dated(monkeypatch):
    """Issues whose files name their paper and month (the files helper reads real metadata)."""
    labels = {"a1.txt": ("凉城", "2021-03"), "a2.txt": ("凉城", "2024-05"), "b1.txt": ("曹杨", "2024-06"),
              "c1.txt": ("凉城", "")}
    real = sync_module.issue_chunks

    def labelled(text, source, config, tokenizer):
        n, chunks = real(text, source, config, tokenizer)
        paper, date = labels.get(source, ("", ""))
        return n, [dataclasses.replace(c, paper=paper, date=date) for c in chunks]
    monkeypatch.setattr(sync_module, "issue_chunks", labelled)
    return labels


@pytest.mark.parametrize("extra", [{}, {"exact_limit": 2, "tail_limit": 1}])
def test_filters_by_paper_and_date_and_latest_first(tmp_path, tokenizer, dated, extra):
    src = tmp_path / "src"
    for name, n in (("a1.txt", 11), ("a2.txt", 12), ("b1.txt", 13), ("c1.txt", 14)):
        new_issue(src, name, "青桐苑", n)
    index, _, emb = build(tmp_path / "ix", [src], tokenizer, **extra)
    r = Retriever(index, emb, tokenizer)
    sources = lambda hits: sorted({h.chunk.source for h in hits})
    assert sources(r.search("青桐苑充电位")) == ["a1.txt", "a2.txt", "b1.txt", "c1.txt"]
    assert sources(r.search("青桐苑充电位", where=Where(paper="凉城"))) == ["a1.txt", "a2.txt", "c1.txt"]
    assert sources(r.search("青桐苑充电位", where=Where(since="2024-01"))) == ["a2.txt", "b1.txt"]
    assert sources(r.search("青桐苑充电位", where=Where(paper="凉城", until="2023-12"))) == ["a1.txt"]
    assert sources(r.search("青桐苑充电位", where=Where(since="2024-06-01", until="2024-06-30"))) == ["b1.txt"]
    assert r.search("青桐苑充电位", where=Where(paper="没有这份报")) == []
    assert r.search("最近青桐苑充电棚有多少个充电位？")[0].chunk.source == "b1.txt"
    bot = Assistant(tmp_path / "ix", embedder=emb, tokenizer=tokenizer)
    a = bot.ask("青桐苑的充电棚共有多少个充电位？", paper="凉城", since="2024-01")
    assert a.found and {c.source for c in a.citations} == {"a2.txt"} and "12" in a.text
    assert bot.status()["papers"] == ["凉城", "曹杨"] and bot.status()["dates"] == ["2021-03", "2024-06"]


def test_bad_filters_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"since='2024-13' is not a date; use YYYY, YYYY-MM"):
        Where(since="2024-13")
    with pytest.raises(ConfigError, match="after until"):
        Where(since="2024-05", until="2023-01")
    with pytest.raises(ConfigError, match="backend must be 'local' or 'qdrant'"):
        Config(backend="milvus")


def test_a_file_changed_then_removed_takes_only_its_own_rows(tmp_path, seed_copy, tokenizer):
    """Its old (removed) and new rows both sit in the base after a merge, with other rows between."""
    ix, extra = tmp_path / "ix", tmp_path / "extra"
    new_issue(seed_copy, "aa_x.txt", "青桐苑", 23)
    index, first, _ = build(ix, [seed_copy], tokenizer, tail_limit=3)
    new_issue(seed_copy, "aa_x.txt", "青桐苑", 24)
    for i in range(3):
        new_issue(extra, f"b{i}.txt", "海棠苑", 30 + i)
    index, report, _ = build(ix, [extra], tokenizer, tail_limit=3)
    assert "tail" not in index.manifest["parts"] and len(index.removed["ranges"]) == 1   # merged
    (seed_copy / "aa_x.txt").unlink()
    index, report, _ = build(ix, [], tokenizer, tail_limit=3)
    ids = sorted(c.id for c in index.chunks)
    assert len(ids) == len(index) == report.chunks == first.chunks - 1 + 3
    assert not any(i.startswith("aa_x.txt") for i in ids) and sum(i.startswith("b") for i in ids) == 3


def test_approximate_recall_at_ten_just_above_the_exact_limit(tmp_path):
    """Past ``exact_limit`` the base is IVF; its top 10 must hold ≥ 97% of the exact top 10 on the
    hardest kind of corpus the benchmark has: near-duplicate mixtures of correlated vectors."""
    rng = np.random.default_rng(7)
    n, dim = Config().exact_limit + 1000, 384
    centre = rng.normal(size=dim)
    seeds = centre / np.linalg.norm(centre) + rng.normal(0, 0.018, (66, dim))   # pairwise cosine ~0.9, as e5's
    seeds /= np.linalg.norm(seeds, axis=1, keepdims=True)
    mix = (seeds[rng.integers(0, 66, (n, 3))] * rng.dirichlet([1, 1, 1], n)[:, :, None]).sum(1)
    mix += rng.normal(0, 0.03, mix.shape)
    vectors = (mix / np.linalg.norm(mix, axis=1, keepdims=True)).astype(np.float32)
    rows = ((Chunk(f"f{i // 50}.txt#0.{i % 50}", f"f{i // 50}.txt", "", "", 0, i % 50, "", f"第{i}段。"),
             [str(i % 97)], vectors[i]) for i in range(n))
    entry = write_part(tmp_path / "base", rows, n, dim, Config().exact_limit)
    part = Part(tmp_path / "base", entry, dim, 0)
    assert entry["dense"] == "ivf-fp16" and part.nprobe == part.dense.nlist // PROBE_SHARE
    queries = seeds[rng.integers(0, 66, 40)] + rng.normal(0, 0.05, (40, dim))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T
    found = [[r for r, _ in part.search(q, 10, None)] for q in queries]
    recall = np.mean([len(set(e) & set(f)) / 10 for e, f in zip(exact, found)])
    assert recall >= 0.97, recall
