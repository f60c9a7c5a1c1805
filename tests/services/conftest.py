"""A real embedded suite over a temporary data dir, loaded with the demo library once per session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.app import create_app
from services.ingest_cli import run_ingest
from services.suite import build_suite

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"


@pytest.fixture(scope="session")
def suite_settings(tmp_path_factory) -> Settings:
    """A fresh data dir; the model artefacts that `make test` built (var/models) when they exist."""
    data_dir = tmp_path_factory.mktemp("thuvien-data")
    models = REPO / "var" / "models"
    return Settings(
        data_dir=data_dir, embedding_backend="auto", models_path=models if (models / "current.json").exists() else None
    )


@pytest.fixture(scope="session")
def demo_loaded(suite_settings: Settings):
    """The demo catalogue and documents, imported and indexed the way `make run` does it."""
    files = [DEMO / "records.jsonl", DEMO / "documents.jsonl"]
    summary = asyncio.run(run_ingest(files, "tv-bacgiang", suite_settings))
    return summary


@pytest.fixture(scope="session")
def api(suite_settings: Settings, demo_loaded) -> TestClient:
    suite = build_suite(suite_settings)
    app = create_app(suite.clients, suite_settings)
    with TestClient(app) as client:
        yield client
