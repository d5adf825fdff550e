"""Generate questions from the articles' own sentences: training data for the answer scorer.

    python scripts/auto_questions.py --index-dir .fit-index [--out training/auto_questions.jsonl]

Each sentence holding an amount with its unit, a date, a person after a role, or an address
becomes a question about that fact: the fact's clause with the fact replaced by a question
word (多少户 / 什么时候 / 哪一年 / 是谁 / 在哪里), some of its other words dropped, and the
article's subject (a place or body named in its title) put in front. Two kinds of trap come
with them: a question about an article's subject asking for a kind of fact the article never
gives (花了多少钱 where it names no sum), and an answerable question with its subject swapped
for another article's. The output has the format of the labelled question files; the
answers are verbatim spans. Deterministic: the same index gives the same file.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.chunk import split_sentences  # noqa: E402
from rag.index import Index  # noqa: E402
from rag.question import _SPAN, ROLES  # noqa: E402
from rag.spans import clause_of  # noqa: E402
from rag.tokenize import ChineseTokenizer, simplified_aligned  # noqa: E402

_UNIT_Q = {"户": "多少户", "人": "多少人", "名": "多少名", "个": "多少个", "家": "多少家", "台": "几台", "栋": "几栋",
           "幢": "几幢", "支": "几支", "场": "多少场", "次": "多少次", "项": "多少项", "条": "多少条", "元": "多少钱",
           "平方米": "多大面积", "米": "多少米", "位": "多少位", "间": "多少间", "套": "多少套", "辆": "多少辆",
           "件": "多少件", "份": "多少份", "岁": "多少岁", "人次": "多少人次", "%": "百分之多少", "客": "多少客"}
_NUMBER = re.compile(r"(?:近|约|共)?(\d+(?:\.\d+)?)(?:余|多)?(?:万|亿)?(平方米|人次|[户人名个家台栋幢支场次项条元米位间套辆件份岁客%])")
_DATE = re.compile(_SPAN["date"].split("|(?:每周")[0])
_YEAR = re.compile(r"(?:19|20)\d{2}年(?![代底初末])")
_ROLE_NAME = re.compile(rf"((?:{ROLES}))([\u4e00-\u9fff]{{2,3}})(?=[，,。；：:、\s]|表示|说|介绍|告诉|指出)")
_ADDRESS = re.compile(r"(?:位于|地址[:：是为]?|坐落于|搬到了?|开在)([\u4e00-\u9fff]{2,6}(?:路|街|大道)\d+(?:弄\d+)?号)")
_SUBJECT_END = re.compile(r"(?:街道|社区|小区|新村|居民区|居委会?|村|镇|中心|食堂|花园|公寓|苑|园)$")
_TRAP_ASKS = [   # (what the article must not hold, the question)
    (re.compile(r"\d+(?:\.\d+)?(?:余|多)?(?:万|亿)?元"), "{s}一共花了多少钱？"),
    (re.compile(rf"(?:{ROLES})[\u4e00-\u9fff]{{2,3}}"), "{s}的负责人叫什么名字？"),
    (re.compile(r"[路街]\d+(?:弄\d+)?号|位于"), "{s}的具体地址在哪里？"),
    (re.compile(r"电话|热线|\d{8}"), "{s}的联系电话是多少？"),
    (re.compile(r"(?:19|20)\d{2}年"), "{s}是哪一年成立的？"),
    (re.compile(r"\d+(?:余|多)?(?:名|位)?志愿者|志愿者\d+"), "{s}一共有多少名志愿者？"),
]


def subject(title: str, first: str, tok: ChineseTokenizer, doc_freq, n_docs: int) -> str:
    """What the article is about: the rarest place, body or name of its title (else of its
    first sentence) that the index holds; words common to many articles (上海, 社区) name none."""
    for text in (title, first):
        words = [w for w, flag in tok.tagged(simplified_aligned(text))
                 if len(w) >= 2 and (flag in ("ns", "nt", "nz", "nr") or _SUBJECT_END.search(w))
                 and 0 < doc_freq.get(w, 0) <= max(3, n_docs // 40)]
        if words:
            return min(words, key=lambda w: (doc_freq.get(w, 0), -len(w)))
    return ""


def drop_words(text: str, tok: ChineseTokenizer, rng: random.Random) -> str:
    """Leave out about a fifth of the clause's words, as people leave them out when asking."""
    words = tok.words(text)
    kept = [w for w in words if len(w) < 2 or rng.random() > 0.2 or re.search(r"多少|几|什么|哪|谁", w)]
    return "".join(kept)


