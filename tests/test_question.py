"""What a question asks for: its kind, the span that answers it and what it counts."""

import re

import pytest

from rag.question import analyse_question


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


@pytest.mark.parametrize("question, asks", [
    ("兰岭园新增了多少个停车位？", "num"),
    ("小区里有多大比例的有车一族反对？", "num"),
    ("荣华居民区是哪一年探索出议事厅模式的？", "date"),
    ("公益电影一般安排在什么时候放？", "date"),
    ("妙膳坊每天早上几点开始供应早餐？", "date"),
    ("听潮六村是哪家物业公司在管理？", "who"),
    ("楼组长阿姨叫什么名字？", "who"),
    ("金山区党群服务中心在哪条路几号？", "where"),
    ("双流小区是哪个居委下辖的？", "where"),
    ("停车“软法”的全称是什么？", "what"),
    ("小区为什么被笑称为“七彩家园”？", "why"),
    ("社区通过什么方式听取居民想法？", "how"),
    ("长者食堂的汤要另外收钱吗？", "yesno"),
    ("社区食堂是不是只对老人开放？", "yesno"),
    ("介绍一下口袋公园", "describe"),
    ("“退界”是什么意思？", "describe"),
])
def test_what_a_question_asks(tokenizer, question, asks):
    assert analyse_question(question, tokenizer.words, tokenizer.tagged).asks == asks


def test_the_noun_after_the_question_word_names_the_kind_of_answer(tokenizer):
    q = analyse_question("听潮六村小区里有所什么学校？", tokenizer.words, tokenizer.tagged)
    assert q.kind_word == "学校"
    assert analyse_question("二期改造什么时候开工？", tokenizer.words, tokenizer.tagged).kind_word == ""
