"""The QA pipeline: standalone query -> retrieve -> rerank -> answer -> cite -> refuse.

``QaPipeline.ask`` is the synchronous extractive path (the benchmark and the service's default);
``QaPipeline.aask``/``astream`` add generative answering through an OpenAI-compatible endpoint with
a fallback to the extractive answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from qa_service.catalogue import CatalogueFact, catalogue_fact
from qa_service.cite import build_citations, check_citations
from qa_service.guard import looks_like_instruction
from qa_service.questions import has_language_content, question_type, rewrite_follow_up
from qa_service.refuse import Answerability, closest_records
from qa_service.rerank import Candidate, SentenceRanker
from qa_service.span import SpanModel
from qa_service.types import REFUSAL_EN, REFUSAL_VI, AskResult, Citation, Mode, Passage, QuestionType, Turn

YESNO_MIN_COVERAGE = 0.8


@dataclass
class Evidence:
    """Everything the answer steps need, computed once per question."""

    question: str
    standalone: str
    qtype: QuestionType
    passages: list[Passage]
    candidates: list[Candidate] = field(default_factory=list)
    probability: float = 0.0
    refused: bool = True
    no_language: bool = False
    fact: CatalogueFact | None = None


class QaPipeline:
    def __init__(
        self,
        retriever: Any,
        *,
        ranker: SentenceRanker | None = None,
        answerability: Answerability | None = None,
        generator: Any | None = None,
        spans: SpanModel | None = None,
        retrieve_k: int = 20,
        language: str = "vi",
    ) -> None:
        self.retriever = retriever
        self.ranker = ranker or SentenceRanker(idf=getattr(retriever, "idf", None))
        self.answerability = answerability or Answerability()
        self.generator = generator
        self.spans = spans or SpanModel()
        self.retrieve_k = retrieve_k
        self.language = language

    # --- evidence -----------------------------------------------------------------------------
    def _analyse(self, question: str, history: Sequence[Turn]) -> tuple[str, QuestionType]:
        standalone = rewrite_follow_up(question, list(history))
        return standalone, question_type(question)

    def _weigh(self, ev: Evidence) -> Evidence:
        # Text passages come first; catalogue entries (kind "record") after them are not quoted as sentences.
        text = [p for p in ev.passages if p.kind == "chunk"]
        cands = self.ranker.rank(ev.standalone, ev.qtype, text)
        ev.candidates = [c for c in cands if not looks_like_instruction(c.text)]
        ev.probability = self.answerability.probability(ev.candidates, text)
        ev.refused = not ev.candidates or self.answerability.refuse(ev.probability)
        if not ev.refused:  # the answer sentence: re-ordered by the answer spans the top ones hold
            ev.candidates = self.spans.rerank(ev.standalone, ev.qtype, ev.candidates)
        ev.fact = catalogue_fact(ev.standalone, ev.passages, self.language)
        if ev.fact is not None:
            ev.refused = False
        return ev

    def evidence(self, question: str, history: Sequence[Turn] = (), library_id: str | None = None) -> Evidence:
        standalone, qtype = self._analyse(question, history)
        if not has_language_content(standalone):
            return Evidence(question, standalone, qtype, [], no_language=True)
        passages = self.retriever.retrieve(standalone, k=self.retrieve_k, library_id=library_id)
        return self._weigh(Evidence(question, standalone, qtype, passages))

    async def aevidence(self, question: str, history: Sequence[Turn] = (), library_id: str | None = None) -> Evidence:
        standalone, qtype = self._analyse(question, history)
        if not has_language_content(standalone):
            return Evidence(question, standalone, qtype, [], no_language=True)
        if hasattr(self.retriever, "aretrieve"):
            passages = await self.retriever.aretrieve(standalone, k=self.retrieve_k, library_id=library_id)
            return await asyncio.to_thread(self._weigh, Evidence(question, standalone, qtype, passages))
        return await asyncio.to_thread(self.evidence, question, history, library_id)

    # --- answers ------------------------------------------------------------------------------
    def refusal(self, ev: Evidence, k: int = 5) -> AskResult:
        return AskResult(
            answer=REFUSAL_EN if self.language == "en" else REFUSAL_VI,
            refused=True,
            confidence=round(1.0 - ev.probability, 4) if not ev.no_language else 1.0,
            passages=ev.passages[:k],
            closest_records=closest_records(ev.passages, 3),
            question_type=ev.qtype,
            standalone_query=ev.standalone,
        )

    def short_answer(self, ev: Evidence, spans: SpanModel | None = None) -> str | None:
        """The short answer held by the answer sentence (``ev.candidates[0]``), or None. Its span
        comes from ``spans`` when given, else from the pipeline's span model (the span it chose
        while re-ordering the sentences, when it did)."""
        top = ev.candidates[0]
        if spans is None and top.short is not None:
            short = top.short
        else:
            short = (spans or self.spans).best(top.text, ev.standalone, ev.qtype)
        if ev.qtype == "yesno" and top.features.get("cov", 0.0) < YESNO_MIN_COVERAGE:
            return None  # "Có"/"Không" only when the sentence states (almost) the whole question
        if ev.qtype == "definition" and short and len(short.split()) > 12:
            return None
        return short

    def extractive(self, ev: Evidence, k: int = 5) -> AskResult:
        if ev.refused:
            return self.refusal(ev, k)
        if ev.fact is not None:
            return self.from_catalogue(ev, k)
        answer = ev.candidates[0].text
        short = self.short_answer(ev)
        citations = check_citations(build_citations(ev.candidates, ev.passages, limit=k), ev.passages)
        shown = ev.passages[:k]
        shown_ids = {p.chunk_id for p in shown}
        shown = shown + [p for p in ev.passages[k:] if p.chunk_id in {c.chunk_id for c in citations} - shown_ids]
        return AskResult(
            answer=answer,
            short_answer=short,
            refused=False,
            confidence=round(ev.probability, 4),
            citations=citations,
            passages=shown,
            question_type=ev.qtype,
            standalone_query=ev.standalone,
        )

    def from_catalogue(self, ev: Evidence, k: int = 5) -> AskResult:
        """An answer read from the named record's catalogue entry, cited to it."""
        p = ev.fact.passage
        quote = p.title if p.title.casefold() in p.text.casefold() else ""
        citation = Citation(
            record_id=p.record_id,
            library_id=p.library_id,
            chunk_id=p.chunk_id,
            title=p.title,
            quote=quote,
            location=p.location,
        )
        return AskResult(
            answer=ev.fact.answer,
            short_answer=ev.fact.short,
            refused=False,
            confidence=1.0,
            citations=check_citations([citation], ev.passages),
            passages=ev.passages[:k],
            question_type=ev.qtype,
            standalone_query=ev.standalone,
        )

    def ask(self, question: str, history: Sequence[Turn] = (), library_id: str | None = None, k: int = 5) -> AskResult:
        return self.extractive(self.evidence(question, history, library_id), k)

    async def aask(
        self,
        question: str,
        history: Sequence[Turn] = (),
        library_id: str | None = None,
        k: int = 5,
        mode: Mode = "extractive",
    ) -> AskResult:
        final: AskResult | None = None
        async for event, data in self.astream(question, history, library_id, k, mode):
            if event == "final":
                final = data
        assert final is not None
        return final

    async def astream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        library_id: str | None = None,
        k: int = 5,
        mode: Mode = "extractive",
    ) -> AsyncIterator[tuple[str, Any]]:
        """Events: ("meta", {...}), ("token", str)*, ("final", AskResult)."""
        ev = await self.aevidence(question, history, library_id)
        yield (
            "meta",
            {
                "standalone_query": ev.standalone,
                "question_type": ev.qtype,
                "mode": mode,
                "passages": [p.model_dump() for p in ev.passages[:k]],
            },
        )
        extractive = self.extractive(ev, k)
        if mode == "generative" and self.generator is not None and not ev.refused:
            result: AskResult | None = None
            async for event, data in self.generator.stream(ev, extractive, k):
                if event == "token":
                    yield "token", data
                elif event == "final":
                    result = data
            yield "final", result or extractive
            return
        if mode == "generative" and not ev.refused:
            extractive.fallback_reason = "no_llm_endpoint"
        for piece in _pieces(extractive.answer):
            yield "token", piece
        yield "final", extractive


def _pieces(text: str, words: int = 4) -> list[str]:
    parts = text.split(" ")
    return [
        " ".join(parts[i : i + words]) + (" " if i + words < len(parts) else "") for i in range(0, len(parts), words)
    ]
