"""Answer spans: the pieces of a sentence that have the form of an answer to a question.

These rules describe what an answer looks like (an amount with its unit, a date, a person's
name after a role, an address, a quoted name); they never decide whether a sentence answers.
That is the fitted scorer's job (:mod:`rag.scorer`), which takes the spans' features.
Sentences are matched in simplified characters of the same length as the source text, so a
span's offsets cut the source exactly as written (traditional characters stay traditional).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Mapping, Sequence

from .question import ROLES, YEAR_ONLY, Question

__all__ = ["Span", "HOWS", "find_spans", "best_span", "span_vector", "follows_term", "span_features", "span_nearness", "clause_of"]

_CLAUSE_END = "，,；;。！？!?：:"
# A name's characters: Chinese, but not the particles that join a name to the words around it.
_NC = r"(?:(?![的在于位是和与及从到由向为被把将对以跟同了年月日])[\u4e00-\u9fff])"
_NC_IN = r"(?:(?![的在于是了年月日])[\u4e00-\u9fff])"     # inside a name: 仁和路, 和平路
# A road (not a subdistrict named after one: 半淞园路街道) with its lane, number, building, floor.
_ADDRESS = (_NC + _NC_IN + r"{1,4}?[东南西北中]?(?:路|街(?![道坊办区])|大道|大街|公路)"
            r"(?!街道|街区|居委|社区|居民区|镇)(?:[\d一二三四五六七八九十]+段)?(?:\d+巷)?(?:\d+弄)?(?:\d+支弄)?"
            r"(?:[\d、]+号(?:楼|院)?)?(?:[\u4e00-\u9fff]{1,6}?\d+号)?(?:\d+号楼)?(?:[\d\-—~～、]+[层楼])?")
# "泰晤士小镇668号5号楼2、3楼", "重庆北路180号三楼": a numbered place without a road.
_NUMBERED = _NC + r"{2,8}?\d+号(?:\d+号楼|\d+幢|[一二三四五六七八九十\d]+楼|[\d、\-—]+(?:楼|层))*"
_PLACE = (r"[\u4e00-\u9fff]{2,10}?(?:新村|小区|花园|公寓|大厦|广场|中心|公园|街道|居委会|居委|居民区|社区|"
          r"村|苑|园|城|里|坊|镇|区|楼|馆|站|厅|室|院|场|食堂|大楼|市场)")
_ORG_END = (r"公司|单位|党支部|党总支|党委|委员会|中心|协会|基金会|学校|小学|中学|大学|幼儿园|医院|养老院|敬老院|福利院|卫生院|法院|银行|集团|"
            r"俱乐部|研究院|事务所|居委会|居民区|街道|部门|支部|影院|药房|分局|工作室|联盟|服务站|服务社|社|团队|"
            r"志愿队|服务队|小组|物业|商会|合作社|研究会|促进会|联合会|办公室|管理处|派出所|所")
_HONORIFIC = r"阿姨|老师|师傅|大爷|大妈|先生|女士|同志|老人|爷爷|奶奶|医生|书记|主任|老伯|阿婆|大姐|大哥"
_NAME_STOP = set("的了和与及在是为被把将向从对以等也都还就又说表示介绍")
_ADVERB_END = re.compile(r"(?:立即|随即|马上|已经|正在|共同|一起|一同|专门|主动|率先|首先|再次|还|也|都|就|又|便|均)+$")
_PLACE_END = set("路街道区镇村委会园楼站馆院所局厅室队部号弄")   # 武宁路, 居委: a place or a body, not a person
_QUOTED = r"“([^”]{2,30})”|《([^》]{2,40})》|「([^」]{2,30})」|\"([^\"]{2,30})\""


@dataclass(frozen=True)
class Span:
    """A candidate answer in a sentence: offsets into it, and which rule found it."""

    start: int
    end: int
    how: str      # "pattern", "address", "place", "role", "honorific", "name", "org", "quote", "between"


@lru_cache(maxsize=1)
def _surnames() -> tuple[frozenset[str], frozenset[str]]:
    text = (resources.files("rag") / "data" / "surnames.txt").read_text(encoding="utf-8")
    names = [w for line in text.splitlines() if not line.startswith("#") for w in line.split()]
    return frozenset(w for w in names if len(w) == 1), frozenset(w for w in names if len(w) == 2)


def _is_name(word: str, freq: Callable[[str], int]) -> bool:
    """A 2–3 (or 4 with a double surname) character word that reads as a person's name:
    it starts with a family name and is not a common dictionary word."""
    single, double = _surnames()
    if not re.fullmatch(r"[\u4e00-\u9fff]{2,4}", word) or any(ch in _NAME_STOP for ch in word[1:]) \
            or word[-1] in _PLACE_END:
        return False
    starts = (word[:2] in double and len(word) >= 3) or (word[0] in single and len(word) <= 3)
    return starts and freq(word) < 50


def find_spans(q: Question, s: str, words: Callable[[str], Sequence[str]],
               freq: Callable[[str], int]) -> list[Span]:
    """Every span of ``s`` (a simplified sentence) with the form of an answer to ``q``."""
    spans: list[Span] = []
    if q.span:
        pattern, pos = re.compile(q.span), 0
        while (m := pattern.search(s, pos)) is not None:
            a, b = m.span()
            pos = max(b, a + 1)
            text = m.group(0)
            if q.kind == "number":
                if re.fullmatch(r"(?:19|20)\d{2}", text) and s[b:b + 1] == "年":
                    continue                        # a year is not a count
                if s[b:b + 1] in "%％":
                    continue                        # a share is not a count
            # "1号、43号、45号", "0.8元上调至1.4元": a list or a range answers together.
            while True:
                nxt = re.match(rf"(?:[、和及与到至~～\-—]|上调至|增加到|提高到|调整为)({q.span})", s[b:])
                if not nxt:
                    break
                b += nxt.end()
            pos = max(pos, b)
            spans.append(Span(a, b, "pattern"))
    if q.kind == "place" or q.asks == "where":
        spans += [Span(*_trim_lead(s, *m.span()), "address") for m in re.finditer(_ADDRESS, s)]
        spans += [Span(*m.span(), "address") for m in re.finditer(_NUMBERED, s)]
        if not q.address:
            spans += [Span(*_trim_place(s, *m.span()), "place") for m in re.finditer(_PLACE, s)]
    if q.asks == "who":
        spans += _people(s, words, freq)
    if q.kind in ("org", "person") or q.asks in ("what", "who"):
        spans += [Span(*_trim_lead(s, *m.span()), "org")
                  for m in re.finditer(rf"(?:(?![由与和跟同向为在是以及把被对从的了])[^\s，。；：,;:、“”《》()（）]){{2,24}}(?:{_ORG_END})", s)]   # the longest: 上海青创社会服务中心
    if q.asks in ("what", "who", "where", "describe", "how"):
        for m in re.finditer(_QUOTED, s):
            spans.append(Span(m.start(), m.end(), "quote"))
    if q.kind_word:
        for m in re.finditer(rf"{_NC}{{1,16}}?{re.escape(q.kind_word)}", s):
            spans.append(Span(*_trim_lead(s, *m.span()), "kind"))
    between = _between(q, s, words)
    if between and q.kind in ("person", "org", "place", "what"):
        spans.append(between)
    seen, out = set(), []
    for sp in spans:
        if sp.end - sp.start >= 1 and sp not in seen:     # one text found by two rules is kept twice
            seen.add(sp)
            out.append(sp)
    return out


def _trim_lead(s: str, a: int, b: int) -> tuple[int, int]:
    """Drop the verb or particle a name-pattern picked up in front: "联合上海银行" -> "上海银行"."""
    m = re.match(r"(?:联合|携手|通过|经过|邀请|依托|位于|坐落于|地处|设在|搬到|开在|来自|毗邻|紧挨|靠近|临近|邻近|紧邻|由|与|和|跟|同|向|在|是|为|及|被|把|将|对|从|以|让|请|的)+", s[a:b])
    if m and b - (a + m.end()) >= 2:
        a += m.end()
    return a, b


def _trim_place(s: str, a: int, b: int) -> tuple[int, int]:
    while b - a > 3 and s[a] in "的在于位近到至沿着上是从":
        a += 1             # "热闹的梅川路" -> 梅川路
    return a, b


def _people(s: str, words, freq) -> list[Span]:
    out = []
    for m in re.finditer(rf"(?:{ROLES})([\u4e00-\u9fff]{{2,3}}?)(?=[，,。；：:、\s（(]|表示|说|介绍|告诉|指出|坦言|带领|$)", s):
        if _is_name(m.group(1), freq):
            out.append(Span(m.start(1), m.end(1), "role"))
    single, _ = _surnames()
    for m in re.finditer(_HONORIFIC, s):
        a = m.start()
        names = [s[a - n:a] for n in (3, 2) if a >= n and _is_name(s[a - n:a], freq)]
        if names:
            out.append(Span(a - len(names[0]), a, "honorific"))    # "何志鳳阿姨" -> 何志鳳
        elif a >= 1 and s[a - 1] in single:
            out.append(Span(a - 1, m.end(), "honorific"))          # "许阿姨": a surname alone keeps its title
    pos = 0
    for w in _cut(words, s):
        if _is_name(w, freq) and s[pos + len(w):pos + len(w) + 1] not in _PLACE_END and not s.startswith("片区", pos + len(w)):
            out.append(Span(pos, pos + len(w), "name"))
        pos += len(w)
    return out


@lru_cache(maxsize=1 << 14)
def _cut(words: Callable[[str], Sequence[str]], text: str) -> tuple[str, ...]:
    """A text cut once: the question's parts once per question, a sentence once per process."""
    return tuple(words(text))


