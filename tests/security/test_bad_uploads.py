"""Hostile uploads through the gateway's import API: a 4xx problem+json or per-record errors, never a 500."""

from __future__ import annotations

import gzip

import pytest
from fastapi.testclient import TestClient

CASES = {
    "truncated-gzip": b"\x1f\x8b",
    "gzip-cut-mid-stream": gzip.compress(b"id,title\nx-1,Cut short\n" * 50)[:40],
    "binary-noise": bytes(range(256)) * 4,
    "marc-length-lie": b"99999nam a2200000 a 4500" + b"\x1e" * 10,
    "xml-entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><collection><record>&a;</record>'
    b"</collection>",
}


@pytest.mark.parametrize("fmt", [None, "marc", "marcxml", "csv", "jsonl"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_upload_is_refused_cleanly(sec_api: TestClient, name: str, fmt: str | None):
    params = {"library_id": "tv-fuzz", "filename": f"{name}.bin"}
    if fmt:
        params["format"] = fmt
    before = sec_api.get("/api/v1/stats").json()["catalog"]
    r = sec_api.post("/api/v1/records/import", params=params, content=CASES[name])
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["detail"]
    else:
        assert r.json()["errors"], r.json()  # nothing usable in it: every problem is reported
    assert sec_api.get("/api/v1/stats").json()["catalog"] == before  # nothing was stored
