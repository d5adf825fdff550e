"""Layout repair and segmentation, on the seed passages that show each case."""

from conftest import SEEDS
from rag.clean import clean_text
from rag.ingest import read_issue
from rag.segment import segment_issue


def blocks_of(name, tokenizer):
    return clean_text(read_issue(SEEDS / name), tokenizer.words)


def articles_of(name, tokenizer):
    return segment_issue(blocks_of(name, tokenizer), name)


def texts(blocks, kind):
    return [b.text for b in blocks if b.kind == kind]


def test_sentence_cut_by_page_break_is_joined_and_caption_kept_apart(tokenizer):
    blocks = blocks_of("000_54cc604d7de70b0b.txt", tokenizer)
    body = "\n".join(texts(blocks, "text"))
    assert "催人砥砺奋进的征程路，在新时代" in body
    assert "活动现场" not in body                   # not inside the sentence any more
    assert "活动现场" in texts(blocks, "caption")   # but kept, as a caption
    assert "“心心向杨”党建品牌发布了" in body          # a short cut line rejoined ("党建品" / "牌发布了")
    assert "蒋玉明表示" in body                      # a name cut across a page break


def test_closing_and_title_captions(tokenizer):
    captions = texts(blocks_of("000_54cc604d7de70b0b.txt", tokenizer), "caption")
    assert "新增7个停车位" in captions     # at the end of the issue
    assert "赠送感谢函" in captions        # between a title and its first paragraph


def test_captions_between_cut_parts_in_other_issues(tokenizer):
    blocks = blocks_of("002_850be4cbd226f91c.txt", tokenizer)
    assert "智慧健康小屋" in texts(blocks, "caption")
    assert any("是否已申请" in t and "名单功能" in t for t in texts(blocks, "text"))


def test_masthead_and_qr_lines_are_dropped(tokenizer):
    blocks = blocks_of("003_f5fd1caccfd41a06.txt", tokenizer)
    everything = " ".join(b.text for b in blocks)
    for junk in ("扫描二维码关注", "上海社区发布", "SHANGHAI COMMUNITY NEWS", "自 / 家", "联合出版", "□记者"):
        assert junk not in everything
    assert "凉城新村街道党工委书记" not in everything  # sanity: body text kept as written
    assert "街道党工委书记乐跃明强调" in everything


def test_sections_and_titles(tokenizer):
    arts = articles_of("000_54cc604d7de70b0b.txt", tokenizer)
    by_title = {a.title: a for a in arts}
    title = "找准症结所在 聚焦问题整改 曹杨这个“套娃”小区化解停车难题"
    assert by_title[title].section == "宜居家园"
    assert by_title["曹杨深化“心心向杨”党建品牌凝聚你我力量"].section == "同心向党"
    assert [a.position for a in arts] == list(range(len(arts)))
    assert all(any(b.kind == "text" for b in a.blocks) for a in arts)


def test_markdown_headings_make_articles(tokenizer):
    arts = articles_of("002_850be4cbd226f91c.txt", tokenizer)
    titles = [a.title for a in arts]
    assert "曹杨东梅岭苑多栋楼房启动加梯项目" in titles
    assert any(t.endswith("曹杨打造“心心向杨”党建品牌凝心聚力再出发") for t in titles)
    assert {a.section for a in arts} == {"同心向党", "宜居家园", "自治家园"}


def test_title_without_masthead(tokenizer):
    first = articles_of("003_f5fd1caccfd41a06.txt", tokenizer)[0]
    assert first.title.startswith("深学细悟学党史 真抓实干解民忧")
    assert "晨报" not in first.title and "记者" not in first.title


def test_empty_and_bannerless_input():
    assert segment_issue(clean_text(""), "x.txt") == []
    arts = segment_issue(clean_text("社区新闻一则标题\n\n第一段正文。"), "x.txt")
    assert [(a.section, a.title) for a in arts] == [("", "社区新闻一则标题")]


# -- real web articles and other papers ----------------------------------------------------

WEB_ARTICLE = """# http://www.voujod.cn/html/2021/czjs_0413/2438908.html

上海寶山一居民區兩臺加裝電梯同時開工!惠及41戶居民
2021-04-13 15:34:30來源:人民網作者:佚名責任編輯:黃靜
寶山一居民區兩臺加裝電梯同時開工!
海濱新村多是60年代建造的老房子,同時也是一個老齡化小區。此次加裝電梯涉及2個樓道,惠及41戶居民。
海濱新村兩幢樓能順利加裝電梯,離不開樓道內每一名居民的積極配合(記者 鲁哲)。
"""


