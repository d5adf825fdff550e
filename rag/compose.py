"""Compose a short cited answer from retrieved sentences, or say the sources don't answer.

No language model: the answer is the source's own sentence(s), chosen because they
cover the question's terms, sit in an article about the question's subject, and hold
a span of the kind asked for (a number with its unit, a date, a name…). Every quote is
a verbatim piece of the issue file.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .chunk import split_sentences
from .question import Question, analyse_question, answer_spans
from .retrieve import Hit
from .tokenize import ChineseTokenizer, to_simplified

__all__ = ["Answer", "Citation", "Composer", "NOT_FOUND"]

NOT_FOUND = "抱歉，现有资料中没有找到这个问题的答案。"
MAX_QUOTE = 160
_ORG = re.compile(r"公司|单位|党支部|党总支|党委|委员会|中心|协会|基金会|学校|小学|中学|大学|医院|银行|集团|"
                  r"俱乐部|研究院|事务所|居委会|居民区|街道|部门|支部|影院|药房|餐饮|分局|工作室|联盟|站")
_NAME_AFTER_ROLE = r"(?:、[^，。；,]{1,12}?)?([\u4e00-\u9fff]{2,3}?)(?=强调|表示|介绍|指出|说|告诉|出席|主持|带领|参加|" \
                   r"致辞|讲话|发言|为|向|与|和|及|等|在|、|，|,|。|；|：|:|\s|$)"
_ROLES = r"书记|主任|主席|部长|局长|处长|科长|站长|校长|院长|经理|队长|会长|理事长|负责人|组长|楼组长|社长|所长|馆长"
_LEAD = "与和跟同向为由在是以及把被对从"


@dataclass(frozen=True)
class Citation:
    """One cited source sentence: ``quote`` appears verbatim in ``source`` (modulo whitespace)."""

    n: int
    source: str
    section: str
    title: str
    quote: str
    score: float


@dataclass(frozen=True)
class Answer:
    """A composed answer; ``text`` carries a ``[n]`` marker for every citation."""

    question: str
    found: bool
    text: str
    short_answer: str | None
    citations: tuple[Citation, ...]

    def to_dict(self) -> dict:
        return {"question": self.question, "found": self.found, "answer": self.text,
                "short_answer": self.short_answer,
                "citations": [asdict(c) for c in self.citations]}


@dataclass
class _Candidate:
    hit: Hit
    rank: int
    sentence: str          # as written in the chunk
    pieces: list[str]      # the sentence split at repaired page breaks (each verbatim)
    score: float = 0.0
    valid: bool = False
    span: str | None = None


class Composer:
    """Chooses answer sentences among retrieved chunks.

    Args:
        tokenizer: the index's tokenizer (question terms are cut the same way).
        doc_freq: chunk frequency of each token in the index (rare terms weigh more).
        n_docs: number of chunks in the index.
        article_text: maps (source, article) to the article's whole text, the context in
            which the question's subject must appear.
        min_coverage: share of the question's weighted terms that the sentence and its
            article must hold before the sentence counts as an answer.
        min_similarity: for questions without Chinese characters (compared by embedding).
    """

    def __init__(self, tokenizer: ChineseTokenizer, doc_freq: Mapping[str, int], n_docs: int,
                 article_text: Callable[[str, int], str], *, min_coverage: float = 0.6,
                 min_similarity: float = 0.82) -> None:
        self.tokenizer = tokenizer
        self.doc_freq = doc_freq
        self.n_docs = max(n_docs, 1)
        self.article_text = article_text
        self.min_coverage = min_coverage
        self.min_similarity = min_similarity

    def _weight(self, term: str) -> float:
        df = self.doc_freq.get(term, 0)
        return math.log(1 + self.n_docs / (df + 1)) * (0.3 if len(term) == 1 else 1.0)

    def compose(self, question: str, hits: Sequence[Hit],
                similarity: Callable[[list[str]], np.ndarray] | None = None) -> Answer:
        """Answer ``question`` from ``hits``.

        Args:
            similarity: scores sentences against the question by embedding; used for
                questions with no Chinese characters, where terms cannot be matched.
        """
        q = analyse_question(question, self.tokenizer.words)
        cands = self._candidates(hits)
        if not cands:
            return self._not_found(question, hits)
        if q.chinese or similarity is None:
            self._score_by_terms(q, cands)
        else:
            self._score_by_similarity(q, cands, similarity([c.sentence for c in cands]))
        valid = sorted((c for c in cands if c.valid), key=lambda c: (-c.score, c.rank, c.sentence))
        if not valid:
            return self._not_found(question, hits)
        best = valid[0]
        chosen = [best]
        if q.kind in ("what", "place", "") and len(valid) > 1 and valid[1].score >= 0.9 * best.score:
            chosen.append(valid[1])
        citations, parts = [], []
        for n, c in enumerate(chosen, start=1):
            quote = _quote(c)
            citations.append(Citation(n, c.hit.chunk.source, c.hit.chunk.section, c.hit.chunk.title,
                                      quote, round(c.score, 4)))
            parts.append(f"{_display(c)}[{n}]")
        return Answer(question, True, "".join(parts), best.span, tuple(citations))

    # ---- candidates and scoring ----------------------------------------------------------
    def _candidates(self, hits: Sequence[Hit]) -> list[_Candidate]:
        out, seen = [], set()
        for rank, hit in enumerate(hits):
            text, pos = hit.chunk.text, 0
            for s in split_sentences(text):
                cuts = [c - pos for c in hit.chunk.cuts if pos < c < pos + len(s)]
                pos += len(s)
                sentence = s.strip()
                key = (hit.chunk.source, hit.chunk.article, sentence)
                if len(sentence) < 4 or key in seen:
                    continue
                seen.add(key)
                bounds = [0, *cuts, len(s)]
                pieces = [s[a:b].strip() for a, b in zip(bounds, bounds[1:]) if s[a:b].strip()]
                out.append(_Candidate(hit, rank, sentence, pieces))
        return out

    def _score_by_terms(self, q: Question, cands: list[_Candidate]) -> None:
        terms = [t for t in dict.fromkeys(self.tokenizer(q.text)) if not t.isdigit() or len(t) > 1]
        weights = {t: self._weight(t) for t in terms}
        total = sum(weights.values()) or 1.0
        for c in cands:
            s = to_simplified(c.sentence)
            context = to_simplified(c.hit.chunk.title + c.hit.chunk.heading +
                                    self.article_text(c.hit.chunk.source, c.hit.chunk.article))
            in_s = sum(w for t, w in weights.items() if t in s) / total
            in_ctx = sum(w for t, w in weights.items() if t in s or t in context) / total
            focus_ok = all(_present(f, s) or (q.kind in ("what", "place") and _present(f, context))
                           for f in q.focus)
            c.span = _extract(q, c.sentence)
            type_ok = c.span is not None or q.kind in ("what", "place", "")
            c.valid = type_ok and focus_ok and in_ctx >= self.min_coverage and in_s >= self.min_coverage / 3
            c.score = in_s + 0.5 * in_ctx + (0.3 if c.span else 0.0) + 0.1 / (1 + c.rank)

    def _score_by_similarity(self, q: Question, cands: list[_Candidate], sims: np.ndarray) -> None:
        for c, sim in zip(cands, sims):
            c.span = _extract(q, c.sentence)
            type_ok = c.span is not None or q.kind in ("what", "place", "person", "org", "")
            c.valid = type_ok and float(sim) >= self.min_similarity
            c.score = float(sim) + (0.02 if c.span else 0.0)

    def _not_found(self, question: str, hits: Sequence[Hit]) -> Answer:
        text = NOT_FOUND
        if hits:
            top = hits[0].chunk
            text += f"最相关的文章是《{top.title or top.section or top.source}》（{top.source}），但其中没有直接回答。"
        return Answer(question, False, text, None, ())


def _present(word: str, text: str) -> bool:
    """The word, or for a long word any two-character part of it, occurs in text."""
    if word in text:
        return True
    return len(word) >= 3 and any(word[i:i + 2] in text for i in range(len(word) - 1))


def _extract(q: Question, sentence: str) -> str | None:
    """The exact span of ``sentence`` that answers ``q``, or None if there is none."""
    if q.span:
        spans = answer_spans(q, sentence)
        if not spans:
            return None
        anchor = _anchor(q, sentence)
        start, end = min(spans, key=lambda ab: (abs(ab[0] - anchor) if anchor >= 0 else 0, ab[0]))
        # "7个" + "停车位" when the question names what is counted right after its number.
        for f in q.focus:
            if q.kind == "number" and sentence.startswith(f, end):
                end += len(f)
        return sentence[start:end]
    if q.kind == "person":
        return _person(q, sentence)
    if q.kind == "org":
        return _between(q, sentence, must=_ORG)
    return None


def _anchor(q: Question, sentence: str) -> int:
    """Where the question's focus sits in the sentence (-1 if absent)."""
    for f in q.focus:
        i = sentence.find(f)
        if i >= 0:
            return i
    return -1


