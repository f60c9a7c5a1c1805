"""The QA service: a thin HTTP shell over :class:`qa_service.pipeline.QaPipeline`.

Routes (JSON; errors are problem+json):

* ``POST /v1/ask`` ``{question, history?, library_id?, k?, mode?}`` → ``AskResult``
  (``answer, short_answer, refused, confidence, citations, passages, closest_records, …``).
* ``POST /v1/ask/stream`` — the same request, answered as server-sent events:
  ``event: meta`` (standalone query, passages), ``event: token`` (answer text, in order; in
  generative mode only sentences with a valid citation), ``event: final`` (the ``AskResult``),
  or ``event: error`` (a problem object) if something fails after the stream started.

Bad input is a 4xx: empty question, > 2,000 characters, unknown mode, generative mode without an
LLM endpoint, malformed history.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from qa_service.generative import LlmGenerator
from qa_service.pipeline import QaPipeline
from qa_service.retrieve import AsyncClientRetriever
from qa_service.types import AskResult, Turn
from services.common.app import make_app
from services.common.errors import Problem
from services.qa.schemas import MAX_QUESTION_CHARS, MODES, AskRequest

MAX_HISTORY = 6


def _bad(field: str, vi: str, en: str) -> Problem:
    return Problem(422, vi, en, errors=[{"loc": ["body", field], "msg": en}])


def validate_request(req: AskRequest, generative_available: bool) -> tuple[str, list[Turn], str]:
    q = req.question
    if not isinstance(q, str) or not q.strip():
        raise _bad("question", "Câu hỏi trống: hãy nhập câu hỏi.", "The question is empty.")
    if len(q) > MAX_QUESTION_CHARS:
        raise _bad(
            "question",
            f"Câu hỏi dài {len(q)} ký tự, vượt giới hạn {MAX_QUESTION_CHARS} ký tự.",
            f"The question has {len(q)} characters; the limit is {MAX_QUESTION_CHARS}.",
        )
    if req.mode not in MODES:
        raise _bad(
            "mode",
            f"Chế độ '{req.mode}' không tồn tại; dùng 'extractive' hoặc 'generative'.",
            f"Unknown mode '{req.mode}'; use 'extractive' or 'generative'.",
        )
    if req.mode == "generative" and not generative_available:
        raise Problem(
            400,
            "Chế độ 'generative' chưa được bật: máy chủ chưa cấu hình THUVIEN_LLM_URL.",
            "Generative mode is not available: no LLM endpoint (THUVIEN_LLM_URL) is configured.",
            errors=[{"loc": ["body", "mode"], "msg": "no LLM endpoint configured"}],
        )
    try:
        history = [Turn.model_validate(t) for t in req.history[-MAX_HISTORY:]]
    except ValidationError as exc:
        raise _bad(
            "history",
            "Lịch sử hội thoại không hợp lệ (mỗi lượt cần role và content).",
            f"Invalid history: {exc.errors()[0]['msg']}",
        ) from exc
    return q, history, req.mode


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def make_router(pipeline: QaPipeline) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["qa"])

    @router.post("/ask", response_model=AskResult)
    async def ask(req: AskRequest) -> AskResult:
        q, history, mode = validate_request(req, pipeline.generator is not None)
        return await pipeline.aask(q, history, req.library_id, req.k, mode)

    @router.post("/ask/stream")
    async def ask_stream(req: AskRequest, request: Request) -> StreamingResponse:
        q, history, mode = validate_request(req, pipeline.generator is not None)

        async def events() -> AsyncIterator[bytes]:
            try:
                async for event, data in pipeline.astream(q, history, req.library_id, req.k, mode):
                    if event == "final":
                        yield _sse("final", data.model_dump(mode="json"))
                    elif event == "token":
                        yield _sse("token", {"text": data})
                    else:
                        yield _sse(event, data)
            except Problem as exc:
                yield _sse("error", {"status": exc.status, "detail": exc.vi, "detail_en": exc.en})
            except Exception:  # the stream has started: report, never hang the client
                yield _sse(
                    "error",
                    {
                        "status": 500,
                        "detail": "Đã xảy ra lỗi khi trả lời.",
                        "detail_en": "An error occurred while answering.",
                    },
                )

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )

    return router


def search_service_retriever(
    search_client: Any, embed_query: Callable[[str], Awaitable[Any]] | None = None
) -> AsyncClientRetriever:
    """Passages from the search service: query analysed locally (``nlp.analyze``), embedded when
    an ``embed_query`` coroutine is given (hybrid), else lexical only."""
    from nlp.analyze import analyze_query

    async def search(question: str, k: int = 20, library_id: str | None = None) -> Any:
        analysis = analyze_query(question, None, segment=False)
        vector = await embed_query(analysis.dense_query) if embed_query is not None else None
        filters = {"library_id": library_id} if library_id else None
        return await search_client.search(analysis, vector, k=k, filters=filters, facets=False)

    return AsyncClientRetriever(search)


def create_app(
    pipeline: QaPipeline | None = None,
    *,
    search_client: Any = None,
    embed_query: Callable[[str], Awaitable[Any]] | None = None,
    llm_url: str | None = None,
    llm_model: str = "default",
    llm_timeout_s: float = 30.0,
    language: str = "vi",
) -> FastAPI:
    """The QA app. Give a ready ``pipeline`` (tests, benchmarks), or a ``search_client`` (the search
    service's client) from which the pipeline is built. ``llm_url`` enables generative mode."""
    if pipeline is None:
        if search_client is None:
            raise ValueError("give a pipeline or a search_client")
        pipeline = QaPipeline(search_service_retriever(search_client, embed_query), language=language)
    if llm_url and pipeline.generator is None:
        pipeline.generator = LlmGenerator(llm_url, llm_model, llm_timeout_s)
    app = make_app("qa", [make_router(pipeline)])
    app.state.pipeline = pipeline
    return app