def _between(q: Question, s: str, words) -> Span | None:
    """The text of ``s`` that stands where the question word stands in the question.

    "云莲一居民区和哪家公司是一墙之隔的邻居" against "…云莲一居民区与上海浦东东站长途客运有限公司是一墙之隔
    的邻居…": what lies between the last word of the left part and the first word of the
    right part that the sentence repeats.
    """
    start, end = 0, len(s)
    for w in (w for w in _cut(words, q.right) if len(w) > 1):
        i = s.find(w)
        if i > 0:
            end = i
            break
    for w in reversed([w for w in _cut(words, q.left) if len(w) > 1]):
        i = s.rfind(w, 0, end)
        if i >= 0:
            start = i + len(w)
            break
    if start == 0 and end == len(s):
        return None
    piece = s[start:end]
    parts = [(m.start(), m.end()) for m in re.finditer(r"[^，,。；;：:！？!?]+", piece)]
    if not parts:
        return None
    a, b = parts[-1] if end < len(s) else parts[0]
    while a < b and piece[a] in " “”\"" + "与和跟同向为由在是以及把被对从":
        a += 1
    while b > a and piece[b - 1] in " “”\"了的地与和跟同向为由在是以及把被对从":
        b -= 1
    a, b = _trim_lead(piece, a, b)
    m = _ADVERB_END.search(piece, a, b)         # "北梅园居委党支部立即(牵头…)": the adverb is not the answer
    if m and m.start() - a >= 2:
        b = m.start()
    return Span(start + a, start + b, "between") if 2 <= b - a <= 30 else None


