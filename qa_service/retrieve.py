"""Retrieval: question -> passages, behind one small protocol.

* :class:`LexicalRetriever` — an in-process BM25 over syllables and syllable bigrams (bm25s), with a
  diacritic-folded twin for questions typed without diacritics. Used by the benchmark and as the
  offline fallback; optional dense fusion when passage vectors are supplied.
* :class:`SearchIndexRetriever` — over the team's ``search.SearchIndex`` (hybrid BM25 + dense).
* :class:`AsyncClientRetriever` — over anything with an async ``search(...)`` returning the search
  service's JSON (the QA service passes its search-service client; this package never imports
  ``services``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qa_service.questions import QUESTION_STOP, QUESTION_STOP_FOLDED
from qa_service.text import fold, has_diacritics, syllables
from qa_service.types import Passage


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, question: str, k: int = 20, library_id: str | None = None) -> list[Passage]:
        """The ``k`` best passages for ``question``, best first, each with a score."""
        ...


def _doc_tokens(text: str, folded: bool) -> list[str]:
    sy = syllables(text)
    if folded:
        sy = [fold(s) for s in sy]
    return sy + [f"{a}_{b}" for a, b in zip(sy, sy[1:], strict=False)]


def query_tokens(question: str, folded: bool) -> list[str]:
    sy = syllables(question)
    stop = QUESTION_STOP_FOLDED if folded else QUESTION_STOP
    if folded:
        sy = [fold(s) for s in sy]
    content = [s for s in sy if s not in stop]
    bigrams = [f"{a}_{b}" for a, b in zip(sy, sy[1:], strict=False) if a not in stop or b not in stop]
    return content + bigrams


class LexicalRetriever:
    """BM25 over passages (title + text), syllables plus bigrams; folded twin built on demand."""

    def __init__(self, passages: Sequence[Passage], *, build_folded: bool = False, progress: bool = False) -> None:
        import bm25s

        self._bm25s = bm25s
        self.passages = list(passages)
        self._progress = progress
        self._index = self._build(folded=False)
        self._folded = self._build(folded=True) if build_folded else None
        self._by_library: dict[str, np.ndarray] = {}

    def idf(self, token: str) -> float:
        """Inverse document frequency of a syllable (with or without diacritics) in the passages."""
        df = self._df.get(token, 0) or self._df_folded.get(token, 0)
        return float(np.log(1.0 + (len(self.passages) - df + 0.5) / (df + 0.5)))

    def _build(self, folded: bool):
        corpus = [_doc_tokens(f"{p.title}\n{p.text}", folded) for p in self.passages]
        df: dict[str, int] = {}
        for toks in corpus:
            for t in set(toks):
                if "_" not in t:
                    df[t] = df.get(t, 0) + 1
        if folded:
            self._df_folded = df
        else:
            self._df = df
            self._df_folded = getattr(self, "_df_folded", {})
        index = self._bm25s.BM25()
        index.index(corpus, show_progress=self._progress)
        return index

    def _library_mask(self, library_id: str) -> np.ndarray:
        if library_id not in self._by_library:
            self._by_library[library_id] = np.array(
                [p.library_id == library_id for p in self.passages], dtype=np.float32
            )
        return self._by_library[library_id]

    def scores(self, question: str, mask: np.ndarray | None = None) -> np.ndarray:
        folded = not has_diacritics(question)
        if folded and self._folded is None:
            self._folded = self._build(folded=True)
        index = self._folded if folded else self._index
        toks = query_tokens(question, folded)
        if not toks:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(index.get_scores(toks, weight_mask=mask), dtype=np.float32)

    def retrieve(
        self, question: str, k: int = 20, library_id: str | None = None, mask: np.ndarray | None = None
    ) -> list[Passage]:
        if library_id is not None:
            lib = self._library_mask(library_id)
            mask = lib if mask is None else mask * lib
        s = self.scores(question, mask)
        if not len(s):
            return []
        k = min(k, len(s))
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [self.passages[i].model_copy(update={"score": float(s[i])}) for i in top if s[i] > 0]


def _passages_from_search_json(result: Any) -> list[Passage]:
    """Flatten a search result (hits grouped by record, each with passages) into passages."""
    hits = result.get("hits", []) if isinstance(result, dict) else getattr(result, "hits", [])
    out: list[Passage] = []
    for hit in hits:
        get = hit.get if isinstance(hit, dict) else (lambda key, default=None, h=hit: getattr(h, key, default))
        record_id = get("record_id") or str(get("record_key", "")).split("/", 1)[-1]
        library_id = get("library_id") or str(get("record_key", "")).split("/", 1)[0]
        title = get("title", "") or ""
        for p in get("passages", []) or []:
            pg = p.get if isinstance(p, dict) else (lambda key, default=None, q=p: getattr(q, key, default))
            out.append(
                Passage(
                    chunk_id=pg("chunk_id") or f"{library_id}/{record_id}",
                    record_id=record_id,
                    library_id=library_id,
                    title=title,
                    text=pg("text", "") or "",
                    score=float(pg("score", 0.0) or get("score", 0.0) or 0.0),
                    location=pg("location"),
                    authors=list(get("authors", []) or []),
                    year=get("year"),
                )
            )
    out.sort(key=lambda p: -p.score)
    return out + _record_passages(hits)


def _record_passages(hits: Any) -> list[Passage]:
    """One catalogue-entry passage per hit (title, authors, year), after the text passages."""
    out = []
    for hit in hits:
        get = hit.get if isinstance(hit, dict) else (lambda key, default=None, h=hit: getattr(h, key, default))
        record_id = get("record_id") or str(get("record_key", "")).split("/", 1)[-1]
        library_id = get("library_id") or str(get("record_key", "")).split("/", 1)[0]
        title, authors, year = get("title", "") or "", list(get("authors", []) or []), get("year")
        text = "\n".join(x for x in (title, ", ".join(authors), str(year) if year else "") if x)
        out.append(
            Passage(
                chunk_id=f"{library_id}/{record_id}",
                record_id=record_id,
                library_id=library_id,
                title=title,
                text=text,
                score=float(get("score", 0.0) or 0.0),
                authors=authors,
                year=year,
                kind="record",
            )
        )
    return out


class SearchIndexRetriever:
    """Over the team's ``search.SearchIndex`` (hybrid). ``analyze`` turns the question into the
    index's query analysis; ``encode_query`` gives the query vector."""

    def __init__(self, index: Any, analyze: Callable[[str], Any], encode_query: Callable[[str], np.ndarray]) -> None:
        self.index = index
        self.analyze = analyze
        self.encode_query = encode_query

    def retrieve(self, question: str, k: int = 20, library_id: str | None = None) -> list[Passage]:
        filters = {"library_id": library_id} if library_id else None
        result = self.index.search(self.analyze(question), self.encode_query(question), k, filters)
        return _passages_from_search_json(result)[:k]


class AsyncClientRetriever:
    """Over an async search call returning the search service's JSON (``{"hits": [...]}``)."""

    def __init__(self, search: Callable[..., Awaitable[Any]]) -> None:
        self._search = search

    async def aretrieve(self, question: str, k: int = 20, library_id: str | None = None) -> list[Passage]:
        result = await self._search(question, k=k, library_id=library_id)
        return _passages_from_search_json(result)[:k]