def make(index: Index, seed: int = 7) -> list[dict]:
    tok, rng = ChineseTokenizer(), random.Random(seed)
    articles = defaultdict(list)
    for c in index.chunks:
        articles[(c.source, c.article)].append(c)
    rows, subjects = [], {}
    for (source, art), chunks in sorted(articles.items()):
        sentences = list(dict.fromkeys(s.strip() for c in chunks for s in split_sentences(c.text) if len(s.strip()) >= 8))
        if not sentences:
            continue
        subj = subject(chunks[0].title, sentences[0], tok, index.doc_freq, len(index))
        subjects[(source, art)] = subj
        whole = simplified_aligned("".join(sentences))
        for s in sentences:
            ss = simplified_aligned(s)
            for q, a, b in _facts(ss):
                answer = s[a:b]
                ca, cb = clause_of(ss, a, b)
                clause = ss[ca:a] + q + ss[b:cb]
                clause = drop_words(clause, tok, rng) if rng.random() < 0.6 else clause
                if subj and subj not in clause:
                    clause = subj + clause.lstrip("，,")
                rest = re.sub(r"多少\w?|几\w|多大面积|百分之多少|什么时候|哪一年|是谁|哪里", "", clause)
                if len(re.findall(r"[\u4e00-\u9fff]", rest)) < 6 or len(clause) > 60 or clause.count("、") > 2:
                    continue
                rows.append({"question": clause.rstrip("，,。") + "？", "answer": answer, "source": source,
                             "evidence": s, "type": "auto"})
        for pattern, ask in _TRAP_ASKS:
            if subj and not pattern.search(whole) and rng.random() < 0.5:
                rows.append({"question": ask.format(s=subj), "answer": None, "source": None, "evidence": None,
                             "type": "auto", "about": source})
    # An answerable question about one article, its subject swapped for another article's.
    answerable = [r for r in rows if r["answer"]]
    names = sorted({s for s in subjects.values() if s})
    for r in rng.sample(answerable, min(len(answerable) // 4, 400)):
        subj = subjects.get(next(k for k in subjects if k[0] == r["source"]), "")
        other = rng.choice(names)
        if subj and other != subj and subj in r["question"] and not _mentions(index, other, r["source"]):
            rows.append({"question": r["question"].replace(subj, other), "answer": None, "source": None,
                         "evidence": None, "type": "auto", "about": r["source"]})
    for i, r in enumerate(rows):
        r["id"] = f"auto{i:05d}"
    return rows


def _mentions(index: Index, word: str, source: str) -> bool:
    return any(word in simplified_aligned(c.text + c.title) for c in index.chunks if c.source == source)


def _facts(s: str):
    """(question phrase, start, end) for each fact of ``s`` a question can be asked about."""
    for m in _NUMBER.finditer(s):
        unit = m.group(2)
        if unit in _UNIT_Q and not s[m.end():m.end() + 1] in "年月日号":
            yield _UNIT_Q[unit], m.start(), m.end()
    for m in _DATE.finditer(s):
        if re.search(r"\d+月\d+[日号]|\d+月(?:上旬|中旬|下旬|初|底)", m.group(0)):
            yield "什么时候", m.start(), m.end()
    for m in _YEAR.finditer(s):
        if not s[m.end():m.end() + 2].startswith(("以来", "起", "至今")) and "月" not in s[m.end():m.end() + 3]:
            yield "哪一年", m.start(), m.end()
    for m in _ROLE_NAME.finditer(s):
        yield "是谁", m.start(2), m.end(2)
    for m in _ADDRESS.finditer(s):
        yield "哪里", m.start(1), m.end(1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", default=str(ROOT / ".fit-index"))
    p.add_argument("--out", default=str(ROOT / "training" / "auto_questions.jsonl"))
    args = p.parse_args(argv)
    rows = make(Index.load(args.index_dir))
    Path(args.out).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    traps = sum(r["answer"] is None for r in rows)
    print(f"wrote {args.out}: {len(rows)} questions ({traps} traps) from {args.index_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
