"""English questions: the bridge to the index's Chinese words, and answers through it."""

import pytest

from rag.english import EnglishBridge

VOCAB = {"停车位": 3, "曹杨": 40, "金梅园": 5, "客厅": 4, "主题": 6, "颜色": 2, "凉城": 20, "街道": 60,
         "书记": 30, "老人": 12, "居民": 50, "云莲一": 4, "停车": 9}


@pytest.fixture(scope="module")
def bridge():
    return EnglishBridge(VOCAB)


def test_english_words_become_the_index_words(bridge):
    b = bridge.translate("How many parking spaces were added in the Caoyang apartment compound?")
    assert b.terms[:2] == ("停车位", "曹杨")
    assert b.names == ("曹杨",) and b.counted == "停车位"
    assert "apartment" in b.missing            # nothing in the index translates it


@pytest.mark.parametrize("question, name", [
    ("What is the theme colour of the Jinmeiyuan living room?", "金梅园"),   # one name, several words
    ("Who is the Party secretary of Liangcheng subdistrict?", "凉城"),        # the dictionary glosses a county
    ("What did the Yunlian No.1 residents get?", "云莲一"),                    # a prefix of the index word
])
def test_romanised_names_are_found(bridge, question, name):
    assert name in bridge.translate(question).names


def test_only_index_words_are_returned(bridge):
    assert set(bridge.terms("When did the elderly residents of the swimming pool colour the street?")) <= set(VOCAB)


@pytest.mark.parametrize("question, short", [
    ("Who is the Party secretary of Liangcheng subdistrict?", "乐跃明"),
    ("How much does a cinema ticket cost at the Lexiang station?", "9.9元"),
    ("How many elderly residents have registered for the Yikatong service?", "6700余位"),
])
def test_english_questions_answered_from_chinese_sources(assistant, question, short):
    a = assistant.ask(question)
    assert a.found and a.short_answer == short, a.text


@pytest.mark.parametrize("question", [
    "How much did the Jinmeiyuan renovation cost?",
    "Who is the director of the Caoyang elderly care centre?",
    "When was the Liangcheng swimming pool opened?",
])
def test_english_questions_the_sources_do_not_answer(assistant, question):
    assert not assistant.ask(question).found
