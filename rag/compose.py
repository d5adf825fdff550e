"""Compose a short cited answer from retrieved sentences, or say the sources don't answer.

No language model: the answer is the source's own sentence(s), chosen because they
cover the question's terms, sit in an article about the question's subject, and hold
a span of the kind asked for (a number with its unit, a date, a name…). Every quote is
a verbatim piece of the issue file.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from .chunk import split_sentences
from .english import Bridged
from .question import GENERIC_WORDS, ROLES, YEAR_ONLY, Question, analyse_question, answer_spans, question_terms
from .retrieve import Hit
from .tokenize import ChineseTokenizer, to_simplified

__all__ = ["Answer", "Citation", "Composer", "NOT_FOUND"]

NOT_FOUND = "抱歉，现有资料中没有找到这个问题的答案。"
MAX_QUOTE = 160
_ORG = re.compile(r"公司|单位|党支部|党总支|党委|委员会|中心|协会|基金会|学校|小学|中学|大学|医院|银行|集团|"
                  r"俱乐部|研究院|事务所|居委会|居民区|街道|部门|支部|影院|药房|餐饮|分局|工作室|联盟|站")
_NAME = r"([\u4e00-\u9fff]{2,3}?)(?=强调|表示|介绍|指出|说|告诉|出席|主持|带领|参加|致辞|讲话|发言|进行|开展|携手|" \
        r"签订|共同|率领|一起|代表|是|也|就|还|将|对|从|以|同|跟|作|" \
        r"为|向|与|和|及|等|在|、|，|,|。|；|：|:|\s|$)"
# "哪家公司/影院/医院…": the class noun that ends the answer's name.
_ORG_CLASS = r"(单位|公司|机构|组织|部门|企业|学校|医院|影院|银行|俱乐部|基金会|协会|中心|餐厅|食堂|药房|超市|" \
             r"养老院|研究院|图书馆|药店|商店|工作室)"
# A 谁 answer that is no name: "一楼的一户居民", "云莲一书画社".
_WHO_END = re.compile(rf"(?:{_ORG.pattern}|居民|老人|人|者|员|们|长|主任|师|生|社|团|队|组|物业|干部|骨干|代表|民警|医生|社工)$")
_LEAD = "与和跟同向为由在是以及把被对从"
_LOCATED = re.compile(r"位于|坐落|地址|地点|选址")
_EXPLAIN = re.compile(r"为什么|为何|原因|怎么|怎样|如何|哪些|什么办法|什么方式|什么措施")


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


@dataclass
class _Candidate:
    hit: Hit
    rank: int
    sentence: str          # as written in the chunk
    pieces: list[str]      # the sentence split at repaired page breaks (each verbatim)
    score: float = 0.0
    valid: bool = False
    span: str | None = None
    related: float = 0.0   # how much the sentence's article is about the question


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
                 min_similarity: float = 0.76) -> None:
        self.tokenizer = tokenizer
        self.doc_freq = doc_freq
        self.n_docs = max(n_docs, 1)
        self.article_text = article_text
        self.min_coverage = min_coverage
        self.min_similarity = min_similarity
        self._contexts: dict[tuple[str, int, str], str] = {}

    def _weight(self, term: str) -> float:
        """Rarer terms weigh more. A term the index never holds cannot tell one sentence
        from another, and is as often a paraphrase ("快递员" for "快递小哥") as a sign the
        sources lack the subject; it weighs like a common word."""
        df = self.doc_freq.get(term, 0)
        idf = math.log(1 + self.n_docs / (df + 1)) if df else 1.0
        return idf * (0.3 if len(term) == 1 else 1.0)

    def compose(self, question: str, hits: Sequence[Hit],
                similarity: Callable[[list[str]], np.ndarray] | None = None,
                asked: str | None = None, english: Bridged | None = None) -> Answer:
        """Answer ``question`` from ``hits``.

        Args:
            similarity: scores sentences against the question by embedding; used for
                questions with no Chinese characters, where terms cannot be matched.
            asked: the user's own words when ``question`` was completed from an earlier
                turn; the answer span is sought in the clause that matches these best.
            english: for an English question, the index's Chinese words for it
                (``EnglishBridge.translate``): sentences holding more of them rank higher,
                and the names among them must be in the sentence's article.
        """
        q = analyse_question(question, self.tokenizer.words, self.tokenizer.tagged)
        clause_terms = [t for t in self.tokenizer(asked or question) if len(t) > 1 or not t.isdigit()]
        cands = self._candidates(hits)
        if not cands or not re.search(r"\w", q.text):   # nothing to match: "😀😀😀", "？？"
            return self._not_found(question, [])
        if q.chinese or similarity is None:
            self._score_by_terms(q, cands, clause_terms)
        else:
            self._score_by_similarity(q, cands, similarity, english or Bridged((), ()))
        valid = sorted((c for c in cands if c.valid), key=lambda c: (-c.score, c.rank, c.sentence))
        if not valid:
            related = max(cands, key=lambda c: (c.related, -c.rank))
            return self._not_found(question, [related.hit] if related.related >= 0.35 else [])
        best = valid[0]
        chosen = _supporting(q, valid)
        citations, parts = [], []
        for n, c in enumerate(chosen, start=1):
            quote = _quote(c)
            ch = c.hit.chunk
            citations.append(Citation(n, ch.source, ch.section, ch.title, quote, round(c.score, 4),
                                      ch.page_of(quote), ch.paper, ch.date, ch.issue, ch.url))
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

    def _score_by_terms(self, q: Question, cands: list[_Candidate], clause_terms: list[str]) -> None:
        weights = {t: self._weight(t) for t in question_terms(q, self.tokenizer)}
        total = sum(weights.values()) or 1.0
        # The question's most specific known terms name its subject (凉城, 兰岭园, 拾尚包):
        # an article that never mentions them does not answer the question.
        tagged = self.tokenizer.tagged(q.left + "，" + q.right)   # tagged once: nouns and names
        nouns = {w for w, flag in tagged if flag.startswith("n")} - GENERIC_WORDS
        if q.kind in ("what", "org", "place") and q.right:
            # "用什么材料搭的", "有什么功能": the word after the question word names the kind
            # of answer; the source need not use it.
            nouns.discard(self.tokenizer.words(q.right)[0])
        known = [t for t in weights if self.doc_freq.get(t, 0) and len(t) > 1 and t in nouns]
        top = max((weights[t] for t in known), default=0.0)
        subjects = [t for t in known if weights[t] >= 0.6 * top]
        # Place and person names are never optional, however common: "曹杨新村街道的党工委
        # 书记" is not answered by an article about 凉城新村街道's.
        subjects += [w for w, flag in tagged
                     if flag in ("nr", "ns") and len(w) > 1 and self.doc_freq.get(w, 0) and w not in subjects]
        # A focus word the index never holds is a paraphrase or a mis-cut, not a requirement.
        focus = [f for f in q.focus if self.doc_freq.get(f, 0) or len(f) > 2]
        for c in cands:
            s, context = to_simplified(c.sentence), self._context(c)
            in_s = sum(w * _presence(t, s) for t, w in weights.items()) / total
            in_ctx = sum(w * max(_presence(t, s), _presence(t, context)) for t, w in weights.items()) / total
            focus_ok = all(_present(f, s) or (q.kind in ("what", "place") and _present(f, context))
                           for f in focus)
            c.span = _extract(q, c.sentence, self.tokenizer.words, clause_terms)
            type_ok = c.span is not None or (q.kind in ("what", "place", "") and not q.span)
            if q.kind == "place" and not q.span and q.cue and not re.search(q.cue, c.sentence):
                type_ok = False      # "在哪里举行" is not answered by a sentence naming no place
            subject_ok = all(t in s or t in context for t in subjects) and not _other_ordinal(q.text, s)
            # "新办公用房…位于热闹的梅川路": a sentence that says where something lies may
            # name it only by reference; its article must still hold the question's words.
            located = q.kind == "place" and bool(_LOCATED.search(c.sentence))
            c.valid = (type_ok and focus_ok and subject_ok and in_ctx >= self.min_coverage
                       and (in_s >= self.min_coverage / 3 or located))
            c.related = in_ctx if subject_ok else 0.0
            cue = q.cue and re.search(q.cue, c.sentence)
            named = sum(t in s for t in subjects) / len(subjects) if subjects else 0.0   # names the subject itself
            c.score = (in_s + 0.5 * in_ctx + 0.2 * named + _span_bonus(q, c.sentence, c.span, located)
                       + (0.2 if cue else 0.0) + 0.1 / (1 + c.rank))

    def _context(self, c: _Candidate) -> str:
        """The sentence's article as a whole, with its title and sub-heading (simplified)."""
        chunk = c.hit.chunk
        key = (chunk.source, chunk.article, chunk.heading)
        if key not in self._contexts:
            if len(self._contexts) > 256:
                self._contexts.clear()
            self._contexts[key] = to_simplified(chunk.title + chunk.heading +
                                                self.article_text(chunk.source, chunk.article))
        return self._contexts[key]

    def _score_by_similarity(self, q: Question, cands: list[_Candidate],
                             similarity: Callable[[list[str]], np.ndarray], english: Bridged) -> None:
        """English: embedding similarity, helped by the question's Chinese words.

        A sentence counts when it is similar enough, or a little less similar but in an
        article holding most of the question's words (a content word nothing translates
        counts as absent). Names (凉城 for "Liangcheng") must be in the article, and a 谁
        question whose role was translated ("secretary" -> 书记) needs a name after it.
        Only sentences that pass those checks are embedded, at most eight.
        """
        weights = {t: self._weight(t) for t in english.terms}
        total = (sum(weights.values()) + 1.5 * len(english.missing)) or 1.0
        asks = dataclasses.replace(q, left="，".join(english.terms), right="")
        roles = _role_phrases(asks, self.tokenizer.words) if q.kind == "person" else []
        if english.counted:          # "how many elderly residents": 老人 must be in the sentence
            q = dataclasses.replace(q, focus=(english.counted,))
        plausible: list[tuple[_Candidate, float, float]] = []
        for c in cands:
            s, context = to_simplified(c.sentence), self._context(c)
            in_s = sum(w for t, w in weights.items() if t in s) / total
            in_ctx = sum(w for t, w in weights.items() if t in s or t in context) / total
            if roles:
                c.span = _person(asks, c.sentence, self.tokenizer.words)
            else:
                c.span = _extract(q, c.sentence, self.tokenizer.words, english.terms) if q.span else None
            type_ok = c.span is not None or (not q.span and not roles)
            type_ok = type_ok and all(f in s for f in q.focus)
            if c.span and q.kind == "number" and c.span.endswith("岁") and not re.search(r"\bold\b|\bage", q.text, re.I):
                type_ok = False      # an age answers "how old", not "how many"
            names_ok = all(_present(n, s) or _present(n, context) for n in english.names)
            c.valid, c.score, c.related = False, 0.0, in_ctx if names_ok else 0.0
            if type_ok and names_ok:
                plausible.append((c, in_s, in_ctx))
        # The eight that hold most of the question's words are enough, and keep this cheap.
        plausible = sorted(plausible, key=lambda p: (-p[1], p[0].rank))[:8]
        sims = similarity([c.sentence for c, _, _ in plausible]) if plausible else []
        for (c, in_s, in_ctx), sim in zip(plausible, sims):
            close = sim >= self.min_similarity or (sim >= self.min_similarity - 0.04 and in_ctx >= 0.5)
            c.valid = bool(close)
            c.score = float(sim) + 0.1 * in_s + (0.02 if c.span else 0.0)
            c.related = max(c.related, float(sim))

    def _not_found(self, question: str, hits: Sequence[Hit]) -> Answer:
        """The refusal; it names the article in ``hits`` (if any) as the closest one."""
        text = NOT_FOUND
        if hits:
            top = hits[0].chunk
            text += f"最相关的文章是《{top.title or top.section or top.source}》（{top.source}），但其中没有直接回答。"
        return Answer(question, False, text, None, ())


