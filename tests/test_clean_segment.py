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
