"""Public QA routes: POST /api/v1/ask and POST /api/v1/ask/stream (server-sent events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from services.common.auth import Reader
from services.common.errors import Problem
from services.gateway.deps import client
from services.qa.client import QaClient
from services.qa.schemas import AskRequest

router = APIRouter(prefix="/api/v1", tags=["qa"])


def get_qa(request: Request) -> QaClient:
    return client(request, "qa")  # type: ignore[return-value]


@router.post("/ask", summary="Answer a reference question from the holdings, with citations")
async def ask(req: AskRequest, _: Reader, qa: Annotated[QaClient, Depends(get_qa)]) -> dict[str, Any]:
    return await qa.ask(req.model_dump(mode="json"))


@router.post("/ask/stream", summary="The same answer as server-sent events (meta, token…, final)")
async def ask_stream(req: AskRequest, _: Reader, qa: Annotated[QaClient, Depends(get_qa)]) -> StreamingResponse:
    payload = req.model_dump(mode="json")
    stream = qa.ask_stream(payload)
    # Pull the first chunk here so a 4xx from the QA service is a problem+json, not a broken stream.
    try:
        first = await stream.__anext__()
    except StopAsyncIteration:
        first = b""
    except Problem:
        raise

    async def relay() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(
        relay(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
