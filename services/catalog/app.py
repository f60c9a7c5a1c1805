"""The catalog service: records and their full-text chunks, over the catalog store."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from catalog.ingest import import_path
from catalog.model import Chunk, ImportSummary, Record
from catalog.store import CatalogStore
from services.common.app import make_app
from services.common.errors import Problem


class UpsertRequest(BaseModel):
    records: list[Record]
    chunks: dict[str, list[Chunk]] = Field(default_factory=dict, description="record key -> chunks")


class UpsertResponse(BaseModel):
    outcomes: list[str]


class KeysRequest(BaseModel):
    keys: list[tuple[str, str]] = Field(max_length=1000)


class PendingItem(BaseModel):
    record: Record
    chunks: list[Chunk]
    content_hash: str


class IndexedRequest(BaseModel):
    items: list[tuple[str, str, str]] = Field(description="(library_id, id, content_hash)")


def create_app(store: CatalogStore):
    router = APIRouter(prefix="/v1")

    @router.post("/records/upsert", response_model=UpsertResponse)
    def upsert(req: UpsertRequest) -> UpsertResponse:
        return UpsertResponse(outcomes=store.upsert(req.records, req.chunks or None))

    @router.get("/records/{library_id}/{record_id}", response_model=Record)
    def get_record(library_id: str, record_id: str) -> Record:
        record = store.get(library_id, record_id)
        if record is None:
            raise Problem(
                404,
                f"Không có biểu ghi '{record_id}' trong thư viện '{library_id}'.",
                f"No record '{record_id}' in library '{library_id}'.",
            )
        return record

    @router.post("/records/get-many", response_model=list[Record])
    def get_many(req: KeysRequest) -> list[Record]:
        return list(store.get_many(req.keys).values())

    @router.get("/records/{library_id}/{record_id}/chunks", response_model=list[Chunk])
    def chunks_of(library_id: str, record_id: str) -> list[Chunk]:
        return store.chunks_of(library_id, record_id)

    @router.delete("/records/{library_id}/{record_id}")
    def delete(library_id: str, record_id: str) -> dict[str, bool]:
        return {"deleted": bool(store.delete(library_id, record_id))}

    @router.get("/pending", response_model=list[PendingItem])
    def pending(limit: int = Query(200, ge=1, le=5000)) -> list[PendingItem]:
        items = store.pending_index(limit)
        return [PendingItem(record=it.record, chunks=it.chunks, content_hash=it.content_hash) for it in items]

    @router.get("/pending-deletions", response_model=list[tuple[str, str]])
    def pending_deletions(limit: int = Query(1000, ge=1, le=10000)) -> list[tuple[str, str]]:
        return store.pending_deletions(limit)

    @router.post("/deletions-done")
    def deletions_done(req: KeysRequest) -> dict[str, int]:
        store.clear_deletions(req.keys)
        return {"cleared": len(req.keys)}

    @router.post("/indexed")
    def indexed(req: IndexedRequest) -> dict[str, int]:
        store.mark_indexed(req.items)
        return {"marked": len(req.items)}

    @router.post("/import", response_model=ImportSummary)
    def import_body(
        body: Annotated[bytes, Body(media_type="application/octet-stream")],
        library_id: str | None = None,
        format: str | None = None,
        filename: str | None = None,
        mapping: str | None = None,
        record_id: str | None = None,
    ) -> ImportSummary:
        """Import a file sent as the body with the same importers as ``thuvien ingest``."""
        col_map = None
        if mapping:
            try:
                col_map = json.loads(mapping)
                assert isinstance(col_map, dict)
            except (ValueError, AssertionError) as exc:
                raise Problem(
                    422,
                    "Tham số mapping phải là một đối tượng JSON.",
                    "The mapping parameter must be a JSON object.",
                ) from exc
        if format in ("json", "jsonl"):
            format = "json" if body.lstrip()[:1] == b"[" else "jsonl"
        name = Path(filename or "upload").name
        with tempfile.TemporaryDirectory(prefix="thuvien-import-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(body)
            summary = import_path(
                [path],
                library_id or "",
                store,
                fmt=format,
                mapping=col_map,
                record_id=record_id,
                progress=False,
            )
        for err in summary.errors:
            err.file = name
        return summary

    @router.get("/libraries", response_model=list[str])
    def libraries() -> list[str]:
        return store.libraries()

    @router.get("/stats")
    def stats() -> dict[str, int]:
        return {"records": store.count(), "chunks": store.count_chunks(), "pending": store.pending_count()}

    def store_reachable() -> None:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    return make_app("catalog", [router], readiness_checks={"store": store_reachable})
