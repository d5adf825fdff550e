"""Chinese tokenisation for the lexical index: one private jieba tokenizer for documents and queries."""

from __future__ import annotations

import functools
import logging
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable

import jieba
import jieba.posseg
import zhconv

__all__ = ["ChineseTokenizer", "to_simplified", "simplified_aligned"]

# jieba logs "Building prefix dict…" at DEBUG through its own handler; keep it quiet here.
logging.getLogger("jieba").setLevel(logging.WARNING)
jieba.setLogLevel(logging.WARNING)

_KEEP = re.compile(r"[\w%％.]+")
# Function words and question words carry no topic; dropping them on both sides keeps
# BM25 from matching a question to any passage that also says "的" or "多少".
STOPWORDS = frozenset("""
的 了 是 在 和 与 及 或 也 都 就 而 并 又 还 等 着 把 被 让 给 对 为 以 从 向 于 之 其 这 那 这个 那个
有 没有 吗 呢 吧 啊 呀 么 哪 哪个 哪些 哪里 哪儿 哪天 哪年 哪家 什么 多少 几 几个 谁 怎么 怎样 如何 为什么
是否 一个 一些 我们 你们 他们 她们 它们 我 你 他 她 它 个 名 年 月 日 请问
the a an of in on at to for and or is are was were be been what which who whom whose when where why
how many much does do did
""".split())


@functools.lru_cache(maxsize=1 << 15)
def to_simplified(text: str) -> str:
    """NFKC-normalise and convert traditional characters to simplified ones (the same
    sentences come back question after question, so results are kept)."""
    return zhconv.convert(unicodedata.normalize("NFKC", text), "zh-cn")


@functools.lru_cache(maxsize=1 << 15)
def simplified_aligned(text: str) -> str:
    """``to_simplified`` keeping one character for one: offsets into the result cut the
    original text. A character whose normal form is longer ("㎡" -> "m2") stays as it is."""
    out = to_simplified(text)
    if len(out) == len(text):
        return out
    return "".join(c if len(c) == 1 else ch for ch, c in ((ch, to_simplified(ch)) for ch in text))


class ChineseTokenizer:
    """A private ``jieba.Tokenizer`` wrapped as one callable for documents and queries.

    Text is NFKC-normalised, lower-cased and converted to simplified characters, cut
    in jieba's search mode (long words also yield their sub-words), and punctuation,
    whitespace and stopwords are dropped.

    Example:
        >>> tok = ChineseTokenizer()
        >>> "停车位" in tok("兰岭园新增了多少个停車位？")
        True
    """

    def __init__(self, user_words: Iterable[str] = (), cache_dir: str | Path | None = None) -> None:
        self._jieba = jieba.Tokenizer()
        cache_dir = Path(cache_dir) if cache_dir else _default_cache_dir()
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._jieba.tmp_dir = str(cache_dir)
        self._jieba.cache_file = str(cache_dir / "jieba.cache")
        for word in user_words:
            self._jieba.add_word(word)
        self._tagger = jieba.posseg.POSTokenizer(self._jieba)

    def nouns(self, text: str) -> set[str]:
        """The words of ``text`` that jieba tags as nouns (names, places, organisations…)."""
        return {p.word for p in self._tagger.cut(to_simplified(text).lower()) if p.flag.startswith("n")}

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """jieba's cut of ``text`` as written, each word with its part-of-speech flag."""
        return [(p.word, p.flag) for p in self._tagger.cut(text)]

    def freq(self, word: str) -> int:
        """How often jieba's dictionary has seen ``word`` (0 for a word it does not know)."""
        self._jieba.check_initialized()
        return self._jieba.FREQ.get(word, 0)

    def words(self, text: str) -> list[str]:
        """jieba's plain cut of ``text`` as written, nothing dropped (for boundary checks)."""
        return list(self._jieba.cut(text))

    def __call__(self, text: str) -> list[str]:
        text = to_simplified(text).lower()
        return [w for w in self._jieba.cut_for_search(text)
                if _KEEP.fullmatch(w) and w not in STOPWORDS]


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-shequ" / "jieba"
