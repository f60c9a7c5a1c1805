"""The gateway: the public API and the web pages, the only service users talk to.

It reaches every other service through the clients in ``app.state.clients``; in the embedded
topology those are in-process apps built by :mod:`services.suite`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress
from html import escape
from importlib import import_module
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from services.common.app import make_app
from services.common.auth import Authenticator, Reader, annotate_openapi
from services.common.client import ServiceClient
from services.common.settings import Settings
from services.gateway import routes_search, search_cache
from services.gateway.index_scheduler import IndexScheduler
from services.gateway.pipeline import IngestPipeline

WEB = Path(__file__).parent / "web"
# Routers of the optional services, mounted when their module is present.
OPTIONAL_ROUTERS = ("routes_qa", "routes_recommender", "routes_subjects", "routes_admin")

FRAGMENT_SERVICES = ("qa", "recommender", "subjects")

INDEX_STATS = ("model_id", "documents", "records", "dense_vectors", "dense_kind")
log = logging.getLogger("thuvien.gateway")
health = APIRouter(prefix="/api/v1", tags=["health"])


@health.get("/health", summary="Each service's health")
async def get_health(request: Request, _: Reader) -> dict:
    clients = request.app.state.clients
    # one probe per service, all at once, no retries: a dead service costs one timeout, not three
    results = await asyncio.gather(*(c.probe() for c in clients.values()))
    services = {name: "ok" if why is None else "unavailable" for name, why in zip(clients, results, strict=True)}
    status = "ok" if all(v == "ok" for v in services.values()) else "degraded"
    return {"status": status, "services": services}


@health.get("/stats", summary="How much the catalogue and the index hold")
async def get_stats(request: Request, _: Reader) -> dict:
    clients = request.app.state.clients
    catalog = await clients["catalog"].stats()
    search = await clients["search"].stats()
    return {
        "catalog": catalog,
        "index": {k: search[k] for k in INDEX_STATS if k in search},
    }


def compose_page(settings: Settings) -> str:
    """The search page with each service's fragment (static HTML, its CSS and deferred JS files)."""
    html = (WEB / "index.html").read_text(encoding="utf-8")
    head, body = [], []
    for svc in FRAGMENT_SERVICES:
        static = Path(__file__).parents[1] / svc / "static"
        if not static.is_dir():
            continue
        head += [f'<link rel="stylesheet" href="/static/{svc}/{f.name}">' for f in sorted(static.glob("*.css"))]
        head += [f'<script src="/static/{svc}/{f.name}" defer></script>' for f in sorted(static.glob("*.js"))]
        body += [f.read_text(encoding="utf-8") for f in sorted(static.glob("*.html"))]
    html = html.replace("</head>", "\n".join(head) + "\n</head>")
    html = html.replace('<section id="extras"></section>', '<section id="extras">\n' + "\n".join(body) + "\n</section>")
    if settings.demo_patron:
        html = html.replace('data-patron=""', f'data-patron="{escape(settings.demo_patron)}"')
    return html


def index_scheduler(app: FastAPI, clients: dict[str, ServiceClient]) -> IndexScheduler:
    """The gateway's one scheduler of indexing runs (group commit, services/gateway/index_scheduler.py); each run
    indexes everything pending and invalidates the app's search cache after every index change."""

    async def run() -> int:
        return await IngestPipeline(clients, on_index_change=search_cache.invalidator(app)).index_pending()

    return IndexScheduler(run)


async def catch_up(scheduler: IndexScheduler) -> None:
    """Index the records stored by an ingest that was stopped before indexing finished (at start-up)."""
    try:
        done = await scheduler.index()
    except Exception as exc:  # the server keeps serving; the next write retries
        log.warning("indexing the records pending at start-up failed: %s", exc)
    else:
        if done:
            log.info("indexed %d records pending at start-up", done)


def create_app(
    clients: dict[str, ServiceClient], settings: Settings, *, on_close=None, index_on_start: bool = False
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        task = None
        if index_on_start:
            # through the scheduler: never beside a run started by an API write
            task = asyncio.create_task(catch_up(app.state.index_scheduler))
        yield
        await app.state.index_scheduler.aclose()
        if task is not None and not task.done():
            task.cancel()
        for client in clients.values():
            await client.aclose()
        if on_close is not None:
            on_close()

    routers = [health, routes_search.router]
    for name in OPTIONAL_ROUTERS:
        with suppress(ModuleNotFoundError):
            routers.append(import_module(f"services.gateway.{name}").router)
    # Security headers (CSP without inline scripts, nosniff, Referrer-Policy, frame-ancestors), the CORS
    # allow-list and the per-IP rate limit come with make_app (services/common/app.py).
    app = make_app(
        "gateway",
        routers,
        lifespan=lifespan,
        cors_origins=settings.cors_origins,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        rate_limit_burst=settings.rate_limit_burst,
        rate_limit_key_per_minute=settings.rate_limit_key_per_minute,
        redis_url=settings.redis_url,
        trust_proxy_headers=settings.trust_proxy_headers,
        max_body_bytes=settings.max_body_bytes,
    )
    app.state.clients = clients
    app.state.settings = settings
    app.state.index_scheduler = index_scheduler(app, clients)
    # Roles: every route declares one (services/common/auth.py); the spec says which (x-thuvien-role).
    app.state.auth = Authenticator(settings)
    annotate_openapi(app)
    # The services' page fragments first: /static would otherwise swallow /static/<service>/….
    for svc in FRAGMENT_SERVICES:
        static = Path(__file__).parents[1] / svc / "static"
        if static.is_dir():
            app.mount(f"/static/{svc}", StaticFiles(directory=static), name=f"static-{svc}")
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    page = compose_page(settings)

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    return app