def _supporting(q: Question, valid: list[_Candidate]) -> list[_Candidate]:
    """The answer's sentences: the best, and for a what/where question the next ones that
    score nearly as well. A 为什么/怎么/哪些 answer is often told over a few sentences of
    one article: up to three are kept there, and a sentence of that article that gives a
    reason or a way (its cue words) is taken first, even a little below the others."""
    best = valid[0]
    if q.kind not in ("what", "place", ""):
        return [best]
    explain = bool(_EXPLAIN.search(q.text))
    article = (best.hit.chunk.source, best.hit.chunk.article)

    def cued(c: _Candidate) -> bool:
        return bool(explain and q.cue and re.search(q.cue, c.sentence))

    def enough(c: _Candidate) -> bool:
        same = (c.hit.chunk.source, c.hit.chunk.article) == article
        need = 0.6 if same and cued(c) else 0.8 if same else 0.9
        return c.score >= need * best.score

    rest = sorted((c for c in valid[1:] if enough(c)), key=lambda c: (not cued(c), -c.score))
    return [best, *rest[: (2 if explain else 1)]]


def _present(word: str, text: str) -> bool:
    """The word, or for a long word any two-character part of it, occurs in text."""
    return _presence(word, text) > 0


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


def _extract(q: Question, sentence: str, words: Callable[[str], list[str]],
             terms: Sequence[str] = ()) -> str | None:
    """The exact span of ``sentence`` that answers ``q``, or None if there is none.

    Among several spans of the right form, the one whose clause shares most of ``terms``
    wins ("…车位数54个，而实际车辆却达到80之多" asked "实际有多少辆车" -> 80), then the one
    standing closest before what the question counts.
    """
    if q.span:
        spans = answer_spans(q, sentence)
        if q.kind in ("number", "money", "percent", "duration"):
            # "曹杨的20个居委会被划成了几个网格": the 20 the question states is not its answer.
            stated = set(re.findall(r"\d+(?:\.\d+)?", q.text))
            spans = [ab for ab in spans if _leading_number(sentence[ab[0]:ab[1]]) not in stated]
        if not spans:
            return None
        anchor = _anchor(q, sentence)
        focus = next((f for f in q.focus if f in sentence), "")

        def distance(ab: tuple[int, int]) -> int:
            # A count stands just before what it counts ("7个停车位"), or in a list just
            # after it ("长者食堂及助餐点7个").
            if anchor < 0:
                return 0
            after = ab[0] - (anchor + len(focus))
            if 0 <= after <= 1:
                return after
            return anchor - ab[1] if ab[1] <= anchor else 100 + ab[0] - anchor
        def overlap(ab: tuple[int, int]) -> int:
            left = max(sentence.rfind(p, 0, ab[0]) for p in "，,；;。") + 1
            ends = [i for i in (sentence.find(p, ab[1]) for p in "，,；;。") if i >= 0]
            clause = sentence[left:min(ends, default=len(sentence))]
            return sum(len(t) for t in terms if t in clause)
        # "在曹杨的63个居住小区中,…有45个": a number followed by 中 names the whole set, not the answer.
        start, end = min(spans, key=lambda ab: (q.kind == "date" and bool(YEAR_ONLY.fullmatch(sentence[ab[0]:ab[1]])),
                                                sentence.startswith(("中", "里"), ab[1]),
                                                q.measure not in sentence[ab[0]:ab[1]], -overlap(ab),
                                                distance(ab), ab[0]))
        if q.kind == "number":   # "7个" + "停车位": what the question counts, as the source names it
            for w in words(q.right.lstrip("个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份")):
                if not w.strip() or not sentence.startswith(w, end):
                    break
                end += len(w)
        return sentence[start:end]
    if q.kind == "person":
        return _person(q, sentence, words)
    if q.kind == "org":
        return _org(q, sentence, words)
    return None


