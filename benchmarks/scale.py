#!/usr/bin/env python
"""The scale part of bench.py: 100k and 1M chunks on one machine, and Qdrant local mode at 100k.

For each size: build time, size on disk, recall@10 of the approximate index against exact
search, exact vs approximate search time, then in a fresh process ``ask()`` p50/p95 (also with
a paper + date filter), serving RSS, and adding one real issue with ``Assistant.add_files``.

LABELLED SYNTHETIC CORPUS (embedding a million chunks takes this machine a day):
- chunk texts are the seed chunks with digits shifted and 曹杨 renamed (as bench.py's
  copies), the copy number in the title; each copy is one issue of one of 200 papers in
  one of 120 months. Tokens are jieba's, cached per seed chunk and variant, plus the title's
  number;
- vectors are mixtures of three real seed vectors plus noise (not the model's embedding of
  that text); query vectors and the added issue's vectors come from the real model;
- each issue's text is written to a file recorded in the manifest, so a sync treats the
  issues as indexed and unchanged; the index itself is written by ``Index.write`` straight
  from the generated chunks (the code path sync uses after reading files).
"""
from __future__ import annotations

import hashlib, json, os, shutil, statistics, subprocess, sys, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from rag.chunk import Chunk                        # noqa: E402
from rag.config import Config                      # noqa: E402
from rag.index import Index                        # noqa: E402

PLACES = ["真如", "桃浦", "石泉", "宜川", "甘泉", "万里", "长征", "彭浦", "临汾", "江宁",
          "天目", "芷江", "大宁", "共和", "北站", "石门", "静安", "曲阳", "田林", "康健"]
MONTHS = [f"{y}-{m:02d}" for y in range(2016, 2026) for m in range(1, 13)]


# Digits shifted by 1..9 (full-width ones become ASCII), a translation table per shift: str.translate
# runs in C; a Python loop over every character was most of the time to generate 1M chunks.
_SHIFTS = [str.maketrans({**{str(d): str((d + rot) % 10) for d in range(10)},
                          **{chr(0xFF10 + d): str((d + rot) % 10) for d in range(10)}})
           for rot in range(10)]


