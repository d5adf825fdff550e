import pytest

from conftest import SEEDS
from rag.chunk import chunk_article, split_sentences
from rag.clean import Block
from rag.ingest import read_issue
from rag.segment import Article
from rag.sync import issue_chunks
from rag.config import Config


@pytest.mark.parametrize("text", ["", "没有句号", "甲。乙！丙？丁；", "他说：“好。”然后走了。\n下一段…", "a. b? c!"])
def test_split_sentences_is_lossless(text):
    assert "".join(split_sentences(text)) == text


def test_split_sentences_keeps_closing_quotes():
    assert split_sentences("“很好！”他说。") == ["“很好！”", "他说。"]


def test_long_sentence_is_split_at_commas():
    parts = split_sentences("，".join(["这是一个很长的分句"] * 30) + "。", max_chars=50)
    assert all(len(p) <= 50 for p in parts) and len(parts) > 1


def test_chunks_are_whole_sentences_with_overlap():
    sentences = [f"第{i}句话说的是第{i}件事情。" for i in range(40)]
    art = Article("a.txt", 3, "宜居家园", "标题", (Block("text", "".join(sentences)),))
    chunks = chunk_article(art, size=100, overlap=30)
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= 100
        assert (c.source, c.section, c.title, c.article) == ("a.txt", "宜居家园", "标题", 3)
        assert all(s in sentences for s in split_sentences(c.text))
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for a, b in zip(chunks, chunks[1:]):   # the next chunk opens with the last sentences (<= 30 chars)
        tail = split_sentences(a.text)
        head = split_sentences(b.text)
        k = tail.index(head[0])
        assert head[: len(tail) - k] == tail[k:] and 0 < len("".join(tail[k:])) <= 30
    covered = set(s for c in chunks for s in split_sentences(c.text))
    assert covered == set(sentences)


def test_seed_chunks_stay_in_one_article_and_quote_the_source(tokenizer):
    config = Config()
    for path in sorted(SEEDS.glob("*.txt")):
        raw = read_issue(path)
        flat = "".join(raw.split())
        n_articles, chunks = issue_chunks(raw, path.name, config, tokenizer)
        assert n_articles >= 2 and chunks
        for c in chunks:
            assert len(c.text) <= config.chunk_size + 1
            pos = 0
            for s in split_sentences(c.text):   # every sentence piece between repaired cuts is verbatim
                bounds = [0, *[x - pos for x in c.cuts if pos < x < pos + len(s)], len(s)]
                for a, b in zip(bounds, bounds[1:]):
                    piece = "".join(s[a:b].split())
                    assert piece in flat, (path.name, piece)
                pos += len(s)


def test_sub_heading_travels_with_its_chunk():
    art = Article("a.txt", 0, "", "标题", (Block("heading", "小标题"), Block("text", "正文一句。")))
    (chunk,) = chunk_article(art)
    assert chunk.heading == "小标题"
    assert chunk.embed_text == "标题\n小标题\n正文一句。"