_ORDINAL = re.compile(r"(?:第)?([一二三四五六七八九十\d]+)(期|届|批)")


def _other_ordinal(question: str, sentence: str) -> bool:
    """The sentence speaks of another phase or term than the question asks about: "二期改造"
    asked, "一期工程…新增了7个停车位" said."""
    asked = {(n, unit) for n, unit in _ORDINAL.findall(question)}
    said = set(_ORDINAL.findall(sentence))
    return any(unit == u and n != m for m, u in said for n, unit in asked) and not asked & said


def _span_bonus(q: Question, sentence: str, span: str | None, located: bool) -> float:
    """How much a sentence's answer span adds to its score: a span right next to what the
    question counts ("10万社区居民") adds most; a bare year for a 什么时候 question, least."""
    if not span:
        return 0.3 if located else 0.0
    if q.kind == "date" and YEAR_ONLY.fullmatch(span):
        return 0.1
    at = sentence.find(span)
    for f in q.focus:
        i = sentence.find(f, at)
        if at >= 0 and i >= 0 and (0 <= i - (at + len(span)) <= 2 or 0 <= at - (sentence.rfind(f, 0, at + 1) + len(f)) <= 1):
            return 0.45
    return 0.3


def _leading_number(span: str) -> str | None:
    m = re.search(r"\d+(?:\.\d+)?", span)
    return m.group(0) if m else None