def test_web_article_url_and_meta_lines_are_not_text_and_headline_is_title(tokenizer):
    arts = segment_issue(clean_text(WEB_ARTICLE, tokenizer.words), "102.txt")
    assert [(a.section, a.title) for a in arts] == [("", "上海寶山一居民區兩臺加裝電梯同時開工!惠及41戶居民")]
    body = " ".join(b.text for b in arts[0].blocks)
    assert "http" not in body and "來源" not in body and "責任編輯" not in body
    # traditional text is kept exactly as written
    assert "此次加裝電梯涉及2個樓道,惠及41戶居民。" in body


def test_headline_ending_in_a_question_mark_is_still_the_title(tokenizer):
    raw = "# http://example.cn/a.html\n\n如何在老小区加装电梯?\n2023-06-21\n居民们商量了半年,终于开工了。\n"
    assert segment_issue(clean_text(raw, tokenizer.words), "a.txt")[0].title == "如何在老小区加装电梯?"


def test_photo_credits_are_captions_and_a_byline_ends_a_paragraph(tokenizer):
    raw = ("# https://paper.xinmin.cn/a.html\n\n物业费大涨价获高票同意\n第3版:上海新闻 2025-08-06\n"
           "宛南六村新貌 孙云 摄\n本报记者 孙云\n"
           "如果一项服务或者商品的价格一口气上涨75%,消费者大概都会用脚投出反对票。(记者 孙云)\n"
           "图说:殷行街道优秀志愿者获颁荣誉证书。孙云 摄\n"
           "物业费调整历来是一个牵动居民心的话题,在一些小区,哪怕想调价一角钱也并不容易。\n")
    blocks = clean_text(raw, tokenizer.words)
    assert [b.kind for b in blocks] == ["heading", "caption", "text", "caption", "text"]
    assert blocks[2].text.endswith("(记者 孙云)")   # not run into the next paragraph
    assert all("本报记者" not in b.text and "第3版" not in b.text for b in blocks)


def test_article_continued_on_another_page_is_joined(tokenizer):
    raw = ("【要闻】\n\n曹杨深化党建品牌\n\n近日,街道召开了一场会议。\n\n会议还听取了筹备工作情况说明,(下转第2版)\n\n"
           "【宜居家园】\n\n停车难题化解\n\n新增了7个停车位。\n\n曹杨深化党建品牌\n\n(上接第1版)审议通过了章程。\n")
    arts = segment_issue(clean_text(raw, tokenizer.words), "x.txt")
    assert [a.title for a in arts] == ["曹杨深化党建品牌", "停车难题化解"]
    first = [b.text for b in arts[0].blocks]
    assert first[-1] == "会议还听取了筹备工作情况说明,审议通过了章程。"
    assert arts[0].blocks[-1].cuts == (len("会议还听取了筹备工作情况说明,"),)
    assert [b.text for b in arts[1].blocks] == ["新增了7个停车位。"]
    assert not any("上接" in b.text or "下转" in b.text for a in arts for b in a.blocks)


def test_layout_hints_join_a_short_cut_line_and_set_long_captions_apart():
    from rag.clean import Layout
    cut = "居民区的党员志愿者主动"                 # short, and the words alone would call it a title
    caption = "图为居民区党员志愿者在小区门口为居民测量体温的现场"   # long, no caption marker
    raw = f"{cut}\n\n\n\n{caption}\n\n参与疫情防控值守。\n"
    plain = clean_text(raw)
    assert plain[0].kind == "heading"
    layout = Layout(pages=(0, raw.index(caption)), runs_on=frozenset({0}),
                    captions=frozenset({raw.index(caption)}))
    blocks = clean_text(raw, layout=layout)
    assert [(b.kind, b.text) for b in blocks] == [("text", cut + "参与疫情防控值守。"), ("caption", caption)]
    assert blocks[0].cuts == (len(cut),) and blocks[0].page == 1 and blocks[0].page_marks == ((len(cut), 2),)


def test_web_page_date_prefix_is_not_text():
    blocks = clean_text("# https://example.com/a\n\n date 2026-01-02 萬里區崁腳里有關懷據點，長輩們都分散居住。\n\n里長說，共餐相當不容易。\n")
    texts = [b.text for b in blocks]
    assert texts[0].startswith("萬里區崁腳里") and not any("2026-01-02" in t for t in texts)
