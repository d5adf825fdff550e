"""Compose a short cited answer from retrieved sentences, or say the sources don't answer.

No language model: the answer is the source's own sentence(s). Every sentence of the
retrieved chunks is a candidate; :mod:`rag.features` describes it and the fitted
:class:`~rag.scorer.Scorer` scores it. The best candidate answers when its score clears the
scorer's one threshold, else the answer is a refusal. Every quote is a verbatim piece of
the issue file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .english import Bridged
from .features import Candidate, FeatureMaker, QuestionContext
from .question import Question
from .retrieve import Hit
from .scorer import Scorer
from .spans import clause_of, follows_term
from .tokenize import ChineseTokenizer, simplified_aligned, to_simplified

__all__ = ["Answer", "Citation", "Composer", "NOT_FOUND"]

NOT_FOUND = "抱歉，现有资料中没有找到这个问题的答案。"
MAX_QUOTE = 200
# A clause that says no: 不/没有/未/无/免费 ("要收费吗" is answered 否 by "免费发放").
_NEGATION = re.compile(r"不|没有|没|未|无|免费|免|非|禁止|拒绝|暂停|取消")
# Words that hold a negation character without saying no.
_NOT_NEGATION = re.compile(r"不断|不少|不仅|不但|不同|不错|不久|不时|不管|不论|无论|非常|无私|无缝|无偿|未来|免疫|并非只")


@dataclass(frozen=True)
class Citation:
    """One cited source sentence: ``quote`` appears verbatim in ``source`` (modulo whitespace).

    ``page`` is the 1-based page of a paged file (PDF), None otherwise; ``paper``, ``date``,
    ``issue`` and ``url`` are the issue's metadata where known ("" otherwise).
    """

    n: int
    source: str
    section: str
    title: str
    quote: str
    score: float
    page: int | None = None
    paper: str = ""
    date: str = ""
    issue: str = ""
    url: str = ""


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


class Composer:
    """Chooses answer sentences among retrieved chunks with the fitted scorer.

    Args:
        tokenizer, doc_freq, n_docs, article_text: what ``FeatureMaker`` describes candidates with.
        scorer: the fitted scorer (default: the one shipped in the package).
        min_similarity: for questions without Chinese characters (compared by embedding).
    """

    def __init__(self, tokenizer: ChineseTokenizer, doc_freq: Mapping[str, int], n_docs: int,
                 article_text: Callable[[str, int], str], *, scorer: Scorer | None = None,
                 min_similarity: float = 0.76) -> None:
        self.scorer = scorer or Scorer()
        self.features = FeatureMaker(tokenizer, doc_freq, n_docs, article_text, self.scorer.span_weights)
        self.min_similarity = min_similarity

    def candidates(self, question: str, hits: Sequence[Hit]) -> tuple[QuestionContext, list[Candidate]]:
        """The question analysed, and every candidate sentence scored by the ranker, best first."""
        qc = self.features.question(question)
        cands = self.features.candidates(qc, hits)
        for c in cands:
            c.score = self.scorer.rank(c.features)
        cands.sort(key=lambda c: (-c.score, c.rank, c.sentence))
        return qc, cands

    def compose(self, question: str, hits: Sequence[Hit],
                similarity: Callable[[list[str]], np.ndarray] | None = None,
                asked: str | None = None, english: Bridged | None = None) -> Answer:
        """Answer ``question`` from ``hits``.

        Args:
            similarity: scores sentences against the question by embedding; used for
                questions with no Chinese characters, where terms cannot be matched.
            asked: the user's own words when ``question`` was completed from an earlier turn.
            english: for an English question, the index's Chinese words for it.
        """
        text = to_simplified(question)
        if not hits or not re.search(r"\w", text):      # nothing to match: "😀😀😀", "？？"
            return self._not_found(question, [])
        if similarity is not None and english is not None and not re.search(r"[\u3400-\u9fff]", text):
            return self._compose_english(question, hits, similarity, english)
        qc, cands = self.candidates(question, hits)
        return self.decide(question, qc, cands, self.scorer)

    def decide(self, question: str, qc: QuestionContext, cands: list[Candidate], scorer: Scorer) -> Answer:
        """The answer from ranked candidates (best first): the best one and its supporting
        sentences if the scorer is confident enough, else the refusal."""
        conf = scorer.confidence([c.score for c in cands[:2]], cands[0].features) if cands else 0.0
        if conf < scorer.threshold:
            near = [c.hit for c in cands if c.features.get("subj_ctx", 0) >= 1 and c.features.get("cov_ctx", 0) >= 0.35]
            return self._not_found(question, near[:1])
        chosen = _supporting(qc, cands, scorer.support)
        return self._answer(question, chosen, _short_answer(qc, chosen[0], self.features.tokenizer.words), conf)

    def _answer(self, question: str, chosen: list[Candidate], short: str | None, conf: float) -> Answer:
        citations, parts = [], []
        for n, c in enumerate(chosen, start=1):
            ch = c.hit.chunk
            score = conf if n == 1 else conf / (1.0 + math.exp(chosen[0].score - c.score))
            quote = _quote(c)
            citations.append(Citation(n, ch.source, ch.section, ch.title, quote, round(score, 4),
                                      ch.page_of(quote), ch.paper, ch.date, ch.issue, ch.url))
            parts.append(f"{_display(c)}[{n}]")
        return Answer(question, True, "".join(parts), short, tuple(citations))

    def _compose_english(self, question: str, hits: Sequence[Hit],
                         similarity: Callable[[list[str]], np.ndarray], english: Bridged) -> Answer:
        """English: the question's Chinese words (from the bridge) stand in for its terms;
        a sentence answers when it is similar enough by embedding and its article holds the
        names the question spells out. Only the eight best by words are embedded."""
        zh = "，".join(english.terms)
        qc = self.features.question(zh)
        en = self.features.question(question).q
        q = dataclasses.replace(qc.q, kind=en.kind, span=en.span, asks=en.asks, unit="",
                                focus=(english.counted,) if english.counted else qc.q.focus)
        qc = dataclasses.replace(qc, q=q, names=tuple(english.names))
        cands = self.features.candidates(qc, hits)
        plausible = [c for c in cands if _plausible_in_english(c, q, english, question)]
        plausible = sorted(plausible, key=lambda c: (-c.features["cov_s"], c.rank))[:8]
        if not plausible:
            return self._not_found(question, [])
        sims = similarity([c.sentence for c in plausible])
        for c, sim in zip(plausible, sims):
            c.score = float(sim) + 0.1 * c.features["cov_s"] + (0.02 if c.span else 0.0)
            close = sim >= self.min_similarity or (sim >= self.min_similarity - 0.04 and c.features["cov_ctx"] >= 0.5)
            c.features["close"] = float(close)
        valid = sorted((c for c in plausible if c.features["close"]), key=lambda c: (-c.score, c.rank))
        if not valid:
            return self._not_found(question, [plausible[0].hit])
        return self._answer(question, valid[:1], _short_answer(qc, valid[0], self.features.tokenizer.words),
                            min(1.0, valid[0].score))

    def _not_found(self, question: str, hits: Sequence[Hit]) -> Answer:
        """The refusal; it names the article in ``hits`` (if any) as the closest one."""
        text = NOT_FOUND
        if hits:
            top = hits[0].chunk
            text += f"最相关的文章是《{top.title or top.section or top.source}》（{top.source}），但其中没有直接回答。"
        return Answer(question, False, text, None, ())


def _plausible_in_english(c: Candidate, q: Question, english: Bridged, question: str) -> bool:
    """Whether a sentence may answer an English question: the names it spells out are in the
    article, the answer is of the kind asked (a person for "who": one named after a role word
    the question translates to, "书记乐跃明"), and what "how many" counts is in the sentence."""
    if c.features["name_miss"] or not all(f in to_simplified(c.sentence) for f in q.focus):
        return False
    if not c.features.get("span_fits") and (q.span or q.kind == "person"):
        return False
    if q.kind == "person" and c.span and (c.span.how not in ("role", "honorific", "name") or (
            c.span.how == "name" and not follows_term(simplified_aligned(c.sentence), c.span.start, english.terms))):
        return False
    # an age is not a count unless the question asks how old
    return not (q.kind == "number" and c.span_text and c.span_text.endswith("岁")
                and not re.search(r"\bold\b|\bage", question, re.I))


def _supporting(qc: QuestionContext, cands: list[Candidate], support: float) -> list[Candidate]:
    """The answer's sentences: the best, and for a question answered in words rather than by
    one fact (what, how, why, describe) up to two more of the same article that score at most
    ``support`` below it."""
    best = cands[0]
    if qc.q.asks not in ("what", "how", "why", "describe"):
        return [best]
    article = (best.hit.chunk.source, best.hit.chunk.article)
    more = [c for c in cands[1:] if (c.hit.chunk.source, c.hit.chunk.article) == article
            and c.score >= best.score - support]
    return [best, *more[:2 if qc.q.asks != "what" else 1]]


def _short_answer(qc: QuestionContext, c: Candidate, words: Callable[[str], list[str]]) -> str | None:
    """The fact itself: the span (with the noun a count counts), 是/否, or None."""
    q = qc.q
    if q.asks == "yesno":
        s = simplified_aligned(c.sentence)
        terms = [t for t in qc.weights if len(t) > 1]
        clauses = [clause_of(s, m.start(), m.end()) for t in terms for m in re.finditer(re.escape(t), s)] \
            or [(0, len(s))]
        a, b = max(clauses, key=lambda ab: sum(t in s[ab[0]:ab[1]] for t in terms))
        clause, asked = _NOT_NEGATION.sub("", s[a:b]), _NOT_NEGATION.sub("", q.text)
        said_no = {m.group(0) for m in _NEGATION.finditer(clause)} - {m.group(0) for m in _NEGATION.finditer(asked)}
        return "否" if said_no else "是"
    if c.span is None or q.asks in ("describe", "how", "why"):
        return None
    start, end = c.span.start, c.span.end
    if q.kind == "number" and c.span.how == "pattern":   # "7个" + "停车位": what the question counts
        for w in words(q.right.lstrip("个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份")):
            if not w.strip() or not to_simplified(c.sentence).startswith(w, end):
                break
            end += len(w)
    return c.sentence[start:end].strip() or None


def _quote(c: Candidate) -> str:
    """The verbatim piece of the sentence to cite: the one holding the answer span."""
    span = c.span_text
    piece = max(c.pieces, key=lambda p: (span is not None and span in p, len(p)))
    if len(piece) <= MAX_QUOTE:
        return piece
    at = piece.find(span) if span else 0
    start = max(0, min(at - MAX_QUOTE // 2, len(piece) - MAX_QUOTE))
    return piece[start:start + MAX_QUOTE]


def _display(c: Candidate) -> str:
    """The sentence as shown in the answer text, shortened around the span when long."""
    if len(c.sentence) <= MAX_QUOTE:
        return c.sentence
    q = _quote(c)
    return ("…" if not c.sentence.startswith(q) else "") + q + ("…" if not c.sentence.endswith(q) else "")