def _anchor(q: Question, sentence: str) -> int:
    """Where the question's focus sits in the sentence (-1 if absent)."""
    for f in q.focus:
        i = sentence.find(f)
        if i >= 0:
            return i
    return -1


def _role_phrases(q: Question, words) -> list[str]:
    """Patterns of the roles a 谁 question asks about, with the body they belong to:
    "党工委书记", "统战部副部长"; "街道副书记" also matches "街道党工委副书记" (a few
    characters may stand between the body and the role, but no 副 that the question lacks)."""
    ws = [w for w in words(q.left + "，" + q.right)]
    out = []
    for i, w in enumerate(ws):
        if re.fullmatch(rf"[\u4e00-\u9fff]+(?<!副)(?:{ROLES})", w) and not re.fullmatch(rf"(?:{ROLES})", w):
            out.append(re.escape(w))            # one word with its body: "党委书记"
        elif re.fullmatch(rf"(?:副|常务|执行|名誉)?(?:{ROLES})", w):
            j, prefix = i - 1, ""
            while j >= 0 and ws[j] in ("副", "常务", "执行", "名誉"):
                prefix = ws[j] + prefix
                j -= 1
            body = ws[j] if j >= 0 and len(ws[j]) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", ws[j]) else ""
            gap = r"[\u4e00-\u9fff]{0,4}?(?<![副务行誉])" if body else ""
            out.append(re.escape(body) + gap + re.escape(prefix + w))
    return out


