"""Typed client of the subjects service (in process or over HTTP), used by the gateway."""

from __future__ import annotations

from typing import Any

from services.common.client import ServiceClient


class SubjectsClient(ServiceClient):
    async def suggest(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.post_json("/v1/subjects/suggest", payload)

    async def suggest_batch(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.post_json("/v1/subjects/suggest-batch", payload)

    async def learn(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.post_json("/v1/subjects/learn", payload)

    async def projects(self) -> dict[str, Any]:
        return await self.get_json("/v1/subjects/projects")

    # Annif-compatible passthrough: the same path, query, body and content type.
    async def annif(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        return await self.request(method, f"/v1/{path.lstrip('/')}", params=params, content=content, headers=headers)
