"""Word (.docx) and saved web pages (.html/.htm), built from the seed issues."""

from __future__ import annotations

import io
import zipfile

import pytest

from conftest import SEEDS
from issue_files import build_docx, build_wechat_html, seed_articles
from rag.clean import clean_text
from rag.errors import IngestError
from rag.ingest import read_document
from rag.segment import segment_issue

SEED_NAMES = sorted(p.name for p in SEEDS.glob("*.txt"))


def _articles(path, tokenizer):
    doc = read_document(path)
    return doc, segment_issue(clean_text(doc.text, tokenizer.words, doc.layout), path.name)


def _bodies(arts):
    return [[(b.kind, b.text) for b in a.blocks] for a in arts]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_word_file_reads_back_into_the_seed_articles(tmp_path, tokenizer, name):
    arts = seed_articles(SEEDS / name, tokenizer)
    doc, got = _articles(build_docx(arts, tmp_path / "2021年3月.docx"), tokenizer)
    assert [(a.section, a.title) for a in got] == [(a.section, a.title) for a in arts]
    assert _bodies(got)[:-1] == _bodies(arts)[:-1]
    # tables are read in document order, row by row: the masthead's before the first article
    # (and dropped there as masthead and date lines), the last one after the last paragraph
    assert _bodies(got)[-1] == _bodies(arts)[-1] + [("heading", "活动 参加人数 120人")]
    assert doc.text.index("编辑部电话 021-5555 0000") < doc.text.index(arts[0].title)
    assert (doc.meta.paper, doc.meta.date, doc.meta.issue) == ("凉城社区晨报", "2021-03-15", "第12期")
    assert doc.meta.author == ""   # python-docx's placeholder author is not kept


@pytest.mark.parametrize("name", SEED_NAMES)
def test_wechat_page_reads_back_into_its_article(tmp_path, tokenizer, name):
    art = seed_articles(SEEDS / name, tokenizer)[0]
    doc, got = _articles(build_wechat_html(art, tmp_path / "wechat.html"), tokenizer)
    assert [a.title for a in got] == [art.title]
    assert _bodies(got) == _bodies([art])
    for junk in ("首页", "阅读", "在看", "var ct", "扫描二维码", "微信扫一扫"):
        assert junk not in " ".join(b.text for b in got[0].blocks), junk
    m = doc.meta
    assert (m.title, m.paper, m.date, m.author, m.url) == (
        art.title, "凉城社区晨报", "2021-03-15", "凉城新村街道", "https://mp.weixin.qq.com/s/AbCdEf123")


def test_ordinary_news_page_keeps_the_article_and_drops_the_page_around_it(tmp_path):
    paras = ["近日,闵行区15台电梯集中开工,涉及虹桥、七宝、江川、梅陇和古美5个街镇。" * 2,
             "据了解,近年来,闵行区委区政府顺应居民需求,积极落实民心工程工作部署,成立工作专班统筹推进全区电梯加装工作。",
             "1月7日闵行召开全区加梯工作推进大会,进一步明确年度目标任务,制定出年度任务时间表、任务书和路线图。"]
    page = tmp_path / "news.htm"
    page.write_bytes(("""<html><head><meta charset="gbk"><title>闵行区一天集中开工15台电梯_新闻中心</title>
<meta property="og:title" content="闵行区跑出“加速度”一天集中开工15台电梯">
<meta name="author" content="鲁哲"><meta property="article:published_time" content="2021-01-12T09:00:00+08:00">
<link rel="canonical" href="http://mh.021cf.cn/index.php/post/8621.html"></head><body>
<ul class="nav"><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li><li><a href="/gov">政务公开</a></li></ul>
<div class="sidebar"><h3>热门排行</h3><ol><li><a href="/1">某区召开会议部署工作</a></li><li><a href="/2">另一条新闻标题</a></li></ol></div>
<article><h1>闵行区跑出“加速度”一天集中开工15台电梯</h1>""" + "".join(f"<p>{p}</p>" for p in paras) +
                      """</article><div class="share">分享到: 微信 微博 QQ空间</div>
<footer>版权所有 2021 闵行区融媒体中心 沪ICP备12345678号</footer></body></html>""").encode("gbk"))
    doc = read_document(page)
    assert doc.text.startswith("# 闵行区跑出“加速度”一天集中开工15台电梯\n")
    for p in paras:
        assert p in doc.text
    for junk in ("热门排行", "分享到", "版权所有", "政务公开"):
        assert junk not in doc.text, junk
    assert (doc.meta.date, doc.meta.author, doc.meta.url) == (
        "2021-01-12", "鲁哲", "http://mh.021cf.cn/index.php/post/8621.html")


def test_page_without_article_text_is_refused_by_name(tmp_path):
    page = tmp_path / "login.html"
    page.write_text("<html><head><title>登录</title></head><body><form><input name=u></form></body></html>",
                    encoding="utf-8")
    with pytest.raises(IngestError, match=r"login\.html: no article text found"):
        read_document(page)


def test_zip_bomb_docx_is_refused_before_unpacking(tmp_path):
    path = tmp_path / "bomb.docx"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w") as f:   # 300 MB of zeros packs into about 300 KB
            chunk = b"\0" * (1024 * 1024)
            for _ in range(300):
                f.write(chunk)
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(IngestError, match=r"bomb\.docx: unpacks to \d+ bytes.*zip bomb"):
        read_document(path)


def test_old_doc_renamed_docx_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(IngestError, match=r"old\.docx: not a Word \.docx file.*save it as \.docx"):
        read_document(path)
