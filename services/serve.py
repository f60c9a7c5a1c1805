"""Build the ASGI app that ``thuvien serve SERVICE`` runs."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from services.common.settings import Settings
from services.gateway.lock import DataDirLock
from services.suite import build_suite, single_service_app

log = logging.getLogger("thuvien.serve")


def build_service_app(service: str, settings: Settings, *, url: str) -> FastAPI:
    if service != "gateway":
        return single_service_app(service, settings)
    from services.gateway.app import create_app

    lock = DataDirLock(settings.data_dir)
    lock.acquire()
    suite = build_suite(settings)
    lock.announce(url)
    return create_app(suite.clients, settings, on_close=lock.release, index_on_start=True)
