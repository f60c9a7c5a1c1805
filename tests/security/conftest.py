"""A real embedded suite over a temporary data dir: the demo library plus records whose text is markup.

The hostile records test escaping in the web page; the same data dir is what the backup round trip saves.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.common.settings import Settings
from services.gateway.app import create_app
from services.ingest_cli import run_ingest
from services.suite import build_suite
from tests.stores.pgtools import pg_database  # noqa: F401 - fixture: this session's PostgreSQL database

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"
XSS_TITLE = "<script>alert(1)</script>"
XSS_RECORDS = [
    {
        "id": "xss-001",
        "library_id": "tv-bacgiang",
        "title": XSS_TITLE,
        "authors": ["<img src=x onerror=alert(2)>"],
        "year": 2024,
        "language": "vi",
        "type": "book",
        "subjects": ['<svg onload="alert(3)"> -- Kiểm thử bảo mật'],
        "summary": "Sổ tay kiểm thử bảo mật cho thư viện: script alert và thẻ <b onclick=alert(4)>đậm</b> "
        "trong dữ liệu biên mục không được chạy trên trang tra cứu.",
        "text": "Chương một. Kiểm thử bảo mật trang tra cứu thư viện: <script>alert(5)</script> phải hiện ra "
        "như chữ. Tiêu đề, tác giả, chủ đề và đoạn văn đều là dữ liệu không tin cậy.",
    }
]


def settings_for(data_dir: Path) -> Settings:
    """Settings over ``data_dir`` with the model artefacts that `make test` built (var/models) when they exist."""
    models = REPO / "var" / "models"
    return Settings(
        data_dir=data_dir, embedding_backend="auto", models_path=models if (models / "current.json").exists() else None
    )


@pytest.fixture(scope="session")
def sec_settings(tmp_path_factory) -> Settings:
    return settings_for(tmp_path_factory.mktemp("thuvien-sec-data"))


@pytest.fixture(scope="session")
def sec_loaded(sec_settings: Settings, tmp_path_factory):
    """The demo catalogue and documents plus the hostile records, ingested the way `make run` does."""
    extra = tmp_path_factory.mktemp("xss") / "xss.jsonl"
    extra.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in XSS_RECORDS) + "\n", encoding="utf-8")
    files = [DEMO / "records.jsonl", DEMO / "documents.jsonl", extra]
    summary = asyncio.run(run_ingest(files, "tv-bacgiang", sec_settings))
    shutil.copy(DEMO / "libraries.json", sec_settings.data_dir / "libraries.json")
    assert not summary.errors, summary.errors[:3]
    return summary


@pytest.fixture(scope="session")
def sec_api(sec_settings: Settings, sec_loaded) -> TestClient:
    suite = build_suite(sec_settings)
    app = create_app(suite.clients, sec_settings)
    with TestClient(app) as client:
        yield client
