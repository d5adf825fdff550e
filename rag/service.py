"""One object that serves questions: model, tokenizer, index, retriever and composer, loaded once."""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from pathlib import Path
from typing import Callable, Sequence

from .compose import Answer, Composer
from .config import Config
from .errors import EmptyQuestionError, RagError
from .english import EnglishBridge
from .filters import Where
from .index import MANIFEST, Index, read_manifest
from .question import is_chinese
from .retrieve import Retriever
from .sync import sync_index
from .tokenize import ChineseTokenizer, to_simplified

__all__ = ["Assistant", "resolve_followup"]

log = logging.getLogger(__name__)
# Words that make a question lean on the one before it ("那实际有多少辆车？").
_FOLLOWUP = ("那", "那么", "它", "他们", "她们", "它们", "这个", "那个", "其", "该", "此", "还有", "另外", "实际")


def resolve_followup(question: str, previous: Sequence[str], tokenizer: ChineseTokenizer,
                     known: Callable[[str], bool]) -> str:
    """Make a follow-up question stand alone by carrying over the previous question's subject.

    A question is a follow-up when it opens with a referring word (那, 它, 这个…) or names
    no subject the index knows. Its subject then comes from the latest earlier question:
    the words of it that the index knows and the new question lacks.

    Example:
        >>> tok = ChineseTokenizer()
        >>> resolve_followup("那实际有多少辆车？", ["曹杨公寓小区有多少个车位？"], tok,
        ...                  lambda w: w in {"曹杨", "公寓", "小区", "车位", "车辆"})
        '曹杨公寓小区 那实际有多少辆车？'
    """
    if not previous:
        return question
    own = [w for w in tokenizer(question) if known(w) and len(w) > 1]
    leaning = to_simplified(question).lstrip().startswith(_FOLLOWUP)
    if own and not leaning:
        return question
    prev = previous[-1]
    carried = [w for w in tokenizer.words(to_simplified(prev))
               if known(w) and len(w) > 1 and w not in to_simplified(question)]
    # Keep the subject (what precedes the question word), not the previous ask.
    subject = "".join(carried[:3])
    return f"{subject} {question}" if subject else question


