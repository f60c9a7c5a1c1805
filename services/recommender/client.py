"""Typed client of the recommender service (in process or over HTTP)."""

from __future__ import annotations

from typing import Any

from services.common.client import ServiceClient, path_segment


def _params(**kw: Any) -> dict[str, Any]:
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in kw.items() if v is not None}


class RecommenderClient(ServiceClient):
    async def for_patron(
        self,
        patron_id: str,
        k: int = 10,
        library_id: str | None = None,
        available_only: bool = False,
        headers: dict | None = None,
    ) -> dict:
        return await self.get_json(
            f"/v1/patrons/{path_segment(patron_id)}/recommendations",
            headers=headers,
            params=_params(k=k, library_id=library_id, available_only=available_only),
        )

    async def recommend(self, payload: dict, headers: dict | None = None) -> dict:
        return await self.post_json("/v1/recommendations", payload, headers=headers)

    async def similar(self, library_id: str, record_id: str, k: int = 10, headers: dict | None = None) -> dict:
        return await self.get_json(
            f"/v1/records/{path_segment(library_id)}/{path_segment(record_id)}/similar",
            params={"k": k},
            headers=headers,
        )

    async def popular(
        self, library_id: str, k: int = 10, available_only: bool = False, headers: dict | None = None
    ) -> dict:
        return await self.get_json(
            f"/v1/libraries/{path_segment(library_id)}/popular",
            headers=headers,
            params=_params(k=k, available_only=available_only),
        )

    async def new_arrivals(
        self,
        patron_id: str,
        k: int = 10,
        library_id: str | None = None,
        available_only: bool = False,
        headers: dict | None = None,
    ) -> dict:
        return await self.get_json(
            f"/v1/patrons/{path_segment(patron_id)}/new-arrivals",
            headers=headers,
            params=_params(k=k, library_id=library_id, available_only=available_only),
        )

    async def add_loans(self, loans: list[dict]) -> dict:
        return await self.post_json("/v1/loans", {"loans": loans})

    async def forget_patron(self, patron_id: str) -> dict:
        return (await self.request("DELETE", f"/v1/patrons/{path_segment(patron_id)}/history")).json()

    async def model_info(self) -> dict:
        return await self.get_json("/v1/model")
