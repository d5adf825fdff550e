"""Issue metadata: what a file's lines and name say about the paper, date, issue and URL."""

import pytest

from rag.meta import IssueMeta, is_meta_line, meta_from_lines, meta_from_name, normalize_date


@pytest.mark.parametrize("line", [
    "# http://mh.021cf.cn/index.php/post/8621.html",
    "2021-04-13 15:34:30來源:人民網作者:佚名責任編輯:黃靜",
    "时间:2018-07-03 09:00:14     来源:上海嘉定",
    "2022-02-13 11:03:57 看看新闻Knews记者  邱旭黎  潘窈窈",
    "2022年08月22日16:04",
    "(来源:上观新闻)",
    "上海静安 上海静安 2024-01-18",
    "第3版:上海新闻 2025-08-06",
    "来源 :瞭望东方周刊",
    "第三版:民生新闻 2022年08月16日",
    "发布时间:2024-03-16 06:26:00 本文转自:无锡日报",
    "2018-11-26 11:20:32发布",
    "2021-11-24",
])
def test_metadata_lines_of_real_articles(line):
    assert is_meta_line(line)


@pytest.mark.parametrize("line", [
    "2021年3月社区活动一览",                       # a headline that starts with a date
    "记者来到这里也有同感:从走到宛南六村的主入口开始。",  # text that starts with a label word
    "闵行区跑出“加速度”一天集中开工15台电梯",
    "作为一个老年人比例在37.25%的社区,如何更好的让社区里的老人们老有所养",
    "时间过得真快",
])
def test_text_lines_are_not_metadata(line):
    assert not is_meta_line(line)


def test_dates_are_normalised():
    assert normalize_date("2022年08月22日16:04") == "2022-08-22"
    assert normalize_date("凉城社区晨报 2021年3月 第2版") == "2021-03"
    assert normalize_date("2021.05") == "2021-05"
    assert normalize_date("06-17 12:44") == "" and normalize_date("第1234期") == ""


def test_page_header_and_masthead():
    m = meta_from_lines(["凉城社区晨报  2021年3月  第2版"])
    assert (m.paper, m.date, m.issue) == ("凉城社区晨报", "2021-03", "第2版")
    assert meta_from_lines(["扫描二维码关注", "凉城", "社区晨报", "新晨报"]).paper == "凉城社区晨报"
    assert meta_from_lines(["第三版:民生新闻 2022年08月16日"]).issue == "第3版"


def test_file_names():
    assert meta_from_name("2021-03.pdf").date == "2021-03"
    m = meta_from_name("凉城社区晨报_20210315_第12期.docx")
    assert (m.paper, m.date, m.issue) == ("凉城社区晨报", "2021-03-15", "第12期")
    assert meta_from_name("000_54cc604d7de70b0b.txt") == IssueMeta()


def test_page_labels_and_filling():
    m = IssueMeta(paper="晨报", issue="第12期", page_issues=("第1版", "第2版"))
    assert m.issue_on(2) == "第12期 第2版" and m.issue_on(None) == "第12期" and m.issue_on(9) == "第12期"
    assert IssueMeta(date="2021").filled_from(IssueMeta(date="2020", paper="甲")) == IssueMeta(paper="甲", date="2021")
