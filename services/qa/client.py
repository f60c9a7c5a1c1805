"""Typed client of the QA service (in process or over HTTP)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from services.common.client import ServiceClient, _problem_from
from services.common.errors import Problem


class QaClient(ServiceClient):
    async def ask(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload``: ``{question, history?, library_id?, k?, mode?}`` → the ``AskResult`` dict."""
        return await self.post_json("/v1/ask", payload)

    async def ask_stream(self, payload: dict[str, Any]) -> AsyncIterator[bytes]:
        """The raw server-sent event bytes of ``/v1/ask/stream`` (4xx raised before the first byte)."""
        try:
            async with self._http.stream("POST", "/v1/ask/stream", json=payload) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _problem_from(resp, self.name)
                async for chunk in resp.aiter_bytes():
                    yield chunk
        except Problem:
            raise
        except Exception as exc:  # connection problems
            raise Problem(
                503,
                f"Dịch vụ '{self.name}' không trả lời; chức năng này tạm thời không dùng được.",
                f"The '{self.name}' service is not answering; this feature is unavailable for now.",
                service=self.name,
            ) from exc

    async def ask_events(self, payload: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """The stream parsed into ``(event, data)`` pairs."""
        buffer = ""
        async for chunk in self.ask_stream(payload):
            buffer += chunk.decode("utf-8")
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                event, data = "message", ""
                for line in block.split("\n"):
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                yield event, json.loads(data) if data else None
