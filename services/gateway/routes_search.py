"""Public search and record routes: GET /api/v1/search, records by id, records in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from auth.roles import ALL_LIBRARIES, Principal
from auth.scope import libraries_in_import
from catalog.model import RECORD_TYPES, Record
from services.common.auth import Librarian, Reader, audit, check_library
from services.common.errors import Problem
from services.gateway import search_cache
from services.gateway.deps import get_client
from services.gateway.index_scheduler import IndexScheduler

router = APIRouter(prefix="/api/v1", tags=["search"])
# An id taken from the URL path and put into the path of a call to another service: control characters (httpx
# refuses them: a 500, found by schemathesis) and ? # % (they would change that call's URL) are refused with a 422.
PathId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00-\x1f\x7f?#%]+$",
        description="An id (no control characters, ? # %)",
    ),
]


class Passage(BaseModel):
    chunk_id: str
    text: str
    snippet: str | None = Field(None, description="HTML-escaped best window of the passage, query terms in <mark>")
    score: float
    location: str | None = None


class Hit(BaseModel):
    id: str
    library_id: str
    title: str
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    score: float
    snippet: str
    passages: list[Passage] = Field(default_factory=list)


class SearchResponse(BaseModel):
    query: dict[str, Any]
    total: int
    hits: list[Hit]
    facets: dict[str, Any]
    did_you_mean: str | None = None


class IngestResponse(BaseModel):
    imported: int
    updated: int
    skipped: int
    errors: list[dict[str, Any]] = Field(default_factory=list)


async def index_now(request: Request) -> None:
    """Return once what this request wrote is in the index: a run of the app's scheduler that started after the
    write (one run for every write arriving meanwhile: group commit); its error becomes this request's error."""
    scheduler: IndexScheduler = request.app.state.index_scheduler
    await scheduler.index()


def _unknown(param: str, value: str, known: list[str]) -> Problem:
    shown = ", ".join(sorted(known)[:20]) or "—"
    return Problem(
        422,
        f"Giá trị '{value}' của tham số '{param}' không tồn tại. Các giá trị có: {shown}.",
        f"Unknown value '{value}' for parameter '{param}'. Known values: {shown}.",
        errors=[{"loc": ["query", param], "msg": f"unknown value {value!r}"}],
    )


@router.get("/search", response_model=SearchResponse, summary="Search the union catalogue and full text")
async def search(
    request: Request,
    _: Reader,
    q: Annotated[str, Query(description="Vietnamese (with or without diacritics) or English")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=1000)] = 0,
    library_id: str | None = None,
    language: str | None = None,
    year_from: Annotated[int | None, Query(ge=0, le=2100)] = None,
    year_to: Annotated[int | None, Query(ge=0, le=2100)] = None,
    type: str | None = None,
    subject: str | None = None,
    nlp=Depends(get_client("nlp")),
    embedding=Depends(get_client("embedding")),
    search_svc=Depends(get_client("search")),
) -> SearchResponse:
    limit = request.app.state.settings.max_query_chars
    if len(q) > limit:
        raise Problem(
            422,
            f"Câu truy vấn dài {len(q)} ký tự, vượt quá giới hạn {limit} ký tự.",
            f"The query is {len(q)} characters long; the limit is {limit}.",
            errors=[{"loc": ["query", "q"], "msg": f"longer than {limit} characters"}],
        )
    if year_from is not None and year_to is not None and year_from > year_to:
        raise Problem(
            422,
            "year_from phải nhỏ hơn hoặc bằng year_to.",
            "year_from must not be greater than year_to.",
            errors=[{"loc": ["query", "year_from"], "msg": "greater than year_to"}],
        )
    if type is not None and type not in RECORD_TYPES:
        raise _unknown("type", type, list(RECORD_TYPES))
    # The shared result cache (Redis, THUVIEN_REDIS_URL), invalidated by every index change.
    cached = await search_cache.lookup(
        request.app,
        {"q": q, "k": k, "offset": offset, "library_id": library_id, "language": language}
        | {"year_from": year_from, "year_to": year_to, "type": type, "subject": subject},
    )
    if cached.hit is not None:
        return cached.hit
    analysis = await nlp.analyze(q)
    if not analysis.tokens:
        raise Problem(
            422,
            "Câu truy vấn không có chữ hoặc số nào để tìm.",
            "The query has no letters or digits to search for.",
            errors=[{"loc": ["query", "q"], "msg": "no searchable content"}],
        )
    dense_text = analysis.dense_query
    qvec = (await embedding.embed([dense_text], "query"))[0]
    filters = {
        "library_id": library_id,
        "language": language,
        "year_from": year_from,
        "year_to": year_to,
        "type": type,
        "subject": subject,
    }
    result = await search_svc.search(analysis, qvec, k=k, offset=offset, filters=filters)
    hits = [
        Hit(
            id=h["record_id"],
            library_id=h["library_id"],
            title=h.get("title") or "",
            authors=h.get("authors") or [],
            year=h.get("year"),
            score=float(h["score"]),
            snippet=h.get("snippet") or "",
            passages=[
                Passage(**{k: p.get(k) for k in ("chunk_id", "text", "snippet", "score", "location")})
                for p in h.get("passages") or []
            ],
        )
        for h in result["hits"]
    ]
    restored = analysis.restored
    did_you_mean = restored if restored and restored != analysis.normalized else None
    return await cached.remember(
        SearchResponse(
            query=analysis.model_dump(),
            total=result["total"],
            hits=hits,
            facets=result["facets"],
            did_you_mean=did_you_mean,
        )
    )


