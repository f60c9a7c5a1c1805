"""Typed client of the catalog service (in process or over HTTP)."""

from __future__ import annotations

from catalog.model import Chunk, Record
from services.catalog.app import PendingItem
from services.common.client import ServiceClient, path_segment


def _record_path(library_id: str, record_id: str) -> str:
    """``/v1/records/<library_id>/<record_id>``, each id percent-encoded as one path segment (``/ ? # %`` too)."""
    return f"/v1/records/{path_segment(library_id)}/{path_segment(record_id)}"


class CatalogClient(ServiceClient):
    async def upsert(self, records: list[Record], chunks: dict[str, list[Chunk]] | None = None) -> list[str]:
        payload = {
            "records": [r.model_dump(mode="json") for r in records],
            "chunks": {k: [c.model_dump(mode="json") for c in v] for k, v in (chunks or {}).items()},
        }
        return (await self.post_json("/v1/records/upsert", payload))["outcomes"]

    async def get(self, library_id: str, record_id: str) -> Record:
        return Record.model_validate(await self.get_json(_record_path(library_id, record_id)))

    async def get_many(self, keys: list[tuple[str, str]]) -> list[Record]:
        data = await self.post_json("/v1/records/get-many", {"keys": keys}, idempotent=True)
        return [Record.model_validate(r) for r in data]

    async def chunks_of(self, library_id: str, record_id: str) -> list[Chunk]:
        data = await self.get_json(f"{_record_path(library_id, record_id)}/chunks")
        return [Chunk.model_validate(c) for c in data]

    async def pending(self, limit: int = 200) -> list[PendingItem]:
        data = await self.get_json("/v1/pending", params={"limit": limit})
        return [PendingItem.model_validate(p) for p in data]

    async def pending_deletions(self, limit: int = 1000) -> list[tuple[str, str]]:
        return [tuple(k) for k in await self.get_json("/v1/pending-deletions", params={"limit": limit})]

    async def deletions_done(self, keys: list[tuple[str, str]]) -> None:
        await self.post_json("/v1/deletions-done", {"keys": keys}, idempotent=True)

    async def delete(self, library_id: str, record_id: str) -> bool:
        resp = await self.request("DELETE", _record_path(library_id, record_id))
        return bool(resp.json()["deleted"])

    async def mark_indexed(self, items: list[tuple[str, str, str]]) -> None:
        await self.post_json("/v1/indexed", {"items": items}, idempotent=True)

    async def import_body(
        self,
        body: bytes,
        *,
        fmt: str | None = None,
        library_id: str | None = None,
        filename: str | None = None,
        mapping: str | None = None,
        record_id: str | None = None,
    ) -> dict:
        params = {
            k: v
            for k, v in {
                "format": fmt,
                "library_id": library_id,
                "filename": filename,
                "mapping": mapping,
                "record_id": record_id,
            }.items()
            if v
        }
        resp = await self.request(
            "POST",
            "/v1/import",
            params=params,
            content=body,
            headers={"content-type": "application/octet-stream"},
        )
        return resp.json()

    async def libraries(self) -> list[str]:
        return await self.get_json("/v1/libraries")

    async def stats(self) -> dict[str, int]:
        return await self.get_json("/v1/stats")
