"""The command line, run as a user would run it (python -m rag), with the real model."""

import json
import os
import subprocess
import sys

from conftest import ROOT


def rag(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=600)


def test_index_json_on_unchanged_corpus_embeds_nothing(seed_index_dir):
    out = rag("index", "--index-dir", str(seed_index_dir), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"documents", "articles", "chunks", "embedded", "reused", "removed", "seconds"}
    assert report["documents"] == 5 and report["embedded"] == 0 and report["reused"] == report["chunks"]


def test_ask_json_uses_rag_index_dir(seed_index_dir):
    out = rag("ask", "--json", "兰岭园新增了多少个停车位？", env={"RAG_INDEX_DIR": str(seed_index_dir)})
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["found"] and answer["short_answer"] == "7个停车位"
    assert answer["citations"][0]["source"] == "000_54cc604d7de70b0b.txt"


def test_bad_input_exits_non_zero_with_a_message(seed_index_dir, tmp_path):
    out = rag("ask", "--index-dir", str(seed_index_dir), "  ")
    assert out.returncode == 2 and "question is empty" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    out = rag("index", "--index-dir", str(seed_index_dir), str(bad))
    assert out.returncode == 2 and "bad.txt: the file is empty" in out.stderr


def test_eval_prints_metrics(seed_index_dir, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "a", "question": "兰岭园新增了多少个停车位？", "answer": "7个停车位", "source": "000_54cc604d7de70b0b.txt"},
        {"id": "b", "question": "兰岭园小区的物业费每月多少钱？", "answer": None, "source": None},
    ]), encoding="utf-8")
    out = rag("eval", "--index-dir", str(seed_index_dir), "--questions", str(questions), "--json")
    assert out.returncode == 0, out.stderr
    m = json.loads(out.stdout)["metrics"]
    assert m["answer_accuracy"] == 1.0 and m["refusal_accuracy"] == 1.0 and m["recall@1"] == 1.0
    assert m["latency_ms_p50"] > 0


def test_eval_reports_accuracy_per_type_and_prints_each_miss(seed_index_dir, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in [
        {"id": "a", "question": "兰岭园新增了多少个停车位？", "answer": "7个停车位",
         "source": "000_54cc604d7de70b0b.txt", "type": "num"},
        # a gold answer no source holds: whatever is said, it is a miss of one of the three kinds
        {"id": "b", "question": "凉城新村街道党工委书记是谁？", "answer": "张三丰",
         "source": "003_f5fd1caccfd41a06.txt", "type": "who"},
        {"id": "c", "question": "兰岭园小区的物业费每月多少钱？", "answer": None, "source": None, "type": "num"},
    ]), encoding="utf-8")
    out = rag("eval", "--index-dir", str(seed_index_dir), "--questions", str(questions), "--json")
    report = json.loads(out.stdout)
    assert report["by_type"]["num"] == {"questions": 1, "accuracy": 1.0}
    assert report["by_type"]["who"] == {"questions": 1, "accuracy": 0.0}
    assert sum(report["misses"].values()) == 1 and report["misses"]["trap_answered"] == 0
    out = rag("eval", "--index-dir", str(seed_index_dir), "--questions", str(questions), "--misses")
    assert out.returncode == 0, out.stderr
    assert "gold: 张三丰" in out.stdout and "凉城新村街道党工委书记是谁" in out.stdout
    assert "accuracy by type: num 1.00 (1), who 0.00 (1)" in out.stdout


def test_ask_text_names_a_section_only_where_the_source_has_one(seed_index_dir, tmp_path):
    import shutil
    index = tmp_path / "index"
    shutil.copytree(seed_index_dir, index)
    page = tmp_path / "web.txt"
    page.write_text("# https://example.com/news/1\n\n青桐苑加装电梯开工\n\n"
                    "10月20日，青桐苑小区3号楼首部加装电梯工程开工，惠及24户居民。\n", encoding="utf-8")
    assert rag("index", "--index-dir", str(index), str(page)).returncode == 0
    out = rag("ask", "--index-dir", str(index), "青桐苑小区3号楼的加装电梯工程是哪天开工的？")
    assert out.returncode == 0 and "web.txt" in out.stdout and "《青桐苑加装电梯开工》" in out.stdout
    assert "【】" not in out.stdout
    seeds = rag("ask", "--index-dir", str(index), "兰岭园新增了多少个停车位？")
    assert "【宜居家园】《" in seeds.stdout
