"""The search service: a thin HTTP shell over :class:`search.index.SearchIndex`.

Routes (all JSON; errors are problem+json):

* ``POST /v1/search`` ``{analysis, vector, k, offset, filters}`` → ``SearchResult``. ``vector`` is
  the query embedding of ``analysis.restored or analysis.normalized``: a list of floats or base64
  of little-endian float32; omit it for a lexical-only search.
* ``POST /v1/documents`` ``{items: [{record, chunks}]}`` → the index documents of those records
  (each with ``embed_text``, the text to embed as a passage).
* ``POST /v1/upsert`` ``{docs, vectors, model_id?}``: replaces all documents of the records touched.
* ``POST /v1/delete`` ``{keys: ["library_id/record_id", …]}``; ``POST /v1/save``.
* ``GET /v1/stats``; ``GET /v1/known/{field}`` (library_id, language, type, subject, year).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np
from fastapi import APIRouter
from prometheus_client import Counter
from pydantic import BaseModel, Field, ValidationError

from catalog.model import Chunk, Record
from search.dense import ModelMismatchError
from search.documents import IndexDoc, docs_for_record
from search.filters import FILTER_FIELDS, Filters, UnknownFilterValue
from search.index import SearchIndex
from search.results import QueryInput, SearchResult
from services.common.app import make_app
from services.common.errors import Problem
from services.common.heap import release_free_heap

INDEX_SAVES = Counter("thuvien_index_saves", "Index generations written by the search service (POST /v1/save).")

MAX_K = 1000
MAX_OFFSET = 10_000


class SearchRequest(BaseModel):
    analysis: QueryInput
    vector: list[float] | str | None = Field(None, description="list of floats or base64 float32")
    k: int = Field(10, ge=0, le=MAX_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    filters: Filters | None = None
    facets: bool = True


class DocumentsItem(BaseModel):
    record: Record
    chunks: list[Chunk] = Field(default_factory=list)


class DocumentsRequest(BaseModel):
    items: list[DocumentsItem]


class UpsertRequest(BaseModel):
    docs: list[IndexDoc]
    vectors: list[list[float]] | str = Field(description="one row per doc, or base64 float32 (n × dim)")
    model_id: str | None = Field(None, description="the encoder's model_id; refused if it differs")


class DeleteRequest(BaseModel):
    keys: list[str] = Field(description="record keys 'library_id/record_id'")


def _decode(vector: list[float] | list[list[float]] | str, dim: int, field: str) -> np.ndarray:
    if isinstance(vector, str):
        try:
            raw = base64.b64decode(vector, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Problem(422, f"'{field}' không phải base64 hợp lệ.", f"'{field}' is not valid base64.") from exc
        if len(raw) % (4 * dim):
            raise Problem(
                422,
                f"'{field}' có {len(raw)} byte, không chia hết cho {dim} số float32.",
                f"'{field}' has {len(raw)} bytes, not a multiple of {dim} float32 values.",
            )
        return np.frombuffer(raw, dtype="<f4").reshape(-1, dim).astype(np.float32)
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except ValueError as exc:
        raise Problem(422, f"'{field}' không phải mảng số.", f"'{field}' is not a numeric array.") from exc
    return arr


def _bad(exc: Exception, status: int = 422) -> Problem:
    return Problem(status, f"Dữ liệu không hợp lệ: {exc}", f"Invalid input: {exc}")


def create_app(index: SearchIndex) -> Any:
    router = APIRouter(prefix="/v1", tags=["search"])

    @router.post("/search", response_model=SearchResult)
    def search(req: SearchRequest) -> SearchResult:
        qvec = None
        if req.vector is not None:
            qvec = _decode(req.vector, index.dim, "vector")
            if qvec.size != index.dim:
                raise Problem(
                    422,
                    f"Vector truy vấn có {qvec.size} chiều, chỉ mục cần {index.dim} (mô hình {index.model_id}).",
                    f"The query vector has {qvec.size} dimensions; the index needs {index.dim} "
                    f"(model {index.model_id}).",
                )
            qvec = qvec.reshape(-1)
        try:
            return index.search(req.analysis, qvec, k=req.k, filters=req.filters, offset=req.offset, facets=req.facets)
        except UnknownFilterValue as exc:
            shown = ", ".join(exc.known[:20]) or "—"
            raise Problem(
                422,
                f"Giá trị '{exc.value}' của bộ lọc '{exc.field}' không tồn tại. Các giá trị có: {shown}.",
                f"Unknown value '{exc.value}' for filter '{exc.field}'. Known values: {shown}.",
                errors=[{"loc": ["body", "filters", exc.field], "msg": f"unknown value {exc.value!r}"}],
            ) from exc
        except ModelMismatchError as exc:
            raise _bad(exc, 409) from exc
        except ValueError as exc:
            raise _bad(exc) from exc

    @router.post("/documents", response_model=list[IndexDoc])
    def documents(req: DocumentsRequest) -> list[IndexDoc]:
        out: list[IndexDoc] = []
        for i, item in enumerate(req.items):
            try:
                out.extend(docs_for_record(item.record, item.chunks))
            except ValueError as exc:
                raise Problem(422, f"Mục {i}: {exc}", f"Item {i}: {exc}") from exc
        return out

    @router.post("/upsert")
    def upsert(req: UpsertRequest) -> dict[str, int]:
        vecs = _decode(req.vectors, index.dim, "vectors")
        if len(req.docs) == 0 and vecs.size == 0:
            return {"added": 0, "documents": index.count()}
        try:
            added = index.upsert(
                req.docs, vecs.reshape(len(req.docs), -1) if vecs.size else vecs, model_id=req.model_id
            )
        except ModelMismatchError as exc:
            raise Problem(
                409,
                f"Vector không cùng mô hình với chỉ mục ({exc}); cần lập chỉ mục lại.",
                f"The vectors do not match the index model ({exc}); re-index the collection.",
            ) from exc
        except ValueError as exc:
            raise _bad(exc) from exc
        return {"added": added, "documents": index.count()}

    @router.post("/delete")
    def delete(req: DeleteRequest) -> dict[str, int]:
        return {"removed": index.delete_records(req.keys), "documents": index.count()}

    @router.post("/save")
    def save() -> dict[str, int]:
        index.save()
        INDEX_SAVES.inc()
        release_free_heap()  # the old generation's arrays were just freed
        return {"generation": index.generation}

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        return index.stats()

    @router.get("/known/{field}")
    def known(field: str) -> list[str]:
        if field not in FILTER_FIELDS:
            raise Problem(
                404,
                f"Không có bộ lọc '{field}'; các bộ lọc: {', '.join(FILTER_FIELDS)}.",
                f"No filter named '{field}'; filters: {', '.join(FILTER_FIELDS)}.",
            )
        return index.known_values(field)

    app = make_app("search", [router])
    app.state.index = index
    return app


__all__ = ["create_app", "SearchRequest", "UpsertRequest", "DeleteRequest", "ValidationError"]
