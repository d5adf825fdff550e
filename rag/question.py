"""What a question asks for: its type, the span pattern that answers it, its key terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tokenize import to_simplified

__all__ = ["Question", "analyse_question", "answer_spans", "question_terms", "is_chinese"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_NUM = r"(?:\d+(?:[.,]\d+)?|[一二三四五六七八九十百千两半]+)"
# "数十家", "近千人", "上百名": a vague count is still the count the source gives.
_ABOUT = r"(?:(?:数|上)(?=[十百千万])|近|约|逾|超过|将近)?"
_MEASURE = "个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份辆块本株床"

# Each type: the phrases that ask for it (Chinese, English) and the pattern of an answer.
_SPAN = {
    "money": rf"{_NUM}(?:余|多)?(?:万|亿)?元",
    "percent": rf"{_NUM}[%％]|百分之[一二三四五六七八九十百点]+",
    "year": r"(?:19|20)\d{2}年(?:代)?|(?:上世纪)?(?:\d0|[一二三四五六七八九]{1,2}十)年代(?:初|中期|末)?",
    "date": r"(?:(?:19|20)\d{2}年)?\d{1,2}月(?:\d{1,2}|[一二三四五六七八九十]+)[日号](?:上午|下午|晚上|早上|中午|晚)?"
            r"|(?:(?:19|20)\d{2}年|今年|去年|明年|前年)?\d{1,2}月(?:上旬|中旬|下旬|初|底|份)?(?![\d日号])"
            r"|(?:(?:19|20)\d{2}年|今年|去年|明年)?(?:第[一二三四]季度|[上下]半年|年初|年底|年中)",
    "duration": rf"{_NUM}(?:个多|多个|个)?(?:年|月|周|天|日|小时|分钟)(?:多|余|左右)?",
    "number": rf"{_ABOUT}{_NUM}(?:余|多)?(?:万|亿|千|百)?(?:人次|[{_MEASURE}])(?:多|余)?|{_NUM}(?:余|多)?(?:万|亿)"
              rf"|\d+(?:\.\d+)?(?![\d.年月日号时%％])",
}
# 什么时候 may be answered by a year or a decade ("80年代中期"), if no day is given.
_SPAN["date"] += "|" + _SPAN["year"]
YEAR_ONLY = re.compile(_SPAN["year"])
_TYPES = [
    ("money", r"多少钱|多少元|几元|花了多少|费用是多少|价格是多少|多少块", r"how much (?:money|does|did|is|was|cost)|\bcost\b|\bprice\b"),
    ("percent", r"(?:比例|比率|比重|占比|百分比|率)是多少|百分之几|多少%|率有多高|率为多少", r"percent|proportion|\brate\b|\bratio\b|\bshare\b"),
    ("year", r"哪一年|哪年|何年|什么年份|几几年|什么年代|哪个年代", r"what year|which year|\bwhen\b.*\b(?:born|founded|built|established)\b"),
    ("date", r"哪天|哪一天|什么时候|何时|几月几[日号]|什么日子|什么时间|几号|哪一日", r"\bwhen\b|what date|which day|what day"),
    ("duration", r"多长时间|多久|多少天|多少年|几个月|多少个月|多少小时|(?<![那这前])几年|(?<![那这前])几天", r"how long"),
    ("number", r"多少|几[个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份]|多大|多高|多长", r"how many|how much|what number"),
    ("person", r"谁|哪位|什么人|何人|哪一位", r"\bwho\b|\bwhom\b|whose"),
    ("org", r"哪家|哪[个些两三几]+(?:单位|公司|机构|组织|部门|企业|学校|医院)|什么(?:单位|公司|机构|组织|企业)",
     r"which (?:company|organi[sz]ation|unit|firm|agency)"),
    ("place", r"哪里|哪儿|在哪|什么地方|何处|什么位置|地址|哪个地方|哪条(?:马)?(?:路|街)", r"\bwhere\b|\baddress\b"),
    ("what", r"是什么|什么|为什么|怎么|怎样|如何|哪些|哪个|哪|有何|干什么|做什么", r"\bwhat\b|\bwhy\b|\bhow\b|\bwhich\b"),
]
# "地址在哪", "开在哪条路上": only a road or an address answers.
_ADDRESS_ASK = re.compile(r"地址|门牌|哪条(?:马)?(?:路|街)|什么路")
_ADDRESS = r"[\u4e00-\u9fff]{2,3}[东南西北中]?(?:路(?![人线径费])|街(?![道坊办区])|大道)(?:\d+弄)?(?:\d+号)?"
ROLES = r"书记|主任|主席|部长|局长|处长|科长|站长|校长|院长|经理|队长|会长|理事长|负责人|组长|楼组长|社长|所长|馆长"
# "书记叫什么名字": a role's holder is asked for by name.
_NAME_ASK = re.compile(rf"(?:{ROLES})的?(叫什么名字|叫什么|名字是什么|叫啥|姓什么)")
# A measure word after 多少/几 that an answer must repeat: 多少户 asks for households, not people.
_STRICT_UNITS = {"户": "户", "岁": "岁", "名": "[名人位]", "人": "[名人位]", "位": "[名人位]",
                 "栋": "[栋幢号]", "幢": "[栋幢号]", "层": "层", "台": "台", "张": "[张个]"}


_CUES = [
    (r"为什么|为何|什么原因|原因是", r"因为|由于|为了|原因|考虑到|为此|因此|所以|以便|旨在|避免|风险|隐患|缘起|起因|源于|出于"),
    (r"怎么|怎样|如何|什么办法|什么方式|什么措施", r"通过|采取|采用|方式|办法|措施|方案|推出|开展|实施|改造|建立"),
    (r"哪里|哪儿|在哪|什么地方|何处|什么位置|地址",
     r"位于|坐落|地址|地点|门口|对面|旁边|附近|[路弄]|街(?!道)|\d+号|广场|公园|片区|大厅|会场|活动室|中心|站|[一二三四五六七八九\d]楼"),
]
# "一张" in "多少钱一张", "每月": a rate, not the thing asked about.
_PER_UNIT = re.compile(rf"[一每单][{_MEASURE}月年天周次]|每\w")
GENERIC_WORDS = {"地方", "位置", "时候", "东西", "事情", "方面", "情况", "内容", "原因", "办法", "方式"}
_EDGE = "是的了在有和与及或也都就被把给对向从为"
_FUNCTION = {"一共", "总共", "共有", "一起", "目前", "现在", "还有", "主要", "分别", "都是", "用来", "用于",
             "可以", "能够", "需要", "应该", "起来", "加起来", "最后", "最终", "最快", "首先", "当时", "已经",
             "最近", "近日", "近期", "如今", "大概", "大约", "大致", "一般", "通常", "平时", "到底", "究竟"}


@dataclass(frozen=True)
class Question:
    """The parts of a question the composer uses.

    Attributes:
        text: the question in simplified characters.
        kind: money, percent, year, date, duration, number, person, org, place, what,
            or "" when no question word is found.
        span: regex an answer span of this kind matches ("" for person/org/place/what).
        unit: regex a number's measure word must match (from 多少户, 几名…), or "".
        focus: the words around the question word (the thing asked about).
        left / right: the question's text before / after the question word.
        chinese: False for a question with no Chinese characters (English).
        measure: the measure word asked with 多少/几 ("条" of 多少条), preferred in answers.
        cue: words that mark a sentence giving a reason, a way or a place, for 为什么 /
            怎么 / 在哪 questions: such sentences rank higher.
    """

    text: str
    kind: str
    span: str
    unit: str
    focus: tuple[str, ...]
    left: str
    right: str
    chinese: bool
    measure: str = ""
    cue: str = ""


def is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def analyse_question(question: str, words=None, tag=None) -> Question:
    """Classify a question and find its focus.

    Args:
        question: the question as asked.
        words: a word segmenter (``ChineseTokenizer.words``) to find the focus words.
        tag: a part-of-speech tagger (``ChineseTokenizer.tagged``); with it, a count's
            focus drops a trailing verb ("多少个公益团队参加" counts 团队).

    Example:
        >>> q = analyse_question("兰岭园新增了多少个停车位？")
        >>> (q.kind, q.left, q.right)
        ('number', '兰岭园新增了', '个停车位')
    """
    text = to_simplified(question).strip().rstrip("？?。!！ ")
    chinese = is_chinese(text)
    kind, left, right = "", text, ""
    for name, zh, en in _TYPES:
        m = re.search(zh, text) if chinese else re.search(en, text, re.I)
        if m:   # the table runs from the most specific kind to the least
            kind, left, right = name, text[: m.start()], text[m.end():]
            break
    named = _NAME_ASK.search(text) if chinese and kind == "what" else None
    if named:
        kind, left, right = "person", text[: named.start(1)].rstrip("的"), text[named.end(1):]
    span = _SPAN.get(kind, "")
    if kind == "place" and chinese and _ADDRESS_ASK.search(text):
        span = _ADDRESS
    unit = measure = ""
    if kind == "number" and chinese:
        m = re.search(r"(?:多少|几)([" + "".join(_STRICT_UNITS) + "])", text)
        unit = _STRICT_UNITS[m.group(1)] if m else ""
        m = re.search(rf"(?:多少|几)([{_MEASURE}])", text)
        measure = m.group(1) if m else ""
    focus: tuple[str, ...] = ()
    if chinese and words is not None and kind:
        def content(ws):
            return [w for w in ws if _CJK.search(w) and len(w) > 1 and not _PER_UNIT.fullmatch(w)
                    and w not in _FUNCTION]
        left_words = [w for w in content(words(left)) if w not in GENERIC_WORDS]
        if kind in ("person", "org", "what", "place") and left_words:
            # The thing asked about is the last noun before the question word, not the
            # verb that joins them ("会客厅紧挨着哪条路" -> 会客厅).
            nouns = [w for w, flag in tag(left) if w in left_words and (flag[:1] == "n" or flag in ("vn", "j"))] \
                if tag else []
            focus = (nouns[-1] if nouns else left_words[-1],)
        if kind == "number":
            counted = _counted(right, words, tag)
            if counted:
                focus = (counted,)
            elif left_words:     # "面积有多大": what is measured stands before the question word
                focus = (left_words[-1],)
    cue = next((c for asks, c in _CUES if re.search(asks, text)), "")
    return Question(text, kind, span, unit, focus, left, right, chinese, measure, cue)


def _counted(right: str, words, tag) -> str:
    """What a count counts, from the words after 多少/几: "个停车位" -> 停车位,
    "个垃圾分类投放点" -> 投放 (its head word), "个公益团队参加" -> 团队, "栋楼举行了…" -> 楼."""
    phrase = right.lstrip(_MEASURE)
    pairs = tag(phrase) if tag else [(w, "") for w in words(phrase)]
    counted: list[str] = []
    for w, flag in pairs:
        if not _CJK.search(w) or w in _FUNCTION or (counted and len(w) == 1):
            break
        if counted and flag.startswith("v") and flag != "vn":
            break        # "参加", "组成": what the counted ones did, not what they are
        counted.append(w)
        if len(w) == 1:
            break
    return counted[-1] if counted else ""


def question_terms(q: Question, tokenize) -> list[str]:
    """The question's content terms: its tokens outside the question phrase itself."""
    terms = tokenize(q.left + "，" + q.right) if q.kind else tokenize(q.text)
    # Strip function characters the segmenter glued on ("包是" of "拾尚包是用来", "杨有").
    terms = [t if len(t) < 2 else (t.strip(_EDGE) or t) for t in terms]
    return [t for t in dict.fromkeys(terms)
            if t not in _FUNCTION and not _PER_UNIT.fullmatch(t) and (not t.isdigit() or len(t) > 1)]


def answer_spans(q: Question, sentence: str) -> list[tuple[int, int]]:
    """(start, end) of each span in ``sentence`` that has the form of an answer to ``q``."""
    if not q.span:
        return []
    spans = []
    for m in re.finditer(q.span, sentence):
        s = m.group(0)
        if q.kind == "number":
            if re.fullmatch(r"(?:19|20)\d{2}", s) and sentence[m.end():m.end() + 1] == "年":
                continue                        # a year is not a count
            if q.unit and not re.search(q.unit, s):
                continue
            if sentence[m.end():m.end() + 1] in "%％":
                continue                        # a share is not a count
        start, end = m.span()
        while q.kind == "place" and end - start > 3 and sentence[start] in "的在于位近到至沿着上":
            start += 1           # "热闹的梅川路" -> 梅川路
        # "1号、43号、45号": a list answers "哪几栋"; take it whole.
        while True:
            nxt = re.match(rf"[、和及与]({q.span})", sentence[end:])
            if not nxt:
                break
            end += nxt.end()
        spans.append((start, end))
    return spans
