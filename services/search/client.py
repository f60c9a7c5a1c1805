"""Typed client of the search service (in process or over HTTP)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from catalog.model import Chunk, Record
from services.common.client import ServiceClient


def _b64(x: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def _dump(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


class SearchClient(ServiceClient):
    async def search(
        self,
        analysis: Any,
        vector: Sequence[float] | np.ndarray | None,
        *,
        k: int = 10,
        offset: int = 0,
        filters: Any = None,
        facets: bool = True,
    ) -> dict[str, Any]:
        """``analysis``: QueryAnalysis (or its dict); ``vector``: embedding of ``restored or normalized``.
        Returns the ``SearchResult`` as a dict."""
        if isinstance(filters, dict):
            filters = {k_: v for k_, v in filters.items() if v is not None} or None
        payload = {
            "analysis": _dump(analysis),
            "vector": None if vector is None else _b64(np.asarray(vector, dtype=np.float32)),
            "k": k,
            "offset": offset,
            "filters": _dump(filters),
            "facets": facets,
        }
        return await self.post_json("/v1/search", payload, idempotent=True)

    async def documents(self, items: Sequence[tuple[Record, list[Chunk]]]) -> list[dict[str, Any]]:
        """Index documents (dicts with ``embed_text``) of records with their chunks."""
        payload = {"items": [{"record": _dump(r), "chunks": [_dump(c) for c in cs]} for r, cs in items]}
        return await self.post_json("/v1/documents", payload, idempotent=True)

    async def upsert(
        self, docs: Sequence[Any], vectors: np.ndarray | Sequence[Sequence[float]], model_id: str | None = None
    ) -> int:
        payload = {
            "docs": [_dump(d) for d in docs],
            "vectors": _b64(np.asarray(vectors, dtype=np.float32)),
            "model_id": model_id,
        }
        return (await self.post_json("/v1/upsert", payload, idempotent=True))["added"]

    async def delete(self, keys: Sequence[str]) -> int:
        return (await self.post_json("/v1/delete", {"keys": list(keys)}, idempotent=True))["removed"]

    async def save(self) -> int:
        return (await self.post_json("/v1/save"))["generation"]

    async def stats(self) -> dict[str, Any]:
        return await self.get_json("/v1/stats")

    async def known(self, field: str) -> list[str]:
        return await self.get_json(f"/v1/known/{field}")
