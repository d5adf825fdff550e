from rag.tokenize import ChineseTokenizer, to_simplified


def test_same_tokens_for_traditional_and_simplified(tokenizer):
    assert tokenizer("曹楊新村是哪一年誕生的？") == tokenizer("曹杨新村是哪一年诞生的？")


def test_drops_punctuation_whitespace_and_question_words(tokenizer):
    tokens = tokenizer("兰岭园 新增了多少个停车位？！")
    assert "停车位" in tokens and "兰岭园" in tokens
    assert not {"？", "！", " ", "多少", "了"} & set(tokens)


def test_search_mode_yields_sub_words(tokenizer):
    assert {"停车", "车位", "停车位"} <= set(tokenizer("新增了7个停车位"))


def test_empty_input(tokenizer):
    assert tokenizer("") == [] and tokenizer("？？ ") == []


def test_private_cache_dir(tmp_path):
    tok = ChineseTokenizer(user_words=["拾尚包"], cache_dir=tmp_path)
    assert "拾尚包" in tok("回收拾尚包")
    assert (tmp_path / "jieba.cache").exists()
    assert to_simplified("ＡＢＣ１２３曹楊") == "ABC123曹杨"
