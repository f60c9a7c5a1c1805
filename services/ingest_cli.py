"""``thuvien ingest``: through the running server if there is one, else in this process."""

from __future__ import annotations

from pathlib import Path

import httpx
from tqdm import tqdm

from catalog.model import ImportProblem, ImportSummary
from services.common.settings import Settings
from services.gateway.lock import DataDirLock, running_server_url
from services.gateway.pipeline import IngestPipeline
from services.suite import build_suite


async def run_ingest(
    paths: list[Path],
    library_id: str,
    settings: Settings,
    *,
    fmt: str | None = None,
    mapping: dict | None = None,
    record_id: str | None = None,
) -> ImportSummary:
    url = running_server_url(settings.data_dir)
    if url:
        return await _ingest_via_server(
            url, paths, library_id, fmt=fmt, mapping=mapping, record_id=record_id, api_key=settings.api_key
        )
    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    try:
        from catalog.ingest import import_path
        from catalog.store import CatalogStore

        store = CatalogStore(settings.db_url)
        summary = import_path(paths, library_id, store, fmt=fmt, mapping=mapping, record_id=record_id, progress=True)
        _audit(settings, paths, library_id, summary)
        suite = build_suite(settings)
        try:
            with tqdm(desc="indexing", unit="record") as bar:
                await IngestPipeline(suite.clients).index_pending(progress=bar.update)
        finally:
            await suite.aclose()
        return summary
    finally:
        lock.release()


async def _ingest_via_server(
    url: str,
    paths: list[Path],
    library_id: str,
    *,
    fmt: str | None,
    mapping: dict | None,
    record_id: str | None,
    api_key: str | None = None,
) -> ImportSummary:
    import json

    total = ImportSummary()
    headers = {"X-API-Key": api_key} if api_key else {}
    async with httpx.AsyncClient(base_url=url, timeout=3600, headers=headers) as http:
        for path in tqdm(paths, desc=f"sending to {url}", unit="file"):
            params = {"library_id": library_id, "filename": path.name}
            if fmt:
                params["format"] = fmt
            if mapping:
                params["mapping"] = json.dumps(mapping, ensure_ascii=False)
            if record_id:
                params["record_id"] = record_id
            resp = await http.post("/api/v1/records/import", params=params, content=path.read_bytes())
            data = resp.json()
            if resp.status_code >= 400:
                reason = data.get("detail", "")
                if resp.status_code in (401, 403):
                    reason += " (THUVIEN_API_KEY: a librarian key of this library, from `thuvien keys create`)"
                total.errors.append(ImportProblem(file=str(path), position="file", reason=reason))
                continue
            part = ImportSummary.model_validate(data)
            total.merge(part)
    return total


def _audit(settings: Settings, paths: list[Path], library_id: str, summary: ImportSummary) -> None:
    """One audit event for an import run from the command line (actor ``cli``)."""
    from audit import AuditLog

    AuditLog(settings.security_db_url).record(
        actor="cli",
        role="admin",
        action="records.import",
        target=", ".join(str(p) for p in paths)[:500],
        library_id=library_id,
        details={
            "imported": summary.imported,
            "updated": summary.updated,
            "skipped": summary.skipped,
            "errors": len(summary.errors),
        },
    )