def clause_of(s: str, a: int, b: int) -> tuple[int, int]:
    """The clause (between commas or stops) around ``s[a:b]``."""
    left = max(s.rfind(p, 0, a) for p in _CLAUSE_END) + 1
    ends = [i for i in (s.find(p, b) for p in _CLAUSE_END) if i >= 0]
    return left, min(ends, default=len(s))


def _distance(s: str, sp: Span, terms: Sequence[str]) -> int:
    """Characters between the span and the nearest question term in the sentence (99 if none)."""
    best = 99
    for t in terms:
        for m in re.finditer(re.escape(t), s):
            if m.end() <= sp.start:
                best = min(best, sp.start - m.end())
            elif m.start() >= sp.end:
                best = min(best, m.start() - sp.end)
            else:
                best = min(best, 0)   # the term is inside the span: a name that repeats the question
    return best


_PART = {"time": re.compile(r"\d{1,2}[时点:：]|[一二三四五六七八九十][时点]|上午|下午|晚上|傍晚|早上|中午"),
         "year": re.compile(r"(?:19|20)\d{2}|年代"), "week": re.compile(r"周|星期|礼拜"),
         "day": re.compile(r"\d{1,2}[日号]|[一二三四五六七八九十]+[日号]|每月|今天|昨天")}


# A place is said to be where something is when it follows 在/于/位于/住 ("在祐漢公園舉行").
_LOCATIVE = re.compile(r"(?:在|于|於|到|至|位于|坐落|设在|开在|住|所在的?|来自).{0,3}$")


def fits(q: Question, s: str, sp: Span) -> bool:
    """The span is of the kind the question asks for: an amount or a date for 多少/什么时候 (the
    part of the date asked: a clock time for 几点), a person for 谁 (an organisation for 哪家),
    an address for 哪条路, a place for 在哪里 (where the sentence puts something at it)."""
    text = s[sp.start:sp.end]
    if q.asks in ("num", "date"):
        return sp.how == "pattern" and (not q.part or bool(_PART[q.part].search(text)))
    if q.asks == "who":
        return sp.how in (("org", "kind") if q.kind == "org" else ("role", "honorific", "name", "org"))
    if q.asks == "where":
        return sp.how == "address" or (not q.address and sp.how in ("place", "kind") and bool(_LOCATIVE.search(s[max(0, sp.start - 6):sp.start])))
    return sp.how in ("quote", "kind", "org")


