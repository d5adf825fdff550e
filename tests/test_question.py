"""What a question asks for: its kind, the span that answers it and what it counts."""

import re

import pytest

from rag.compose import _person
from rag.question import analyse_question, answer_spans


def spans(question, sentence, tokenizer=None):
    q = analyse_question(question, tokenizer.words if tokenizer else None, tokenizer.tagged if tokenizer else None)
    return [sentence[a:b] for a, b in answer_spans(q, sentence)]


@pytest.mark.parametrize("question, kind", [
    ("源园居民区党总支书记叫什么名字？", "person"),     # a role's holder, asked by name
    ("这个项目叫什么名字？", "what"),                   # no role: a name of a thing
    ("五一那几天一共服务了多少人？", "number"),         # 那几天 is no duration asked
    ("加梯工程用了几天？", "duration"),
    ("会客厅开在哪条马路上？", "place"),
    ("多层公房是什么年代建造的？", "year"),
])
def test_question_kinds(question, kind):
    assert analyse_question(question).kind == kind


@pytest.mark.parametrize("question, sentence, expected", [
    ("二期改造什么时候开工？", "预计最快将于第二季度启动施工作业。", ["第二季度"]),
    ("益卡通是什么时候推出的？", "去年9月,街道推出了“益卡通”服务项目。", ["去年9月"]),
    ("有多少个公益团队？", "党总支联合数十家公益团队开展活动,服务近千人。", ["数十家", "近千人"]),
    ("车位有多少个？", "小区车位数54个。", ["54个"]),                           # 数 of 车位数 is no "数十"
    ("会客厅开在哪条马路上？", "新办公用房位于热闹的梅川路,毗邻杨柳青路。", ["梅川路", "杨柳青路"]),
    ("会客厅的地址在哪里？", "曹杨新村街道联合影院推出影票。", []),             # 街道 is no street
])
def test_answer_spans(question, sentence, expected):
    assert spans(question, sentence) == expected


@pytest.mark.parametrize("question, focus", [
    ("上南二村的公益集市有多少个公益团队参加？", "团队"),   # the verb after the count is not counted
    ("兰岭园新增了多少个停车位？", "停车位"),
    ("加梯核心小组至少由几名党员组成？", "党员"),
    ("梅岭北路几栋楼举行了开工仪式？", "楼"),
])
def test_what_a_count_counts(tokenizer, question, focus):
    q = analyse_question(question, tokenizer.words, tokenizer.tagged)
    assert q.focus == (focus,)
    assert re.search(q.span, "7个")


@pytest.mark.parametrize("question, focus", [
    ("金梅园百姓会客厅紧挨着哪条路？", "会客厅"),     # the noun asked about, not the verb after it
    ("曹杨街道最近拿到了什么称号？", "街道"),
])
def test_what_a_question_is_about(tokenizer, question, focus):
    assert analyse_question(question, tokenizer.words, tokenizer.tagged).focus == (focus,)


def test_a_role_may_stand_a_few_characters_after_its_body(tokenizer):
    q = analyse_question("街道副书记是谁？", tokenizer.words, tokenizer.tagged)
    assert _person(q, "曹杨新村街道党工委副书记许春辉出席了会议。", tokenizer.words) == "许春辉"
    assert _person(q, "街道党工委书记乐跃明强调。", tokenizer.words) is None      # no 副: another rank