def _person(q: Question, sentence: str, words) -> str | None:
    roles = _role_phrases(q, words)
    if roles:
        # "副书记" asks for a deputy, "书记" does not: the sentence must name the same rank,
        # of the same body (党工委书记 is not a school's 党委书记).
        pattern = rf"(?<!副|务|行|誉)(?:{'|'.join(roles)})(?:、[^，。；,]{{0,10}}?(?:{ROLES}))*{_NAME}"
        m = re.search(pattern, sentence)
        return m.group(1) if m else None
    span = _between(q, sentence, words)
    if span and (2 <= len(span) <= 4 or (len(span) <= 12 and _WHO_END.search(span))):
        return span
    return None


def _org(q: Question, sentence: str, words) -> str | None:
    # "哪家公司": the answer is a name ending in 公司 in the sentence.
    # "哪家电影院" -> a name ending in 影院; "哪家是养老院" -> one ending in 养老院
    kind = re.match(rf"是?[\u4e00-\u9fff]{{0,3}}?{_ORG_CLASS}", q.right)
    if kind:
        names = re.findall(rf"(?:^|[\s，。；：,;:、“”与和向由])([^\s，。；：,;:、“”与和向由]{{2,30}}{kind.group(1)})", sentence)
        for name in names:
            name = re.sub(r"^(?:联合|携手|通过|经过|邀请|依托)", "", name)
            # a name holds no numbers or verb particles ("只要9.9元就能去电影院" is no cinema's name)
            if len(name) > len(kind.group(1)) and not re.search(r"[\d了就能去只要是把被将]", name):
                return name
    span = _between(q, sentence, words)
    return span if span and _ORG.search(span) else None


def _between(q: Question, sentence: str, words) -> str | None:
    """The text in ``sentence`` that stands where the question word stands in the question.

    "云莲一居民区和哪家公司是一墙之隔的邻居" against "…云莲一居民区与上海浦东东站长途客运有限公司是一墙之隔
    的邻居…": what lies between the last word of the left part and the first word of the
    right part that the sentence repeats.
    """
    start, end = 0, len(sentence)
    for w in (w for w in words(q.right) if len(w) > 1):
        i = sentence.find(w)
        if i > 0:
            end = i
            break
    for w in reversed([w for w in words(q.left) if len(w) > 1]):
        i = sentence.rfind(w, 0, end)
        if i >= 0:
            start = i + len(w)
            break
    if start == 0 and end == len(sentence):
        return None
    parts = [p for p in re.split(r"[，,。；;：:！？!?]", sentence[start:end]) if p.strip()]
    if not parts:
        return None
    text = (parts[-1] if end < len(sentence) else parts[0]).strip(" “”\"")
    text = re.sub(r"(?:立即|马上|主动|积极|共同|一起|首先|多次|亲自|专门|及时|率先|已经|还|也|都|就|又|便)+$", "",
                  text.lstrip(_LEAD)).rstrip(_LEAD + "了的地")
    return text if 2 <= len(text) <= 30 else None


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