def variant(text: str, k: int) -> str:
    rot, place = k % 9 + 1, PLACES[k // 9 % len(PLACES)]
    return text.translate(_SHIFTS[rot]).replace("曹杨", place)


def synthetic(seed: Index, n: int, tok, folder: Path):
    """(rows function, manifest files): ``n`` generated chunks, their issue files written to ``folder``."""
    seeds = list(seed.chunks)
    vecs = seed.vectors
    copies = -(-n // len(seeds))
    folder.mkdir(parents=True)
    files, cache = {}, {}
    for k in range(copies):   # files first: what a sync will find unchanged
        name = f"syn{k:06d}.txt"
        mine = seeds[:n - k * len(seeds)] if (k + 1) * len(seeds) > n else seeds
        text = "\n\n".join(f"{variant(c.title, k)}（{k}）\n\n{variant(c.text, k)}" for c in mine) + "\n"
        (folder / name).write_text(text, encoding="utf-8")
        files[name] = {"path": str(folder / name), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                       "articles": len({c.article for c in mine}), "chunks": len(mine),
                       "papers": [f"社区报{k % 200:03d}"], "dates": [MONTHS[k % 120]] * 2}

    def rows():
        rng = np.random.default_rng(1)
        for k in range(copies):
            mine = seeds[:n - k * len(seeds)] if (k + 1) * len(seeds) > n else seeds
            pick = rng.integers(0, len(seeds), (len(mine), 3))
            mix = (vecs[pick] * rng.dirichlet([1, 1, 1], len(mine))[:, :, None].astype(np.float32)).sum(1)
            mix += rng.normal(0, 0.03, mix.shape).astype(np.float32)
            mix /= np.linalg.norm(mix, axis=1, keepdims=True)
            for c, v in zip(mine, mix):
                key = (c.id, k % 180)
                if key not in cache:
                    cache[key] = tok(f"{variant(c.title, k)}\n{variant(c.heading, k)}\n{variant(c.text, k)}")
                chunk = Chunk(id=f"syn{k:06d}.txt#{c.article}.{c.position}", source=f"syn{k:06d}.txt",
                              section=c.section, title=f"{variant(c.title, k)}（{k}）", article=c.article,
                              position=c.position, heading=variant(c.heading, k), text=variant(c.text, k),
                              paper=f"社区报{k % 200:03d}", date=MONTHS[k % 120])
                yield chunk, cache[key] + [str(k)], v
    return rows, files


def recall_and_speed(index: Index, queries: np.ndarray) -> dict:
    """recall@10 of the base part's approximate index against exact search; both timed."""
    base = index.parts[0]
    exact = np.zeros((len(queries), 10), np.int64)
    for lo in range(0, base.n, 200_000):
        block = np.asarray(base.vectors[lo:lo + 200_000]) @ queries.T
        if lo == 0:
            best, rows = np.full((len(queries), 10), -9.0), np.zeros((len(queries), 10), np.int64)
        cand_s = np.concatenate([best, block.T], axis=1)
        cand_r = np.concatenate([rows, np.arange(lo, lo + block.shape[0])[None, :].repeat(len(queries), 0)], axis=1)
        top = np.argsort(-cand_s, axis=1)[:, :10]
        best, rows = np.take_along_axis(cand_s, top, 1), np.take_along_axis(cand_r, top, 1)
    exact = rows
    t, got = time.perf_counter(), []
    for q in queries:
        got.append([r for r, _ in base.search(q[None, :], 10, None)])
    approx_ms = 1000 * (time.perf_counter() - t) / len(queries)
    flat = np.asarray(base.vectors[:])   # exact search time: one query against every vector
    t = time.perf_counter()
    for q in queries[:20]:
        np.argpartition(-(flat @ q), 10)[:10]
    exact_ms = 1000 * (time.perf_counter() - t) / 20
    rec = float(np.mean([len(set(e) & set(g)) / 10 for e, g in zip(exact, got)]))
    return {"kind": base.kind, "recall_at_10": round(rec, 4), "approx_ms": round(approx_ms, 2),
            "exact_ms": round(exact_ms, 1)}


def serve_scale(index_dir: str, questions: Path, n_queries: int, add: str | None, where: dict) -> dict:
    """In a fresh process: ask() latency with and without a filter, RSS, then add one issue."""
    from bench import others_meter, pct, status_mb
    from rag.service import Assistant
    t = time.perf_counter()
    bot = Assistant(index_dir)
    load = time.perf_counter() - t
    qs = [json.loads(x)["question"] for x in questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    qs = (qs * (n_queries // len(qs) + 1))[:n_queries]
    for q in qs[:3]:
        bot.ask(q)
    others, times, filtered, embed, search = others_meter(), [], [], [], []
    for q in qs:
        t = time.perf_counter()
        bot.ask(q)
        times.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        qvec = bot.embedder.embed_queries([q])[0]
        embed.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()            # the index's share: both searches and their fusion
        bot.index.hybrid(qvec, bot.tokenizer(q), 30, bot.config.rrf_k)
        search.append(1000 * (time.perf_counter() - t))
    for q in qs[: max(10, n_queries // 4)]:
        t = time.perf_counter()
        bot.ask(q, **where)
        filtered.append(1000 * (time.perf_counter() - t))
    out = {"chunks": len(bot.index), "load_s": round(load, 1), "ask_p50_ms": round(statistics.median(times), 1),
           "ask_p95_ms": round(pct(times, 0.95), 1), "filtered_p50_ms": round(statistics.median(filtered), 1),
           "embed_query_p50_ms": round(statistics.median(embed), 1), "search_p50_ms": round(statistics.median(search), 1),
           "rss_mb": round(status_mb("VmRSS")), "peak_rss_mb": round(status_mb("VmHWM")),
           "other_processes_cpu_cores": others()}
    if add:
        t = time.perf_counter()
        report = bot.add_files([add])
        out.update(add_files_s=round(time.perf_counter() - t, 2), add_embedded=report["embedded"],
                   peak_after_add_mb=round(status_mb("VmHWM")))
    return out


def _child(index_dir: Path, args, add: Path | None, n_queries: int) -> dict:
    where = json.dumps({"paper": "社区报007", "since": "2020-01"})
    cmd = [sys.executable, __file__, "--serve", str(index_dir), "--questions", str(args.questions),
           "--queries", str(n_queries), "--where", where] + (["--add", str(add)] if add else [])
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode:
        sys.exit(f"scale serving benchmark failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def qdrant_latency(work: Path, n: int, seed_index: Index, real, tok, manifest: dict, config: Config, args) -> dict:
    """ask() on qdrant-client's local mode, in this process: its folder mode commits every point
    to SQLite one by one (about 100 points/s here), so the collection is built in memory; the
    query code is the same. Local mode is pure Python: a server's latency is another matter."""
    from rag.qdrant_index import QdrantIndex
    from rag.service import Assistant
    rows, _ = synthetic(seed_index, n, tok, work / f"qsrc-{n}")
    t = time.perf_counter()
    # kept while it is used: the in-memory collection lives as long as a client holds it
    written = QdrantIndex.write(work / f"qindex-{n}", dict(manifest, sources=[str(work / f"qsrc-{n}")]), None,
                                set(), rows, n, config.replace(backend="qdrant", qdrant=":memory:"))
    build = round(time.perf_counter() - t, 1)
    index = Index.load(work / f"qindex-{n}")
    qs = [json.loads(x)["question"] for x in args.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    search = []
    for q in qs[:3]:   # the search ask() makes: one batch of dense, sparse and RRF-fused queries
        qvec, toks = real.embed_queries([q])[0], tok(q)
        t = time.perf_counter()
        index.hybrid(qvec, toks, 30, config.rrf_k)
        search.append(1000 * (time.perf_counter() - t))
    t = time.perf_counter()
    Assistant(work / f"qindex-{n}", embedder=real, tokenizer=tok).ask(qs[0])
    one_ask = round(time.perf_counter() - t, 1)
    del written
    return {"chunks": n, "build_s": build, "search_p50_ms": round(statistics.median(search), 1), "one_ask_s": one_ask}


def disk_mb(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20)


def run_scale(work: Path, sizes: list[int], seed_index: Index, real, tok, args, new_issue: Path, say,
              with_qdrant: bool = True) -> dict:
    """Build and measure each size; Qdrant local mode at the first size of 100k or less."""
    out = {}
    qtexts = [json.loads(x)["question"] for x in args.questions.read_text(encoding="utf-8").splitlines() if x.strip()]
    queries = real.embed_queries(qtexts)
    for n in sizes:
        say(f"scale: {n} chunks (labelled synthetic corpus, see benchmarks/scale.py)")
        rows, files = synthetic(seed_index, n, tok, work / f"src-{n}")
        config = Config(model=real.name)
        manifest = {"model": real.name, "dim": real.dim, "query_prompt": real.query_prompt,
                    "passage_prompt": real.passage_prompt, "config": config.to_dict(),
                    "sources": [str(work / f"src-{n}")], "files": files, "documents": len(files),
                    "articles": sum(f["articles"] for f in files.values())}
        t = time.perf_counter()
        index = Index.write(work / f"index-{n}", manifest, None, set(), rows, n, config)
        res = {"build_s": round(time.perf_counter() - t, 1), "disk_mb": disk_mb(work / f"index-{n}")}
        res.update(recall_and_speed(index, queries))
        del index
        say(f"scale: {n} chunks built: {json.dumps(res)}")
        res["serve"] = _child(work / f"index-{n}", args, new_issue, args.queries)
        say(f"scale: {n} chunks served: {json.dumps(res['serve'])}")
        out[str(n)] = res
        if with_qdrant and n <= 100_000 and "qdrant" not in out:
            say(f"scale: Qdrant local mode (in memory) at {n} chunks")
            out["qdrant"] = qdrant_latency(work, n, seed_index, real, tok, manifest, config, args)
        shutil.rmtree(work / f"src-{n}", ignore_errors=True)
    return out


def report_rows(r: dict) -> list[tuple[str, str, str, str]]:
    ok = lambda good: "ok" if good else "MISSED"
    targets = {100_000: (60, 2048), 1_000_000: (100, 4096)}
    rows = []
    for n, s in ((k, v) for k, v in r.items() if k != "qdrant"):
        p50, rss = targets.get(int(n), (100, 4096))
        sv = s["serve"]
        rows += [
            (f"[scale {n}] build (Index.write, given vectors)", f"{s['build_s']} s, {s['disk_mb']} MB on disk", "", "info"),
            (f"[scale {n}] dense index", f"{s['kind']}: recall@10 {s['recall_at_10']}, {s['approx_ms']} ms "
             f"vs exact {s['exact_ms']} ms", ">= 0.97", ok(s["recall_at_10"] >= 0.97) if s["kind"] != "flat" else "exact"),
            (f"[scale {n}] ask() p50 / p95", f"{sv['ask_p50_ms']} / {sv['ask_p95_ms']} ms (filtered p50 "
             f"{sv['filtered_p50_ms']} ms)", f"p50 <= {p50} ms", ok(sv["ask_p50_ms"] <= p50)),
            (f"[scale {n}]   of which: query embedding / index search p50",
             f"{sv.get('embed_query_p50_ms')} / {sv.get('search_p50_ms')} ms", "", "info"),
            (f"[scale {n}] serving RSS now / peak", f"{sv['rss_mb']} / {sv['peak_rss_mb']} MB (load {sv['load_s']} s)",
             f"<= {rss} MB", ok(sv["peak_rss_mb"] <= rss)),
            (f"[scale {n}] add one issue (add_files)", f"{sv['add_files_s']} s, embedded {sv['add_embedded']}, "
             f"peak {sv['peak_after_add_mb']} MB", "", "info"),
            (f"[scale {n}]   other processes' CPU", f"{sv['other_processes_cpu_cores']} cores", "quiet: < 0.2",
             "ok" if sv["other_processes_cpu_cores"] < 0.2 else "NOISY"),
        ]
    if "qdrant" in r:
        q = r["qdrant"]
        rows.append((f"[qdrant local mode {q['chunks']}] hybrid search p50",
                     f"{q['search_p50_ms']} ms; one ask() {q['one_ask_s']} s (in memory, built in {q['build_s']} s)",
                     "info (pure Python)", "info"))
    return rows


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--where", default="{}")
    ap.add_argument("--add")
    a = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    print(json.dumps(serve_scale(a.serve, a.questions, a.queries, a.add, json.loads(a.where))))
