"""FastAPI app of the subjects service.

thuvien API (the gateway exposes it as ``/api/v1/subjects/...``):
    POST /v1/subjects/suggest, /v1/subjects/suggest-batch, /v1/subjects/learn; GET /v1/subjects/projects
Annif-compatible API (same paths, form fields and JSON as Annif 1.x's OpenAPI spec):
    GET /v1/, /v1/vocabs, /v1/projects, /v1/projects/{id}
    POST /v1/projects/{id}/suggest (form), /v1/projects/{id}/suggest-batch, /v1/projects/{id}/learn
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI, Form, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from services.common.app import make_app
from services.common.errors import Problem
from services.subjects.schemas import (
    BatchItem,
    LearnRequest,
    LearnResponse,
    SuggestBatchRequest,
    SuggestionOut,
    SuggestRequest,
    SuggestResponse,
)
from subjects.project import Project, ProjectStore, UnknownProjectError, UnknownVocabularyError
from subjects.types import Document

log = logging.getLogger("thuvien.subjects")
API_VERSION = "1.4.3-thuvien"
STATIC_DIR = Path(__file__).resolve().parent / "static"


class _LazyEncoder:
    """Creates the (slow to load) encoder on first use, so the service starts fast."""

    def __init__(self, factory) -> None:
        self._factory = factory
        self._enc = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._enc is None:
                self._enc = self._factory()
        return self._enc

    def encode_queries(self, texts):
        return self._get().encode_queries(texts)

    def encode_passages(self, texts, batch_size: int = 32):
        return self._get().encode_passages(texts)


def _not_found_project(pid: str) -> Problem:
    return Problem(404, f"Không có dự án chủ đề '{pid}'.", f"Project '{pid}' not found", project_id=pid)


def _not_found_vocab(vid: str) -> Problem:
    return Problem(
        404, f"Không có bộ từ vựng hay dự án chủ đề '{vid}'.", f"No vocabulary or project '{vid}'", vocab=vid
    )


def _empty_text() -> Problem:
    return Problem(
        400,
        "Văn bản trống: hãy nhập nhan đề, tóm tắt hoặc nội dung.",
        "Empty text: give a title, summary or text.",
        errors=[{"loc": ["body", "text"], "msg": "empty"}],
    )


def _untrained(pid: str) -> Problem:
    return Problem(503, f"Dự án '{pid}' chưa được huấn luyện.", f"Project '{pid}' is not trained", project_id=pid)


def create_app(
    data_dir: Path | None = None,
    *,
    store: ProjectStore | None = None,
    encoder: Any = None,
    max_chars: int = 20_000,
    models_dir: Path | None = None,
    cache_dir: Path | None = None,
    embedding_backend: str = "auto",
) -> FastAPI:
    """The subjects service. ``store`` wins over ``data_dir``; ``encoder`` defaults to the project's
    cached encoder, created lazily (only projects with embedding members need it)."""
    if store is None:
        if data_dir is None:
            from services.common.settings import get_settings

            s = get_settings()
            data_dir, models_dir, cache_dir = s.data_dir, s.models_dir, s.cache_dir
            embedding_backend = s.embedding_backend
        if encoder is None:
            from subjects.embedding import make_encoder

            encoder = _LazyEncoder(
                lambda: make_encoder(cache_dir or Path(data_dir) / "cache", models_dir, embedding_backend)
            )
        store = ProjectStore(Path(data_dir), {"encoder": encoder})

    def resolve(vocab_or_project: str) -> Project:
        try:
            return store.get(vocab_or_project)
        except UnknownProjectError:
            pass
        for pid in store.project_ids():
            try:
                p = store.get(pid)
            except Exception:  # noqa: BLE001 - a broken project must not hide the others
                continue
            if p.config.vocab == vocab_or_project:
                return p
        raise _not_found_vocab(vocab_or_project)

    def project_or_404(pid: str) -> Project:
        try:
            return store.get(pid)
        except UnknownProjectError:
            raise _not_found_project(pid) from None

    def run_suggest(p: Project, texts: list[str], limit: int, threshold: float, lang: str | None):
        if not p.is_trained:
            raise _untrained(p.config.id)
        res = p.suggest_batch(texts, limit, threshold, max_chars=max_chars)
        out = []
        for r in res:
            items = []
            for s in r.results:
                c = p.vocab.concepts.get(s.uri)
                items.append(
                    SuggestionOut(
                        uri=s.uri,
                        label=p.vocab.label(s.uri, lang or p.config.language),
                        score=round(s.score, 6),
                        sources=s.sources,
                        notation=c.notation if c else None,
                    )
                )
            out.append((items, r.warnings))
        return out

    # ------------------------------------------------------------------ thuvien API
    native = APIRouter(prefix="/v1/subjects", tags=["subjects"])

    @native.get("/projects")
    def native_projects() -> dict:
        return {"projects": [_project_json(store.get(pid)) for pid in store.project_ids()]}

    @native.post("/suggest", response_model=SuggestResponse)
    def native_suggest(body: SuggestRequest) -> SuggestResponse:
        text = body.joined()
        if not text.strip():
            raise _empty_text()
        p = resolve(body.vocab)
        items, warnings = run_suggest(p, [text], body.limit, body.threshold, body.lang)[0]
        return SuggestResponse(project=p.config.id, vocab=p.config.vocab, results=items, warnings=warnings)

    @native.post("/suggest-batch")
    def native_suggest_batch(body: SuggestBatchRequest) -> dict:
        texts = [d.joined() for d in body.documents]
        empty = [i for i, t in enumerate(texts) if not t.strip()]
        if empty:
            raise Problem(
                400,
                f"Tài liệu số {empty[0]} không có văn bản.",
                f"Document {empty[0]} has no text.",
                errors=[{"loc": ["body", "documents", i, "text"], "msg": "empty"} for i in empty],
            )
        p = resolve(body.vocab)
        res = run_suggest(p, texts, body.limit, body.threshold, body.lang)
        return {
            "project": p.config.id,
            "vocab": p.config.vocab,
            "results": [
                BatchItem(id=d.id, results=items, warnings=w).model_dump()
                for d, (items, w) in zip(body.documents, res, strict=True)
            ],
        }

    @native.post("/learn", response_model=LearnResponse)
    def native_learn(body: LearnRequest, background: BackgroundTasks) -> LearnResponse:
        text = body.joined()
        if not text.strip():
            raise _empty_text()
        p = resolve(body.vocab)
        if not p.is_trained:
            raise _untrained(p.config.id)
        unknown = [u for u in body.accepted + body.rejected if u not in p.vocab]
        if unknown:
            raise Problem(
                422,
                f"Chủ đề không có trong bộ từ vựng '{p.config.vocab}': {', '.join(unknown[:5])}",
                f"Subjects not in vocabulary '{p.config.vocab}': {', '.join(unknown[:5])}",
                errors=[{"loc": ["body", "accepted"], "msg": f"unknown uri {u}"} for u in unknown[:20]],
            )
        docs = [Document(text[:max_chars], list(body.accepted))] if body.accepted else []
        p.learn(docs, [(text[:max_chars], list(body.rejected))] if body.rejected else [])
        background.add_task(_persist, store, p.config.id)
        return LearnResponse(project=p.config.id, accepted=len(body.accepted), rejected=len(body.rejected))

    # ------------------------------------------------------------------ Annif-compatible API
    annif = APIRouter(prefix="/v1", tags=["annif-compatible"])

    @annif.get("/")
    def annif_info() -> dict:
        return {"title": "Annif REST API", "version": API_VERSION}

    @annif.get("/vocabs")
    def annif_vocabs() -> dict:
        out = []
        for vid in store.vocab_ids():
            v = store.get_vocab(vid)
            out.append({"vocab_id": vid, "languages": v.languages, "size": len(v), "loaded": True})
        return {"vocabs": out}

    @annif.get("/projects")
    def annif_projects() -> dict:
        return {"projects": [_project_json(store.get(pid)) for pid in store.project_ids()]}

    @annif.get("/projects/{project_id}")
    def annif_project(project_id: str) -> dict:
        return _project_json(project_or_404(project_id))

    @annif.post("/projects/{project_id}/suggest")
    def annif_suggest(
        project_id: str,
        text: str = Form(""),
        limit: int = Form(10, ge=0),
        threshold: float = Form(0.0, ge=0.0, le=1.0),
        language: str | None = Form(None),
    ) -> dict:
        p = project_or_404(project_id)
        if not text.strip():
            raise _empty_text()
        items, warnings = run_suggest(p, [text], limit, threshold, language)[0]
        body: dict[str, Any] = {"results": [_annif_result(s) for s in items]}
        if warnings:
            body["warnings"] = warnings
        return body

    @annif.post("/projects/{project_id}/suggest-batch")
    async def annif_suggest_batch(
        project_id: str,
        request: Request,
        limit: int = Query(10, ge=0),
        threshold: float = Query(0.0, ge=0.0, le=1.0),
        language: str | None = Query(None),
    ) -> Response:
        p = project_or_404(project_id)
        body = await _json_body(request)
        docs = body.get("documents") if isinstance(body, dict) else None
        if (
            not isinstance(docs, list)
            or not docs
            or len(docs) > 32
            or not all(isinstance(d, dict) and isinstance(d.get("text"), str) for d in docs)
        ):
            raise Problem(
                400,
                "Cần 'documents': 1–32 tài liệu, mỗi tài liệu có 'text'.",
                "'documents' must be a list of 1-32 objects with a 'text'.",
            )
        from starlette.concurrency import run_in_threadpool

        texts = [d["text"] for d in docs]
        res = await run_in_threadpool(run_suggest, p, texts, limit, threshold, language)
        out = []
        for d, (items, warnings) in zip(docs, res, strict=True):
            item: dict[str, Any] = {"results": [_annif_result(s) for s in items], "document_id": d.get("document_id")}
            if warnings:
                item["warnings"] = warnings
            out.append(item)
        return JSONResponse(out)

    @annif.post("/projects/{project_id}/learn", status_code=204)
    async def annif_learn(project_id: str, request: Request, background: BackgroundTasks) -> Response:
        p = project_or_404(project_id)
        body = await _json_body(request)
        if not isinstance(body, list):
            raise Problem(
                400,
                "Cần một danh sách tài liệu có 'text' và 'subjects'.",
                "Expected a list of documents with 'text' and 'subjects'.",
            )
        if not p.is_trained:
            raise _untrained(project_id)
        docs = []
        for i, d in enumerate(body):
            if not isinstance(d, dict) or not isinstance(d.get("text", ""), str):
                raise Problem(400, f"Tài liệu số {i} không hợp lệ.", f"Document {i} is malformed.")
            uris = [s.get("uri") for s in d.get("subjects") or [] if isinstance(s, dict) and s.get("uri")]
            if not uris and d.get("subjects"):  # label-only subjects: look them up
                by_label = p.vocab.by_label()
                uris = [
                    by_label.get(str(s.get("label", "")).casefold().strip())
                    for s in d["subjects"]
                    if isinstance(s, dict)
                ]
                uris = [u for u in uris if u]
            if d.get("text", "").strip() and uris:
                docs.append(Document(d["text"][:max_chars], uris))
        try:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(p.learn, docs)
        except UnknownVocabularyError as exc:
            raise Problem(400, f"Chủ đề không có trong bộ từ vựng: {exc}", f"Unknown subjects: {exc}") from None
        background.add_task(_persist, store, project_id)
        return Response(status_code=204)

    app = make_app("subjects", [native, annif])
    app.state.subjects_store = store
    app.mount("/static/subjects", StaticFiles(directory=STATIC_DIR), name="subjects-static")
    return app


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise Problem(400, "Thân yêu cầu không phải JSON hợp lệ.", "The request body is not valid JSON.") from None


def _persist(store: ProjectStore, project_id: str) -> None:
    try:
        store.save_state(project_id)
    except Exception:  # noqa: BLE001 - the in-memory state stays; next learn retries
        log.exception("could not persist learned state of %s", project_id)


def _annif_result(s: SuggestionOut) -> dict:
    return {"uri": s.uri, "label": s.label, "notation": s.notation, "score": s.score}


def _project_json(p: Project) -> dict:
    mtime = None
    model = getattr(p, "model_path", None)
    if model is not None and Path(model).exists():
        mtime = datetime.fromtimestamp(Path(model).stat().st_mtime, UTC).isoformat()
    return {
        "project_id": p.config.id,
        "name": p.config.name or p.config.id,
        "language": p.config.language,
        "backend": {"backend_id": p.config.backend},
        "vocab": {"vocab_id": p.vocab.id, "languages": p.vocab.languages, "size": len(p.vocab), "loaded": True},
        "vocab_language": p.config.language,
        "is_trained": p.is_trained,
        "modification_time": mtime,
    }
