"""What a question asks for: its type, the span pattern that answers it, its key terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tokenize import to_simplified

__all__ = ["Question", "analyse_question", "question_terms", "is_chinese", "ASKS", "ROLES", "YEAR_ONLY",
           "GENERIC_WORDS", "NUMBER_KINDS"]

_CJK = re.compile(r"[\u3400-\u9fff]")
_NUM = r"(?:\d+(?:[.,]\d+)*|[一二三四五六七八九十百千两半]+)"
# "数十家", "近千人", "上百名", "约2.8万名": a vague count is still the count the source gives.
_ABOUT = r"(?:(?:数|上)(?=[十百千万])|近|约|逾|超过|将近|共|达)?"
_MEASURE = "个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份块本株床支队届期轮组部盏棵吨客元天周"
_LONG_UNITS = r"平方米|平方公里|平米|公里|千米|米|亩|公顷|人次|余人|多人|万元|亿元|小时|分钟|折"
NUMBER_KINDS = ("money", "percent", "duration", "number")

# Each kind: the span an answer of that kind has.
_SPAN = {
    "money": rf"{_NUM}(?:余|多)?(?:万|亿)?元",
    "percent": rf"{_NUM}[%％]|百分之[一二三四五六七八九十百点]+|{_NUM}成|{_NUM}折",
    "year": r"(?:19|20)\d{2}年(?:代|底|初|末)?|(?:上世纪)?(?:\d0|[一二三四五六七八九]{1,2}十)年代(?:初|中期|末)?",
    "date": r"(?:(?:19|20)\d{2}年)?\d{1,2}月(?:\d{1,2}|[一二三四五六七八九十]+)[日号](?:上午|下午|晚上|早上|中午|晚)?"
            r"(?:\d{1,2}[时点:：](?:\d{1,2}分?|半)?(?:起|前|后)?)?"
            r"|(?:(?:19|20)\d{2}年|今年|去年|明年|前年)?\d{1,2}月(?:上旬|中旬|下旬|初|底|份|中)?(?![\d日号])"
            r"|(?:(?:19|20)\d{2}年|今年|去年|明年)?(?:第[一二三四]季度|[上下]半年|年初|年底|年中)"
            r"|(?:每周|每个?星期|周|星期|礼拜)[一二三四五六日天](?:上午|下午|晚上|早上)?"
            r"|每月的?\d{1,2}[日号]|每(?:天|日)?(?:上午|下午|晚上|早上|中午)\d{1,2}[时点:：]?(?:\d{1,2}分?|半)?"
            r"|(?:上午|下午|晚上|早上|中午|凌晨|傍晚)?\d{1,2}(?:[:：]\d{2}|[时点](?:\d{1,2}分|半)?)(?:起|前|后|至)?"
            r"|(?:上午|下午|晚上|早上|中午|凌晨|傍晚)[一二三四五六七八九十]{1,3}[时点](?:半|[一二三四五六七八九十]+分)?"
            r"|(?:几乎|基本)?每(?:周|月|天|年|星期|季度|个月)(?:[一二三四五六日天]|的?\d{1,2}[日号])?",
    "duration": rf"{_NUM}(?:个多|多个|个)?(?:年|月|周|天|日|小时|分钟|星期)(?:多|余|左右)?|{_NUM}(?:余|多)年",
    "number": rf"{_ABOUT}{_NUM}(?:余|多)?(?:万|亿|千|百)?(?:{_LONG_UNITS}|[{_MEASURE}])(?:多|余)?"
              rf"|{_ABOUT}{_NUM}(?:余|多)?(?:万|亿)|\d+(?:\.\d+)?(?![\d.年月日号时%％])",
}
# 什么时候 may be answered by a year or a decade ("80年代中期"), if no day is given.
_SPAN["date"] += "|" + _SPAN["year"]
YEAR_ONLY = re.compile(_SPAN["year"])

# (kind, what it asks in the eval's terms, Chinese pattern, English pattern); most specific first.
_TYPES = [
    ("money", "num", r"多少钱|多少元|几元|花了多少|费用是多少|价格是多少|多少块|收费多少", r"how much (?:money|does|did|is|was|cost)|\bcost\b|\bprice\b"),
    ("percent", "num", r"(?:比例|比率|比重|占比|百分比|率)(?:是|为|有)?多少|百分之几|多少%|率有多高|多大比例|几成|打几折",
     r"percent|proportion|\brate\b|\bratio\b|\bshare\b"),
    ("year", "date", r"哪一年|哪年|何年|什么年份|几几年|什么年代|哪个年代", r"what year|which year|\bwhen\b.*\b(?:born|founded|built|established)\b"),
    ("date", "date", r"哪天|哪一天|什么时候|何时|几月几[日号]|什么日子|什么时间|几号|哪一日|几点|什么时段|哪个月|星期几|周几|每周哪",
     r"\bwhen\b|what date|which day|what day|what time"),
    ("duration", "date", r"多长时间|多久|多少天|多少年|几个月|多少个月|多少小时|(?<![那这前])几年|(?<![那这前])几天", r"how long"),
    ("number", "num", r"多少|几[个名位张辆台栋幢座场次项家所条户人岁层号批处间套件份支队客]|多大|多高|多长|多重|多远|几", r"how many|how much|what number"),
    ("person", "who", r"谁|哪位|什么人|何人|哪一位", r"\bwho\b|\bwhom\b|whose"),
    ("org", "who", r"哪家|哪[个些两三几]+(?:单位|公司|机构|组织|部门|企业|医院|事务所|团队|社会组织)|什么(?:单位|公司|机构|组织|企业)",
     r"which (?:company|organi[sz]ation|unit|firm|agency)"),
    ("place", "where", r"在?哪里|在?哪儿|在哪|什么地方|何处|什么位置|地址|哪个地方|哪条(?:马)?(?:路|街)|哪个(?:小区|街道|居委|居民区|社区|区|镇|村)"
     r"|什么路|哪个位置", r"\bwhere\b|\baddress\b"),
    ("what", "what", r"是什么|什么|为什么|怎么|怎样|如何|哪些|哪个|哪|有何|干什么|做什么", r"\bwhat\b|\bwhy\b|\bhow\b|\bwhich\b"),
]
# A question that only wants to know whether: 是不是 / 有没有 / 是否 / …吗.
_YESNO = re.compile(r"是不是|有没有|是否|能不能|可不可以|可以不|会不会|要不要|需不需要|用不用|收不收|算不算|对不对|"
                    r"[^什么怎哪谁多几]{2,}吗$")
# "介绍一下X", "X是什么意思": the two or three sentences that say what X is.
_DESCRIBE = re.compile(r"^(?:请)?(?:介绍|讲讲|说说|简单介绍)|是什么意思|指的是什么|指什么|是(?:一个)?什么样的|是干什么的|是做什么的")
_WHY = re.compile(r"为什么|为何|什么原因|原因是|怎么会|何以")
_HOW = re.compile(r"怎么|怎样|如何|什么办法|什么方式|什么措施|什么原则|什么形式|哪些(?:办法|方式|措施)|通过什么")
# "地址在哪", "开在哪条路上": only a road or an address answers.
_ADDRESS_ASK = re.compile(r"地址|门牌|哪条(?:马)?(?:路|街)|什么路|几号")
ROLES = (r"书记|主任|主席|部长|局长|处长|科长|站长|校长|院长|经理|队长|会长|理事长|负责人|组长|楼组长|社长|所长|馆长|"
         r"董事长|总经理|主管|老师|医生|民警|社工|志愿者|代表|委员|店长|园长|团长|班长|召集人|创始人|发起人|主理人")
# "书记叫什么名字": a role's holder is asked for by name.
_NAME_ASK = re.compile(rf"(?:{ROLES}|阿姨|老人|居民|志愿者|师傅|大爷|先生|女士|爷爷|奶奶)的?(叫什么名字|叫什么|名字是什么|叫啥|姓什么|是哪位|是谁)")
# A measure word after 多少/几 that an answer should repeat: 多少户 asks for households, not people.
_UNIT_ASK = re.compile(rf"(?:多少|几)((?:{_LONG_UNITS})|[{_MEASURE}])")
_CUES = [
    (_WHY, r"因为|由于|为了|原因|考虑到|为此|因此|所以|以便|旨在|避免|风险|隐患|缘起|起因|源于|出于|导致|造成|不便|困难|难题"),
    (_HOW, r"通过|采取|采用|方式|办法|措施|方案|推出|开展|实施|改造|建立|按照|依托|利用|借助|组织|召开|设置|首先|先后|以"),
    (re.compile(r"哪里|哪儿|在哪|什么地方|何处|什么位置|地址"),
     r"位于|坐落|地址|地点|门口|对面|旁边|附近|[路弄]|街(?!道)|\d+号|广场|公园|片区|大厅|会场|活动室|中心|站|[一二三四五六七八九\d]楼"),
]
# "一张" in "多少钱一张", "每月": a rate, not the thing asked about.
_PER_UNIT = re.compile(rf"[一每单][{_MEASURE}月年天周次]|每\w")
GENERIC_WORDS = {"地方", "位置", "时候", "东西", "事情", "方面", "情况", "内容", "原因", "办法", "方式", "名字", "时间",
                 "样子", "意思", "作用"}
_EDGE = "是的了在有和与及或也都就被把给对向从为"
_FUNCTION = {"一共", "总共", "共有", "一起", "目前", "现在", "还有", "主要", "分别", "都是", "用来", "用于",
             "可以", "能够", "需要", "应该", "起来", "加起来", "最后", "最终", "最快", "首先", "当时", "已经",
             "最近", "近日", "近期", "如今", "大概", "大约", "大致", "一般", "通常", "平时", "到底", "究竟",
             "具体", "那位", "这位", "那个", "这个", "那批", "这批", "那家", "这家", "那里", "这里", "前前后后"}
ASKS = ("num", "date", "who", "where", "what", "how", "why", "yesno", "describe")


@dataclass(frozen=True)
class Question:
    """The parts of a question the composer uses.

    Attributes:
        text: the question in simplified characters.
        kind: money, percent, year, date, duration, number, person, org, place, what,
            or "" when no question word is found.
        asks: the kind in coarse terms (num, date, who, where, what, how, why, yesno, describe).
        span: regex an answer span of this kind matches ("" for person/org/place/what).
        unit: the measure word asked with 多少/几 ("户" of 多少户), or "".
        focus: the words around the question word (the thing asked about).
        left / right: the question's text before / after the question word.
        chinese: False for a question with no Chinese characters (English).
        cue: words that mark a sentence giving a reason, a way or a place.
        kind_word: the noun right after 什么/哪个/哪家 (学校 of 什么学校), which names the
            class of the answer; "" if none.
        address: a where-question that asks for a road or an address (哪条路, 地址).
        part: the part of a date asked for: "time" (几点), "year", "week" (每周哪天),
            "day" (哪天), or "".
    """

    text: str
    kind: str
    span: str
    unit: str
    focus: tuple[str, ...]
    left: str
    right: str
    chinese: bool
    asks: str = "what"
    cue: str = ""
    kind_word: str = ""
    address: bool = False
    part: str = ""


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
        >>> (q.kind, q.asks, q.left, q.right)
        ('number', 'num', '兰岭园新增了', '个停车位')
    """
    text = to_simplified(question).strip().rstrip("？?。!！ ")
    chinese = is_chinese(text)
    kind, asks, left, right = "", "what", text, ""
    types = _TYPES
    if chinese and _ADDRESS_ASK.search(text) and not re.search(r"哪天|哪一天|什么时候|几月", text):
        types = [t for t in _TYPES if t[0] == "place"] + _TYPES     # "在哪条路几号": 几号 is no date
    for name, coarse, zh, en in types:
        m = re.search(zh, text) if chinese else re.search(en, text, re.I)
        if m:   # the table runs from the most specific kind to the least
            kind, asks, left, right = name, coarse, text[: m.start()], text[m.end():]
            break
    named = _NAME_ASK.search(text) if chinese and kind in ("what", "person", "") else None
    if named:
        kind, asks, left, right = "person", "who", text[: named.start(1)].rstrip("的"), text[named.end(1):]
    if chinese and kind in ("what", "") and _DESCRIBE.search(text):
        kind, asks, left = "what", "describe", _DESCRIBE.sub("", text)
    elif chinese and kind in ("what", "") and _YESNO.search(text):
        kind, asks = "what", "yesno"
        m = _YESNO.search(text)
        left, right = text[: m.start()], text[m.end():]
    elif chinese and kind == "what":
        asks = "why" if _WHY.search(text) else "how" if _HOW.search(text) else "what"
    span = _SPAN.get(kind, "")
    address = kind == "place" and chinese and bool(_ADDRESS_ASK.search(text))
    unit = ""
    if kind == "number" and chinese:
        m = _UNIT_ASK.search(text)
        unit = m.group(1) if m else ""
    kind_word = ""
    if chinese and kind in ("what", "org", "place", "person"):
        m = re.search(r"(?:什么|哪个|哪家|哪所|哪座|哪些|哪种|何种|哪类)([\u4e00-\u9fff]{1,4})", text)
        if m and words is not None:
            first = words(m.group(1))[0]
            kind_word = first if (len(first) >= 2 or first in "路街区镇村院馆所站") and first not in GENERIC_WORDS else ""
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
        if kind in NUMBER_KINDS:
            counted = _counted(right, words, tag)
            if counted:
                focus = (counted,)
            elif left_words:     # "面积有多大": what is measured stands before the question word
                focus = (left_words[-1],)
    cue = next((c for asks_re, c in _CUES if asks_re.search(text)), "")
    part = ""
    if asks == "date":
        part = ("time" if re.search(r"几点|什么时段|几时", text) else "year" if kind == "year"
                else "week" if re.search(r"星期几|周几|每周哪|礼拜几", text) else "day" if re.search(r"哪天|哪一天|几号|几月几", text)
                else "")
    return Question(text, kind, span, unit, focus, left, right, chinese, asks, cue, kind_word, address, part)


def _counted(right: str, words, tag) -> str:
    """What a count counts, from the words after 多少/几: "个停车位" -> 停车位,
    "个公益团队参加" -> 团队, "栋楼举行了…" -> 楼."""
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
