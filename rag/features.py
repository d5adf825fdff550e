"""Answer candidates and their features: every sentence of the retrieved chunks, described by
numbers the fitted scorer (:mod:`rag.scorer`) weighs.

A feature says one thing a reader would check: does the sentence hold the question's words,
does its article name the question's subject, does it hold an answer of the asked kind near
those words, how did retrieval rank its passage. None of them refuses on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from .chunk import split_sentences
from .question import ASKS, GENERIC_WORDS, Question, analyse_question, question_terms
from .retrieve import Hit
from .spans import Span, best_span, find_spans
from .tokenize import ChineseTokenizer, simplified_aligned, to_simplified

__all__ = ["Candidate", "QuestionContext", "FeatureMaker", "FEATURES", "FEATURE_GROUPS"]

SPAN_KINDS = ("money", "percent", "year", "date", "duration", "number", "person", "org", "place")
# The features, by what they look at (the groups are what an ablation leaves out). Retrieval
# scores (rank, dense score, which side ranked a chunk first) are not among them: out of fold
# the ranker did better without them on the labelled, real and seed questions alike, and they
# would tie the scorer to one backend's score scale (local FAISS+BM25 fusion or Qdrant's).
FEATURE_GROUPS = {
    "lexical": ("cov_s", "cov_ctx", "cov_title", "bigram_s", "bigram_ctx", "subj_s", "subj_ctx", "miss_max",
                "name_miss", "focus_s", "cue_s", "kind_word_s", "ordinal_clash", "cov_prev", "cov_next", "restate",
                "near_s", "pred_s", "year_clash", "year_miss_ctx"),
    "span": ("has_span", "span_typed", "span_near_pred", "span_pattern", "span_person", "span_address", "span_named", "span_between",
             "span_fits", "span_near", "span_clause", "span_focus", "span_unit", "span_stated",
             "span_year_only", "span_inside_q", "span_kind_word", "span_len"),
    "sentence": ("first_sent", "is_title", "len_s", "is_question", "quoted"),
    "asks": tuple(f"asks_{a}" for a in ASKS),   # what the question asks shifts the bar per kind
}
FEATURES = tuple(f for group in FEATURE_GROUPS.values() for f in group)
_ORDINAL = re.compile(r"(?:第)?([一二三四五六七八九十\d]+)(期|届|批)")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_YEAR = re.compile(r"((?:19|20)\d{2})年")


@dataclass
class Candidate:
    """One sentence of a retrieved chunk, with its best answer span and features."""

    hit: Hit
    rank: int
    sentence: str              # as written in the chunk
    pieces: list[str]          # the sentence split at repaired page breaks (each verbatim)
    index: int                 # the sentence's position in its chunk
    span: Span | None = None
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0

    @property
    def span_text(self) -> str | None:
        return self.sentence[self.span.start:self.span.end] if self.span else None


@dataclass(frozen=True)
class QuestionContext:
    """A question analysed once: its kind, weighted terms, subject words and bigrams."""

    q: Question
    weights: dict[str, float]
    subjects: tuple[str, ...]
    names: tuple[str, ...]
    bigrams: frozenset[str]
    near: tuple[str, ...] = ()     # the terms closest to the question word: what is said of the subject


class FeatureMaker:
    """Turns (question, retrieved chunks) into candidates with features.

    Args:
        tokenizer: the index's tokenizer (question terms are cut the same way).
        doc_freq: chunk frequency of each token in the index (rare terms weigh more).
        n_docs: number of chunks in the index.
        article_text: maps (source, article) to the article's whole text.
        span_model: fitted weights that pick the answer span of a sentence (``best_span``).
    """

    def __init__(self, tokenizer: ChineseTokenizer, doc_freq: Mapping[str, int], n_docs: int,
                 article_text: Callable[[str, int], str], span_model: Mapping[str, float] | None = None) -> None:
        self.tokenizer = tokenizer
        self.span_model = span_model or {}
        self.doc_freq = doc_freq
        self.n_docs = max(n_docs, 1)
        self.article_text = article_text
        self._contexts: dict[tuple[str, int], str] = {}

    def weight(self, term: str) -> float:
        """Rarer terms weigh more; a term the index never holds weighs like a common word
        (it is as often a paraphrase as a sign the sources lack the subject)."""
        df = self.doc_freq.get(term, 0)
        idf = math.log(1 + self.n_docs / (df + 1)) if df else 1.0
        return idf * (0.3 if len(term) == 1 else 1.0)

    def question(self, text: str) -> QuestionContext:
        q = analyse_question(text, self.tokenizer.words, self.tokenizer.tagged)
        weights = {t: self.weight(t) for t in question_terms(q, self.tokenizer)}
        tagged = self.tokenizer.tagged(q.left + "，" + q.right) if q.kind else self.tokenizer.tagged(q.text)
        nouns = {w for w, flag in tagged if flag.startswith("n")} - GENERIC_WORDS
        if q.kind_word:
            nouns.discard(q.kind_word)     # "什么学校": the class of the answer, not its subject
        known = [t for t in weights if self.doc_freq.get(t, 0) and len(t) > 1 and t in nouns]
        top = max((weights[t] for t in known), default=0.0)
        subjects = [t for t in known if weights[t] >= 0.6 * top]
        names = [w for w, flag in tagged if flag in ("nr", "ns", "nt", "nz") and len(w) > 1]
        content = "".join(_CJK_RUN.findall(q.left + "，" + q.right if q.kind else q.text))
        bigrams = frozenset(content[i:i + 2] for i in range(len(content) - 1))
        # "…服务中心的负责人是哪位": 负责人, the words next to the question word, say what is
        # asked of the subject; the sentence that answers holds them, not only the subject.
        at = len(q.left)
        whole = [t for t in weights if len(t) > 1 and t in q.text and t not in GENERIC_WORDS and t not in names
                 and not any(t != u and t in u for u in weights)]      # 负责人, not also 负责 and 责人
        near = tuple(t for _, t in sorted((abs(q.text.find(t) + len(t) / 2 - at), t) for t in whole)[:3])
        return QuestionContext(q, weights, tuple(subjects), tuple(dict.fromkeys(names)), bigrams, near)

    def candidates(self, qc: QuestionContext, hits: Sequence[Hit]) -> list[Candidate]:
        out, seen = [], set()
        total = sum(qc.weights.values()) or 1.0
        for rank, hit in enumerate(hits):
            text, pos = hit.chunk.text, 0
            sentences = split_sentences(text)
            title = hit.chunk.title.strip()
            if hit.chunk.position == 0 and title and (hit.chunk.source, hit.chunk.article, title) not in seen:
                # A headline often states the fact itself ("…同时开工!惠及41户居民"); it is quoted as written.
                seen.add((hit.chunk.source, hit.chunk.article, title))
                c = Candidate(hit, rank, title, [title], -1)
                self._describe(qc, c)
                c.features.update(cov_prev=0.0, cov_next=0.0, is_title=1.0)
                out.append(c)
            # How much of the question each sentence holds: an answer often follows (or
            # precedes) the sentence that restates the question ("…中心吸引了市民。中心位于…").
            cover = [sum(w for t, w in qc.weights.items() if t in simplified_aligned(x)) / total for x in sentences]
            for i, s in enumerate(sentences):
                cuts = [c - pos for c in hit.chunk.cuts if pos < c < pos + len(s)]
                pos += len(s)
                sentence = s.strip()
                key = (hit.chunk.source, hit.chunk.article, sentence)
                if len(sentence) < 4 or key in seen:
                    continue
                seen.add(key)
                lead = len(s) - len(s.lstrip())
                bounds = [0, *[c - lead for c in cuts], len(sentence)]
                pieces = [sentence[a:b].strip() for a, b in zip(bounds, bounds[1:]) if sentence[a:b].strip()]
                c = Candidate(hit, rank, sentence, pieces, i)
                self._describe(qc, c)
                c.features["cov_prev"] = cover[i - 1] if i > 0 else 0.0
                c.features["cov_next"] = cover[i + 1] if i + 1 < len(cover) else 0.0
                out.append(c)
        return out

    def context(self, c: Candidate) -> str:
        """The candidate's article as a whole, with its title and sub-heading (simplified)."""
        chunk = c.hit.chunk
        key = (chunk.source, chunk.article)
        if key not in self._contexts:
            if len(self._contexts) > 256:
                self._contexts.clear()
            self._contexts[key] = to_simplified(chunk.title + "\n" + self.article_text(chunk.source, chunk.article))
        return self._contexts[key]

    def _describe(self, qc: QuestionContext, c: Candidate) -> None:
        q, weights = qc.q, qc.weights
        s = simplified_aligned(c.sentence)
        ctx = self.context(c)
        title = to_simplified(c.hit.chunk.title)
        total = sum(weights.values()) or 1.0
        top = max(weights.values(), default=1.0)
        in_s = sum(w * _presence(t, s) for t, w in weights.items()) / total
        in_ctx = sum(w * max(_presence(t, s), _presence(t, ctx)) for t, w in weights.items()) / total
        missing = {t: w for t, w in weights.items() if len(t) > 1 and t not in s and t not in ctx}
        f = {
            "cov_s": in_s, "cov_ctx": in_ctx,
            "cov_title": sum(w for t, w in weights.items() if t in title) / total,
            "bigram_s": _share(qc.bigrams, s), "bigram_ctx": _share(qc.bigrams, ctx),
            "subj_s": _share(qc.subjects, s, empty=0.0), "subj_ctx": _share(qc.subjects, ctx),
            "miss_max": max(missing.values(), default=0.0) / top if top else 0.0,
            "name_miss": 1.0 if any(n not in ctx for n in qc.names) else 0.0,
            "focus_s": max((_presence(f_, s) for f_ in q.focus), default=0.0),
            "cue_s": 1.0 if q.cue and re.search(q.cue, s) else 0.0,
            "kind_word_s": 1.0 if q.kind_word and q.kind_word in s else 0.0,
            "ordinal_clash": 1.0 if _other_ordinal(q.text, s) else 0.0,
            "first_sent": 1.0 if c.hit.chunk.position == 0 and c.index == 0 else 0.0, "is_title": 0.0,
            "len_s": min(len(s), 200) / 100.0,
            "is_question": 1.0 if s.rstrip("”\"' ").endswith(("？", "?")) else 0.0,
            "quoted": 1.0 if re.search(r"“[^”]{2,30}”|《[^》]{2,40}》", s) else 0.0,
            "restate": _share(_bigrams(s), "".join(qc.bigrams), empty=0.0) if qc.bigrams else 0.0,
            "near_s": sum(_presence(t, s) for t in qc.near) / len(qc.near) if qc.near else 0.0,
        }
        # "2016年…多少次" is not answered by a sentence about 2015.
        asked_years = set(_YEAR.findall(q.text))
        said_years = set(_YEAR.findall(s))
        f["year_clash"] = 1.0 if asked_years and said_years and not asked_years & said_years else 0.0
        f["year_miss_ctx"] = 1.0 if asked_years and not asked_years & set(_YEAR.findall(ctx)) else 0.0
        rest = {t: w for t, w in weights.items() if t not in qc.subjects}
        f["pred_s"] = sum(w * _presence(t, s) for t, w in rest.items()) / (sum(rest.values()) or 1.0)
        for a in ASKS:
            f[f"asks_{a}"] = 1.0 if q.asks == a else 0.0
        spans = find_spans(q, s, self.tokenizer.words, self.tokenizer.freq) if q.chinese else []
        terms = [t for t in weights if len(t) > 1]
        c.span, span_f = best_span(q, s, spans, terms, weights, self.span_model, qc.near)
        f["span_near_pred"] = span_f.get("span_near_pred", 0.0)
        f["has_span"] = 1.0 if c.span else 0.0
        how = c.span.how if c.span else ""
        f["span_typed"] = 1.0 if how in ("pattern", "role", "address", "honorific") else 0.0
        f["span_pattern"] = 1.0 if how == "pattern" else 0.0
        f["span_person"] = 1.0 if how in ("role", "honorific", "name") else 0.0
        f["span_address"] = 1.0 if how in ("address", "place") else 0.0
        f["span_named"] = 1.0 if how in ("org", "quote", "kind") else 0.0
        f["span_between"] = 1.0 if how == "between" else 0.0
        for name in ("span_near", "span_clause", "span_focus", "span_unit", "span_stated", "span_year_only",
                     "span_inside_q", "span_kind_word", "span_len", "span_fits"):
            f[name] = span_f.get(name, 0.0)
        c.features = f


def _presence(word: str, text: str) -> float:
    """1 if the word occurs in text, 0.5 if only a two-character part of a longer word does.

    The half credit keeps a word the segmenter cut badly ("杨有" of "曹杨有多少") or
    phrased differently ("快递员" / "快递小哥") from sinking a good sentence.
    """
    if word in text:
        return 1.0
    if len(word) >= 3 and any(word[i:i + 2] in text for i in range(len(word) - 1)):
        return 0.5
    return 0.0


def _bigrams(text: str) -> list[str]:
    return [run[i:i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1)]


def _share(items, text: str, empty: float = 1.0) -> float:
    items = list(items)
    return sum(1 for x in items if x in text) / len(items) if items else empty


def _other_ordinal(question: str, sentence: str) -> bool:
    """The sentence speaks of another phase or term than the question asks about: "二期改造"
    asked, "一期工程…新增了7个停车位" said."""
    asked = set(_ORDINAL.findall(question))
    said = set(_ORDINAL.findall(sentence))
    return any(unit == u and n != m for m, u in said for n, unit in asked) and not asked & said