class Assistant:
    """Answers questions over one index folder; adds new issues to it.

    The model, tokenizer and index are loaded once. ``add_files`` builds the new index
    while questions keep being answered from the old one, then swaps it in.

    Example:
        >>> bot = Assistant("index")                       # doctest: +SKIP
        >>> bot.ask("兰岭园新增了多少个停车位？").short_answer  # doctest: +SKIP
        '7个停车位'
    """

    def __init__(self, index_dir: str | Path, config: Config | None = None, embedder=None,
                 tokenizer: ChineseTokenizer | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.tokenizer = tokenizer or ChineseTokenizer()
        self._lock = threading.Lock()
        if (self.index_dir / MANIFEST).exists():
            index = Index.load(self.index_dir)
            config = config or Config.from_dict(index.manifest["config"])
        else:
            index = None
            config = config or Config()
        self.config = config
        if embedder is None:
            from .embed import Embedder
            embedder = Embedder(config.model, query_prompt=config.query_prompt, passage_prompt=config.passage_prompt,
                                batch_size=config.batch_size, backend=config.embedding_backend)
        self.embedder = embedder
        if index is None:
            log.info("no index at %s: building it from the bundled seeds (once)", self.index_dir)
            index, _ = sync_index(self.index_dir, config=config, embedder=embedder,
                                  tokenizer=self.tokenizer, progress=True)
        elif index.manifest.get("model") != embedder.name or int(index.manifest["dim"]) != embedder.dim:
            index = Index.load(self.index_dir, model=embedder.name, dim=embedder.dim)  # raises, with the fix
        self._use(index)
        self._reloading = threading.Lock()
        self._seen = self._manifest_stamp()

    def _use(self, index: Index, warm: bool = False) -> None:
        retriever = Retriever(index, self.embedder, self.tokenizer, self.config)
        composer = Composer(self.tokenizer, index.doc_freq, len(index), index.article_text)
        bridge = EnglishBridge(index.doc_freq)   # its dictionary is read on the first English question
        if warm:   # ...or now, by an upload or a reload, rather than by a visitor after the swap
            bridge.translate("")
        self._state = (index, retriever, composer, bridge)   # one assignment: readers see old or new

    @property
    def index(self) -> Index:
        return self._state[0]

    def ask(self, question: str, previous: Sequence[str] | None = None, *, paper: str | None = None,
            since: str | None = None, until: str | None = None) -> Answer:
        """Answer one question; ``previous`` holds the conversation's earlier questions.

        ``paper`` keeps to one paper's issues, ``since``/``until`` (YYYY, YYYY-MM or
        YYYY-MM-DD) to a date range.

        Raises:
            EmptyQuestionError: the question is empty or only whitespace.
            ConfigError: a date bound is not a date.
        """
        where = Where(paper=paper or None, since=since or None, until=until or None)
        if not isinstance(question, str) or not question.strip():
            raise EmptyQuestionError("the question is empty; type a question, e.g. 兰岭园新增了多少个停车位？")
        question = "".join(ch for ch in question if ch.isprintable() or ch in "\n\t")
        question = re.sub(r"(\D)\1{3,}", r"\1", question)     # "？？？？" or "啊啊啊…" pasted on: one is enough
        question = question.strip()[: self.config.max_question_chars]
        self._follow_disk()
        state = self._state        # one generation for the whole question, even if a swap lands meanwhile
        index, _, composer, _ = state
        query = resolve_followup(question, previous or [], self.tokenizer,
                                 lambda w: index.doc_freq.get(w, 0) > 0)
        hits, english = self._retrieve(state, query, where)
        similarity = None
        if english is not None:
            # sentences are compared to the English question by embedding, only those of
            # the best two chunks, to keep it cheap
            hits = hits[:2]
            qvec = self.embedder.embed_queries([query])[0]
            similarity = lambda sentences: self.embedder.embed_passages(sentences) @ qvec
        answer = composer.compose(query, hits, similarity, asked=question, english=english)
        return dataclasses.replace(answer, question=question)

    @staticmethod
    def _retrieve(state: tuple, query: str, where: Where | None = None, k: int | None = None):
        """(hits, bridged English words or None). An English question searches the index's
        Chinese words for it when there are a few: they find Chinese passages better than
        the English words do, by embedding and by BM25 alike."""
        _, retriever, _, bridge = state
        if is_chinese(query):
            return retriever.search(query, k, where=where), None
        english = bridge.translate(query)
        words = " ".join(english.terms)
        return retriever.search(words if len(english.terms) >= 2 else f"{query} {words}", k, where=where), english

    def search(self, question: str, k: int | None = None) -> list:
        """The retrieved chunks (``Hit``) for a question, best first; English is bridged as in ``ask``."""
        return self._retrieve(self._state, question.strip(), k=k)[0]

    def add_files(self, paths: Sequence[str | Path], progress: Callable[[float, str], None] | None = None) -> dict:
        """Add issue files (or folders) to the index and swap the new index in.

        Raises:
            IngestError: a file cannot be read; the index stays as it was.
        """
        with self._lock:   # one build at a time; questions do not wait for it
            index, report = sync_index(self.index_dir, paths, config=self.config, embedder=self.embedder,
                                       tokenizer=self.tokenizer, on_progress=progress, current=self.index)
            self._use(index, warm=True)
        return report.to_dict()

    def _manifest_stamp(self) -> int | None:
        try:
            return (self.index_dir / MANIFEST).stat().st_mtime_ns
        except OSError:
            return None

    def _follow_disk(self) -> None:
        """Swap in an index another process saved (a scheduled ``rag index``), loaded in the
        background: the question that notices it is answered from the loaded index meanwhile."""
        stamp = self._manifest_stamp()
        if stamp == self._seen or not self._reloading.acquire(blocking=False):
            return
        self._seen = stamp
        threading.Thread(target=self._reload, daemon=True, name="rag-reload").start()

    def _reload(self) -> None:
        try:
            if read_manifest(self.index_dir).get("generation") == self.index.manifest.get("generation"):
                return   # our own add_files saved it
            index = Index.load(self.index_dir, model=self.embedder.name, dim=self.embedder.dim)
            with self._lock:   # generations only grow: never swap an older one over an upload's
                if index.manifest.get("generation", 0) > self.index.manifest.get("generation", 0):
                    self._use(index, warm=True)
                    log.info("index %s changed on disk: now %d chunks", self.index_dir, len(index))
        except RagError as e:
            log.warning("the index on disk changed but does not load (%s); still answering from the "
                        "loaded one", e)
        finally:
            self._reloading.release()

    def status(self) -> dict:
        m = self.index.manifest
        return {"documents": m.get("documents", 0), "articles": m.get("articles", 0),
                "chunks": len(self.index), "model": m.get("model", ""), "index_dir": str(self.index_dir),
                "backend": m.get("backend", "local"), **issue_labels(m)}


def issue_labels(manifest: dict) -> dict:
    """The papers the index holds and the first and last issue date (for filter selectors)."""
    files = manifest.get("files", {}).values()
    dates = sorted(d for f in files for d in f.get("dates", []))
    return {"papers": sorted({p for f in files for p in f.get("papers", [])}),
            "dates": dates[:1] + dates[-1:]}