def span_nearness(s: str, sp: Span, terms: Sequence[str]) -> float:
    """1 for a span touching one of ``terms`` in ``s``, falling with the characters between."""
    return 1.0 / (1.0 + _distance(s, sp, terms) / 4.0)


def span_features(q: Question, s: str, sp: Span, terms: Sequence[str], weights: dict[str, float]) -> dict[str, float]:
    """What makes one span of ``s`` a likely answer: near the question's words, in a clause
    that shares them, with the unit the question asks for, not a number the question states."""
    text = s[sp.start:sp.end]
    a, b = clause_of(s, sp.start, sp.end)
    clause = s[a:b]
    total = sum(weights.values()) or 1.0
    focus = q.focus[0] if q.focus else ""
    after_focus = bool(focus) and s.find(focus) >= 0 and 0 <= sp.start - (s.find(focus) + len(focus)) <= 1
    before_focus = bool(focus) and s.startswith(focus, sp.end) or (bool(focus) and s[sp.end:sp.end + 3].find(focus) >= 0)
    stated = re.search(r"\d+(?:\.\d+)?", text)
    return {
        "span_near": span_nearness(s, sp, terms),
        "span_clause": sum(w for t, w in weights.items() if t in clause) / total,
        "span_focus": 1.0 if (after_focus or before_focus) else 0.0,
        "span_unit": 1.0 if q.unit and q.unit in text else 0.0,
        "span_stated": 1.0 if stated and stated.group(0) in q.text else 0.0,
        "span_year_only": 1.0 if q.kind == "date" and YEAR_ONLY.fullmatch(text) else 0.0,
        "span_inside_q": 1.0 if len(text) >= 2 and text in q.text else 0.0,
        "span_kind_word": 1.0 if q.kind_word and q.kind_word in text else 0.0,
        "span_len": min(len(text), 30) / 30.0,
        "span_fits": 1.0 if fits(q, s, sp) else 0.0,
    }


HOWS = ("pattern", "address", "place", "role", "honorific", "name", "org", "quote", "kind", "between")


def span_vector(q: Question, s: str, sp: Span, terms: Sequence[str], weights: dict[str, float],
                near: Sequence[str] = ()) -> dict[str, float]:
    """What the span model reads of one span: its features, which rule found it, how close
    it is to the words next to the question word, and whether a question term ends just
    before it ("党总支书记施云霞")."""
    f = span_features(q, s, sp, terms, weights)
    f[f"how_{sp.how}"] = 1.0
    f["span_near_pred"] = span_nearness(s, sp, near) if near else 0.0
    f["after_term"] = 1.0 if follows_term(s, sp.start, terms) else 0.0
    return f


def follows_term(s: str, start: int, terms: Sequence[str]) -> bool:
    """One of ``terms`` ends at ``start`` of ``s``, or one character before it ("书记乐跃明")."""
    before = s[max(0, start - 8):start]
    return any(before.endswith(t) or before[:-1].endswith(t) for t in terms)


def best_span(q: Question, s: str, spans: list[Span], terms: Sequence[str], weights: dict[str, float],
              model: Mapping[str, float] | None = None, near: Sequence[str] = ()) -> tuple[Span | None, dict[str, float]]:
    """The span most likely to be the answer, and its features. ``model`` holds fitted
    weights over ``span_vector`` (``scripts/fit_scorer.py``); without it a fixed sum is used."""
    if not spans:
        return None, {}
    scored = []
    for i, sp in enumerate(spans):
        f = span_vector(q, s, sp, terms, weights, near)
        if model:
            key = sum(w * f.get(k, 0.0) for k, w in model.items())
        else:
            key = (f["span_unit"] + f["span_fits"] - f["span_stated"] - f["span_inside_q"] - 0.5 * f["span_year_only"]
                   + 0.5 * f["span_kind_word"] + f["span_clause"] + f["span_near"] + 0.5 * f["span_focus"]
                   + (0.3 if sp.how in ("pattern", "role", "address") else 0.0))
        scored.append((key, -sp.start, sp, f))
    key, _, sp, f = max(scored, key=lambda x: (x[0], x[1]))
    return sp, f