@router.get("/records/{library_id}/{record_id}", response_model=Record, tags=["records"])
async def get_record(
    library_id: PathId, record_id: PathId, _: Reader, catalog=Depends(get_client("catalog"))
) -> Record:
    return await catalog.get(library_id, record_id)


@router.delete("/records/{library_id}/{record_id}", tags=["records"], summary="Delete a record and its passages")
async def delete_record(
    request: Request,
    library_id: PathId,
    record_id: PathId,
    principal: Librarian,
    catalog=Depends(get_client("catalog")),
) -> dict[str, bool]:
    check_library(request, principal, library_id)
    if not await catalog.delete(library_id, record_id):
        raise Problem(
            404,
            f"Không có biểu ghi '{record_id}' trong thư viện '{library_id}'.",
            f"No record '{record_id}' in library '{library_id}'.",
        )
    await audit(request, principal, "records.delete", target=f"{library_id}/{record_id}", library_id=library_id)
    await index_now(request)
    return {"deleted": True}


async def _import(
    request: Request,
    catalog,
    principal: Principal,
    *,
    fmt: str | None,
    library_id: str | None,
    filename: str | None = None,
    mapping: str | None = None,
    record_id: str | None = None,
) -> IngestResponse:
    body = await request.body()
    limit = request.app.state.settings.max_body_bytes
    if len(body) > limit:
        raise Problem(413, f"Dữ liệu gửi lên vượt quá {limit} byte.", f"The body exceeds {limit} bytes.")
    if not body.strip():
        raise Problem(422, "Dữ liệu gửi lên trống; không có gì được ghi.", "The body is empty; nothing was written.")
    bound = principal.enforced and principal.library_id not in (None, ALL_LIBRARIES)
    if bound:  # a librarian key writes only its own library: rows naming another are refused before any write
        library_id = library_id or principal.library_id
        check_library(request, principal, library_id)
        wanted = await run_in_threadpool(
            libraries_in_import, body, library_id, fmt=fmt, filename=filename, mapping=mapping, record_id=record_id
        )
        check_library(request, principal, wanted)
    summary = await catalog.import_body(
        body, fmt=fmt, library_id=library_id, filename=filename, mapping=mapping, record_id=record_id
    )
    if summary["imported"] + summary["updated"] + summary["skipped"] == 0:
        raise Problem(
            422,
            "Không có biểu ghi hợp lệ nào; không có gì được ghi.",
            "No valid record; nothing was written.",
            errors=summary["errors"],
        )
    await audit(
        request,
        principal,
        "records.import",
        target=filename or record_id or request.url.path,
        library_id=library_id,
        format=fmt,
        record_id=record_id,
        imported=summary["imported"],
        updated=summary["updated"],
        skipped=summary["skipped"],
        errors=len(summary["errors"]),
        bytes=len(body),
    )
    await index_now(request)
    return IngestResponse(**summary)


@router.post(
    "/records",
    response_model=IngestResponse,
    tags=["records"],
    summary="Add or update records (JSON list or JSONL, default schema); searchable on return",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
            "required": True,
        }
    },
)
async def post_records(
    request: Request,
    principal: Librarian,
    library_id: Annotated[str | None, Query(description="Default library for rows without one")] = None,
    catalog=Depends(get_client("catalog")),
) -> IngestResponse:
    return await _import(request, catalog, principal, fmt="jsonl", library_id=library_id)


@router.post(
    "/records/import",
    response_model=IngestResponse,
    tags=["records"],
    summary="Import a file (MARC21, MARCXML, CSV, JSONL, TXT, EPUB, PDF) sent as the body",
    openapi_extra={
        "requestBody": {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "required": True,
        }
    },
)
async def import_file(
    request: Request,
    principal: Librarian,
    library_id: Annotated[str, Query(min_length=1, description="Library of the records")],
    format: Annotated[str | None, Query(description="marc, marcxml, csv, jsonl, json, txt, epub, pdf")] = None,
    filename: Annotated[
        str | None, Query(max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$", description="No control characters")
    ] = None,
    mapping: Annotated[str | None, Query(description="Column mapping as JSON")] = None,
    record_id: Annotated[str | None, Query(description="Attach a digitized file to this record")] = None,
    catalog=Depends(get_client("catalog")),
) -> IngestResponse:
    return await _import(
        request,
        catalog,
        principal,
        fmt=format,
        library_id=library_id,
        filename=filename,
        mapping=mapping,
        record_id=record_id,
    )


@router.get("/libraries", tags=["records"], summary="The libraries in the union catalogue")
async def libraries(request: Request, _: Reader, catalog=Depends(get_client("catalog"))) -> list[dict[str, str]]:
    names = request.app.state.settings.library_names()
    return [{"id": lib, "name": names.get(lib, lib)} for lib in await catalog.libraries()]
