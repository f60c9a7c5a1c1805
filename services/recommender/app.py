"""The recommender service: recommendations, similar items, popular and new items, loans in/out.

Routes are under ``/v1``; the gateway exposes them as ``/api/v1/...`` (see
``services/gateway/routes_recommender.py``). The newest model under ``<data_dir>/recommender/`` is
served and replaced without a restart when ``thuvien recommender train`` writes a new version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from recommender.engine import Availability, Engine
from recommender.loans_store import LoansStore
from services.common.app import make_app
from services.common.errors import Problem, wants_english
from services.recommender.holder import ModelHolder
from services.recommender.schemas import LoansRequest, RecommendRequest, RecResponse

K = Annotated[int, Query(ge=1, le=100, description="How many items (1–100)")]


def _lang(request: Request) -> str:
    return "en" if wants_english(request) else "vi"


def create_app(
    data_dir: Path | None = None,
    database_url: str | None = None,
    *,
    availability: Availability | None = None,
    check_every_s: float = 2.0,
    mmr_lambda: float = 0.85,
):
    """``data_dir``/``database_url`` default to the settings (THUVIEN_DATA_DIR, THUVIEN_DATABASE_URL)."""
    if data_dir is None or database_url is None:
        from services.common.settings import get_settings

        s = get_settings()
        data_dir = data_dir or s.data_dir
        database_url = database_url or (s.database_url or f"sqlite:///{(Path(data_dir) / 'catalog.sqlite3').resolve()}")
    holder = ModelHolder(
        Path(data_dir) / "recommender", check_every_s=check_every_s, availability=availability, mmr_lambda=mmr_lambda
    )
    store = LoansStore(database_url)
    router = APIRouter(prefix="/v1", tags=["recommender"])

    def engine(request: Request) -> Engine:
        e = holder.get()
        if e is None:
            raise Problem(
                503,
                "Chưa có mô hình gợi ý; hãy chạy `thuvien recommender train`.",
                "No recommendation model yet; run `thuvien recommender train`.",
            )
        return e

    def history_of(patron_id: str) -> list[str]:
        return [f"{x.library_id}/{x.record_id}" for x in store.history(patron_id)]

    @router.get("/patrons/{patron_id}/recommendations", response_model=RecResponse)
    def for_patron(
        request: Request, patron_id: str, k: K = 10, library_id: str | None = None, available_only: bool = False
    ) -> dict[str, Any]:
        e, lang = engine(request), _lang(request)
        hist = history_of(patron_id)
        res = e.recommend(hist, k, library_id, available_only, lang)
        if not hist:
            res.warnings.insert(
                0,
                f"Patron {patron_id} has no loan history; showing popular items"
                if lang == "en"
                else f"Bạn đọc {patron_id} chưa có lịch sử mượn; hiển thị sách được mượn nhiều",
            )
        return res.as_dict()

    @router.post("/recommendations", response_model=RecResponse)
    def for_history(request: Request, req: Annotated[RecommendRequest, Body()]) -> dict[str, Any]:
        e = engine(request)
        keys = [e.key(h.library_id, h.record_id) for h in req.history]
        return e.recommend(keys, req.k, req.library_id, req.available_only, _lang(request)).as_dict()

    @router.get("/records/{library_id}/{record_id}/similar", response_model=RecResponse)
    def similar(request: Request, library_id: str, record_id: str, k: K = 10) -> dict[str, Any]:
        e = engine(request)
        res = e.similar(e.key(library_id, record_id), k, lang=_lang(request))
        if res is None:
            raise Problem(
                404,
                f"Mô hình gợi ý chưa biết biểu ghi '{record_id}' của thư viện '{library_id}'.",
                f"The recommendation model does not know record '{record_id}' of library '{library_id}'.",
            )
        return res.as_dict()

    @router.get("/libraries/{library_id}/popular", response_model=RecResponse)
    def popular(request: Request, library_id: str, k: K = 10, available_only: bool = False) -> dict[str, Any]:
        return engine(request).popular(library_id, k, available_only, _lang(request)).as_dict()

    @router.get("/patrons/{patron_id}/new-arrivals", response_model=RecResponse)
    def new_arrivals(
        request: Request, patron_id: str, k: K = 10, library_id: str | None = None, available_only: bool = False
    ) -> dict[str, Any]:
        return (
            engine(request).new_arrivals(history_of(patron_id), k, library_id, _lang(request), available_only).as_dict()
        )

    @router.post("/loans")
    def add_loans(req: LoansRequest) -> dict[str, int]:
        return {"imported": store.add(req.loans)}

    @router.delete("/patrons/{patron_id}/history")
    def forget(patron_id: str) -> dict[str, Any]:
        return {"patron_id": patron_id, "deleted": store.forget_patron(patron_id)}

    @router.get("/model")
    def model_info() -> dict[str, Any]:
        holder.get()
        return {"model": holder.version, "loans": store.count()}

    app = make_app("recommender", [router])
    app.state.holder = holder
    app.state.loans = store
    return app


def create_app_from_settings(settings):
    """The service as the suite builds it: data dir and database from settings; live availability
    of copies read from the catalogue store in the same database."""
    from catalog.store import CatalogStore

    catalog = CatalogStore(settings.db_url)

    def availability(keys: list[str]) -> dict[str, int]:
        pairs = [tuple(k.split("/", 1)) for k in keys]
        found = catalog.get_many(pairs)
        return {f"{lib}/{rid}": int(r.available) for (lib, rid), r in found.items()}

    return create_app(
        data_dir=settings.data_dir,
        database_url=settings.db_url,
        availability=availability,
    )
