"""Hybrid retrieval: dense (FAISS) and lexical (bm25s over jieba tokens), fused by RRF."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from .chunk import Chunk
from .config import Config
from .filters import Where, asks_for_latest, date_span
from .tokenize import ChineseTokenizer, to_simplified

__all__ = ["Hit", "Retriever", "Where"]

_CANDIDATES = 30   # taken from each side before fusion
_SURE = 3          # each side's best few are kept even when fusion ranks them lower


class QueryEmbedder(Protocol):
    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class SearchIndex(Protocol):
    """What retrieval needs of an index: ``rag.index.Index`` (local) or ``rag.qdrant_index.QdrantIndex``."""

    chunks: Any                      # chunks[row] -> Chunk

    def __len__(self) -> int: ...

    def hybrid(self, query: np.ndarray, tokens: list[str], k: int, rrf_k: int,
               where: Where | None = None) -> dict[int, list]: ...


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the rank it had on each side (0 = absent)."""

    chunk: Chunk
    score: float
    dense_score: float
    lexical_score: float
    dense_rank: int
    lexical_rank: int


class Retriever:
    """Searches one index with one embedder and one tokenizer.

    Example:
        >>> hits = Retriever(index, embedder, tokenizer).search("兰岭园新增了多少个停车位？")  # doctest: +SKIP
        >>> hits[0].chunk.source                                                           # doctest: +SKIP
        '000_54cc604d7de70b0b.txt'
    """

    def __init__(self, index: SearchIndex, embedder: QueryEmbedder, tokenizer: ChineseTokenizer,
                 config: Config | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.tokenizer = tokenizer
        self.config = config or Config()

    def search(self, question: str, k: int | None = None, where: Where | None = None) -> list[Hit]:
        """The best ``k`` (default ``config.top_k``) chunks for a question, best first.

        After them come any of the best three of either side that fusion ranked lower: a
        chunk BM25 ranks first can sit 25th by embedding ("源园居民区党总支书记" names one
        person among many), and fusion alone would drop it.
        Ties are broken by chunk id so the same question always gives the same list.
        Chunks with the same text (an issue filed twice, a reprinted article) count once.
        ``where`` keeps only chunks of one paper or date range; a question asking for the
        latest (最近, 最新…) gets the latest-dated of its chunks first.
        """
        k = self.config.top_k if k is None else k
        query = to_simplified(question.strip())[: self.config.max_question_chars]
        if not query or not len(self.index):
            return []
        qvec = self.embedder.embed_queries([query])[0]
        fused = self.index.hybrid(qvec, self.tokenizer(query), _CANDIDATES, self.config.rrf_k, where)
        chunks = {row: self.index.chunks[row] for row in fused}   # each read once (from disk at scale)
        order = sorted(fused.items(), key=lambda kv: (-kv[1][0], chunks[kv[0]].id))
        hits: list[Hit] = []
        taken: set[str] = set()
        for row, (score, ds, ls, dr, lr) in order:
            c = chunks[row]
            if c.sha in taken:
                continue
            if len(hits) >= k and not (0 < dr <= _SURE or 0 < lr <= _SURE):
                continue
            taken.add(c.sha)
            hits.append(Hit(c, score, ds, ls, dr, lr))
        if asks_for_latest(question):   # stable: relevance order stays within one date
            hits.sort(key=lambda h: -date_span(h.chunk.date)[1])
        return hits
