"""The one way a thuvien service app is made: title, routers, problem+json errors, health."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, FastAPI

from services.common.errors import install_error_handlers


def make_app(name: str, routers: Iterable[APIRouter] = (), *, version: str = "0.1.0", **kwargs) -> FastAPI:
    app = FastAPI(title=f"thuvien {name}", version=version, **kwargs)
    install_error_handlers(app)
    for router in routers:
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    return app
