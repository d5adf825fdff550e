"""Answer spans: what an answer of each kind looks like in a sentence (rag/spans.py)."""

import pytest

from rag.question import analyse_question
from rag.spans import best_span, find_spans
from rag.tokenize import simplified_aligned


def spans(tokenizer, question, sentence, how=None):
    q = analyse_question(question, tokenizer.words, tokenizer.tagged)
    s = simplified_aligned(sentence)
    return [sentence[sp.start:sp.end] for sp in find_spans(q, s, tokenizer.words, tokenizer.freq)
            if how is None or sp.how == how]


def best(tokenizer, question, sentence):
    q = analyse_question(question, tokenizer.words, tokenizer.tagged)
    s = simplified_aligned(sentence)
    terms = [t for t in tokenizer(q.left + "，" + q.right) if len(t) > 1]
    sp, _ = best_span(q, s, find_spans(q, s, tokenizer.words, tokenizer.freq), terms, {t: 1.0 for t in terms})
    return sentence[sp.start:sp.end] if sp else None


@pytest.mark.parametrize("question, sentence, expected", [
    ("二期改造什么时候开工？", "预计最快将于第二季度启动施工作业。", ["第二季度"]),
    ("益卡通是什么时候推出的？", "去年9月,街道推出了“益卡通”服务项目。", ["去年9月"]),
    ("有多少个公益团队？", "党总支联合数十家公益团队开展活动,服务近千人。", ["数十家", "近千人"]),
    ("车位有多少个？", "小区车位数54个。", ["54个"]),                          # 数 of 车位数 is no "数十"
    ("新址什么时候试运行？", "新址于9月30日8时起试运行。", ["9月30日8时起"]),
    ("清洁家园行动在每周哪一天？", "每周四开展“清洁家园”行动。", ["每周四"]),
    ("物业费从多少元涨到多少元？", "物业费由每平方米0.8元上调至1.4元。", ["0.8元上调至1.4元"]),  # a range together
    ("一共惠及多少户居民？", "惠及41戶居民。", ["41戶"]),                       # traditional, as written
])
def test_spans_of_a_pattern(tokenizer, question, sentence, expected):
    assert spans(tokenizer, question, sentence, "pattern") == expected


def test_a_year_is_not_a_count_and_a_share_is_not_either(tokenizer):
    assert spans(tokenizer, "有多少个网格？", "2021年划成5个网格,占比30%。", "pattern") == ["5个"]


@pytest.mark.parametrize("question, sentence, expected", [
    ("江虹居民区党总支书记是哪位？", "江虹居民区党总支书记李军红介绍。", "李军红"),
    ("那位志愿者是谁？", "72岁的许阿姨正在教邻居出示二维码。", "许阿姨"),
    ("楼组长阿姨叫什么名字？", "家住55號1樓的樓組長何志鳳阿姨激動地說。", "何志鳳"),
])
def test_people(tokenizer, question, sentence, expected):
    assert best(tokenizer, question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    ("金山区党群服务中心在哪条路几号？", "金山区党群服务中心位于象州路238号。", "象州路238号"),
    ("会客厅开在哪条马路上？", "新办公用房位于热闹的梅川路,毗邻杨柳青路。", "梅川路"),
    ("听潮六村是哪家物业公司在管理？", "小区由公富物業公司管理。", "公富物業公司"),
    ("云莲一居民区和哪家公司是一墙之隔的邻居？",
     "云莲一居民区与上海浦东东站长途客运有限公司是一墙之隔的邻居。", "上海浦东东站长途客运有限公司"),
])
def test_places_and_bodies(tokenizer, question, sentence, expected):
    assert best(tokenizer, question, sentence) == expected


def test_the_span_nearest_the_question_words_wins(tokenizer):
    s = "曹杨公寓小区车位数54个,而实际车辆却达到80辆之多。"
    assert best(tokenizer, "实际车辆有多少辆？", s) == "80辆"
    assert best(tokenizer, "小区车位数有多少个？", s) == "54个"


def test_a_number_the_question_states_is_not_its_answer(tokenizer):
    assert best(tokenizer, "街道的20个居委会一共分成几个网格？", "街道20个居委会被划成5个网格。") == "5个"