def _person(q: Question, sentence: str) -> str | None:
    roles = re.findall(_ROLES, q.left)
    if roles:
        for m in re.finditer(rf"(?:{'|'.join(map(re.escape, roles))}){_NAME_AFTER_ROLE}", sentence):
            return m.group(1)
        return None
    return _between(q, sentence, must=None, max_len=4)


def _between(q: Question, sentence: str, must: re.Pattern | None, max_len: int = 30) -> str | None:
    """The text in ``sentence`` where the question word stands in the question.

    "云莲一居民区和哪家公司是一墙之隔的邻居" against "…云莲一居民区与上海浦东东站长途客运有限公司是一墙之隔
    的邻居…": what stands between the last matched word of the left part and the first
    matched word of the right part.
    """
    right = [w for w in re.findall(r"[\u4e00-\u9fff]{2,}", q.right)]
    start, end = 0, len(sentence)
    for r in right:
        for k in range(len(r), 1, -1):
            i = sentence.find(r[:k])
            if i > 0:
                end = i
                break
        if end < len(sentence):
            break
    left_words = re.findall(r"[\u4e00-\u9fff]{2,}", q.left)
    for w in reversed(left_words):
        for k in range(len(w), 1, -1):
            i = sentence.rfind(w[-k:], 0, end)
            if i >= 0:
                start = i + k
                break
        if start:
            break
    if start == 0 and end == len(sentence):
        return None
    span = re.split(r"[，,。；;：:]", sentence[start:end])
    span = [p for p in span if p.strip()]
    if not span:
        return None
    text = (span[-1] if end < len(sentence) else span[0]).strip(" “”\"")
    while text and text[0] in _LEAD:
        text = text[1:]
    if not 2 <= len(text) <= max_len or (must is not None and not must.search(text)):
        return None
    return text


def _quote(c: _Candidate) -> str:
    """The verbatim piece of the sentence to cite: the one holding the answer span."""
    piece = max(c.pieces, key=lambda p: (c.span is not None and c.span in p, len(p)))
    if len(piece) <= MAX_QUOTE:
        return piece
    at = piece.find(c.span) if c.span else 0
    start = max(0, min(at - MAX_QUOTE // 2, len(piece) - MAX_QUOTE))
    return piece[start:start + MAX_QUOTE]


def _display(c: _Candidate) -> str:
    """The sentence as shown in the answer text, shortened around the span when long."""
    if len(c.sentence) <= MAX_QUOTE:
        return c.sentence
    q = _quote(c)
    return ("…" if not c.sentence.startswith(q) else "") + q + ("…" if not c.sentence.endswith(q) else "")
