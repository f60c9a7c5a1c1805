"""Public recommendation API: the gateway's face of the recommender service.

Every route forwards to :class:`services.recommender.client.RecommenderClient`, taken from
``request.app.state.clients["recommender"]``; 4xx problems from the service pass through.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from services.common.auth import Librarian, OwnPatron, Reader, audit, check_library
from services.gateway.deps import get_client
from services.gateway.routes_search import PathId
from services.recommender.client import RecommenderClient
from services.recommender.schemas import LoansRequest, RecommendRequest, RecResponse

router = APIRouter(prefix="/api/v1", tags=["recommendations"])
Client = Annotated[RecommenderClient, Depends(get_client("recommender"))]
K = Annotated[int, Query(ge=1, le=100, description="Số gợi ý (1–100) / how many items")]


def _headers(request: Request) -> dict[str, str]:
    lang = request.headers.get("accept-language")
    return {"accept-language": lang} if lang else {}


@router.get("/patrons/{patron_id}/recommendations", response_model=RecResponse, summary="Gợi ý cho bạn đọc")
async def patron_recommendations(
    request: Request,
    client: Client,
    patron_id: PathId,
    _: OwnPatron,
    k: K = 10,
    library_id: str | None = None,
    available_only: bool = False,
) -> Any:
    return await client.for_patron(
        patron_id, k=k, library_id=library_id, available_only=available_only, headers=_headers(request)
    )


@router.post("/recommendations", response_model=RecResponse, summary="Gợi ý từ một lịch sử (phiên ẩn danh)")
async def recommendations(request: Request, client: Client, req: Annotated[RecommendRequest, Body()], _: Reader) -> Any:
    return await client.recommend(req.model_dump(), headers=_headers(request))


@router.get("/records/{library_id}/{record_id}/similar", response_model=RecResponse, summary="Tài liệu tương tự")
async def similar(request: Request, client: Client, library_id: PathId, record_id: PathId, _: Reader, k: K = 10) -> Any:
    return await client.similar(library_id, record_id, k=k, headers=_headers(request))


@router.get("/libraries/{library_id}/popular", response_model=RecResponse, summary="Được mượn nhiều")
async def popular(
    request: Request, client: Client, library_id: PathId, _: Reader, k: K = 10, available_only: bool = False
) -> Any:
    return await client.popular(library_id, k=k, available_only=available_only, headers=_headers(request))


@router.get("/patrons/{patron_id}/new-arrivals", response_model=RecResponse, summary="Sách mới về cho bạn đọc")
async def new_arrivals(
    request: Request,
    client: Client,
    patron_id: PathId,
    _: OwnPatron,
    k: K = 10,
    library_id: str | None = None,
    available_only: bool = False,
) -> Any:
    return await client.new_arrivals(
        patron_id, k=k, library_id=library_id, available_only=available_only, headers=_headers(request)
    )


@router.post("/loans", summary="Ghi nhận lượt mượn")
async def add_loans(
    request: Request, client: Client, req: Annotated[LoansRequest, Body()], principal: Librarian
) -> Any:
    libraries = sorted({loan.library_id for loan in req.loans})
    check_library(request, principal, libraries)
    result = await client.add_loans(req.model_dump(mode="json")["loans"])
    await audit(request, principal, "loans.add", target=",".join(libraries)[:500], loans=len(req.loans))
    return result


@router.delete("/patrons/{patron_id}/history", summary="Xoá toàn bộ lịch sử mượn của bạn đọc")
async def forget_patron(request: Request, client: Client, patron_id: PathId, principal: OwnPatron) -> Any:
    result = await client.forget_patron(patron_id)
    await audit(request, principal, "patrons.forget", target=patron_id)
    return result
