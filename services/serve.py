"""Build and run the ASGI app that ``thuvien serve SERVICE`` runs.

Logging is set up first (JSON lines by default, THUVIEN_LOG_JSON), then the clients' timeouts, retries and
circuit-breaker limits from the settings. Services reached over HTTP are probed once in the background at
start: one that does not answer gets a clear log line naming it and its URL, and the features that need it
answer 503 until it does; the process itself keeps serving (no crash loop hiding the cause).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from fastapi import FastAPI

from services.common.app import add_readiness_check, readiness
from services.common.client import ServiceClient, configure_client_defaults
from services.common.heap import pin_mmap_threshold
from services.common.observability import configure_logging
from services.common.settings import Settings
from services.gateway.lock import DataDirLock
from services.suite import build_suite, remote_clients, single_service_app

log = logging.getLogger("thuvien.serve")


def build_service_app(service: str, settings: Settings, *, url: str) -> FastAPI:
    pin_mmap_threshold()
    configure_client_defaults(settings)
    if service != "gateway":
        return single_service_app(service, settings)
    from services.gateway.app import create_app

    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    suite = build_suite(settings)
    lock.announce(url)
    app = create_app(suite.clients, settings, on_close=lock.release, index_on_start=True)
    # Embedded topology: the gateway is ready when the services in this process are (models loaded, store
    # reachable). Services reached over HTTP are not part of it: they have their own /readyz, and a missing
    # one turns only its features into 503s.
    for name, sub in suite.apps.items():
        add_readiness_check(app, name, _sub_readiness(sub))
    _probe_in_background(remote_clients(suite.clients))
    return app


def _sub_readiness(sub: FastAPI):
    async def check() -> str | None:
        bad = {k: v for k, v in (await readiness(sub)).items() if v != "ok"}
        return "; ".join(f"{k}: {v}" for k, v in bad.items()) or None

    return check


def _probe_in_background(clients: dict[str, ServiceClient]) -> None:
    """Log, once, whether each remote service answers its /healthz (never blocks nor stops the start)."""
    if not clients:
        return

    async def probe_all() -> None:
        for name, client in clients.items():
            if client.url_error:  # already logged when the client was made
                continue
            # A fresh client per probe: the shared ones belong to the server's event loop.
            probe = ServiceClient(name, base_url=client.base_url, timeout=3.0)
            try:
                problem = await probe.probe()
            finally:
                await probe.aclose()
            if problem is None:
                log.info("service '%s' at %s answers", name, client.base_url)
            else:
                log.error(
                    "service '%s' at %s does not answer (%s); the features that need it answer 503 until it does "
                    "(check THUVIEN_%s_URL)",
                    name,
                    client.base_url,
                    problem,
                    name.upper(),
                )

    def run() -> None:
        try:
            asyncio.run(probe_all())
        except Exception:  # pragma: no cover - a probe must never take the server down
            log.exception("probing the remote services failed")

    threading.Thread(target=run, name="probe-services", daemon=True).start()


def run(service: str, settings: Settings, *, host: str, port: int) -> None:
    """``thuvien serve``: logging, the app, uvicorn (its own access log off: ours carries the request id)."""
    import uvicorn

    json_logs = True if settings.log_json is None else settings.log_json
    configure_logging(service, json_logs=json_logs, level=settings.log_level)
    app = build_service_app(service, settings, url=f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None, access_log=False)
