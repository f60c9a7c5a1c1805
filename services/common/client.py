"""A small typed client base: the same calls in process (ASGI) or over HTTP.

Embedded topology: ``ServiceClient(name, app=some_fastapi_app)`` talks to the app in this process
through ``httpx.ASGITransport``. Distributed topology: ``ServiceClient(name, base_url=URL)``.
A service's problem+json error is re-raised as :class:`~services.common.errors.Problem` with the same
status, so the gateway passes 4xx through; an unreachable service becomes a 503 naming it.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from services.common.errors import Problem


class ServiceClient:
    def __init__(
        self, name: str, *, app: FastAPI | None = None, base_url: str | None = None, timeout: float = 30.0
    ) -> None:
        if (app is None) == (base_url is None):
            raise ValueError("give exactly one of app= or base_url=")
        self.name = name
        transport = httpx.ASGITransport(app=app) if app is not None else None
        self._http = httpx.AsyncClient(
            transport=transport, base_url=base_url or f"http://{name}.internal", timeout=timeout
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = await self._http.request(method, path, **kwargs)
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.ReadTimeout,
            httpx.RemoteProtocolError,
        ) as exc:
            raise Problem(
                503,
                f"Dịch vụ '{self.name}' không trả lời; chức năng này tạm thời không dùng được.",
                f"The '{self.name}' service is not answering; this feature is unavailable for now.",
                service=self.name,
            ) from exc
        if resp.status_code >= 400:
            raise _problem_from(resp, self.name)
        return resp

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        return (await self.request("GET", path, **kwargs)).json()

    async def post_json(self, path: str, payload: Any = None, **kwargs: Any) -> Any:
        return (await self.request("POST", path, json=payload, **kwargs)).json()

    async def aclose(self) -> None:
        await self._http.aclose()


def _problem_from(resp: httpx.Response, service: str) -> Problem:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    status = resp.status_code if resp.status_code < 500 else 502 if resp.status_code != 503 else 503
    extra = (
        {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "instance"}}
        if isinstance(body, dict)
        else {}
    )
    extra.setdefault("service", service)
    errors = extra.pop("errors", None)
    msg = detail if isinstance(detail, str) else f"{service}: HTTP {resp.status_code}"
    return Problem(status, msg, msg, errors=errors, **extra)
