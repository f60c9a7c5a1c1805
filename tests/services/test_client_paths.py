"""Ids with spaces, Vietnamese letters and URL delimiters reach the catalog and recommender services intact: the
service clients percent-encode every path segment (services/catalog/client.py, services/recommender/client.py)."""

from __future__ import annotations

import json
from urllib.parse import quote

from fastapi.testclient import TestClient

from tests.services.test_gateway_search import assert_problem

LIBRARY = "tv-lucngan"
SPACED = "Sách mẫu Đặng Thị Ước 01"  # allowed by the gateway's PathId
DELIMITED = "hỏi?đáp#1"  # ? and # would change the URL of the call if not encoded; PathId refuses it (422)


def _post(api: TestClient, record_id: str, title: str) -> None:
    row = {"id": record_id, "library_id": LIBRARY, "title": title, "year": 2024, "language": "vi"}
    r = api.post(
        "/api/v1/records",
        content=json.dumps(row, ensure_ascii=False).encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] + r.json()["updated"] == 1, r.text


def test_a_spaced_vietnamese_id_round_trips_through_the_gateway(api: TestClient) -> None:
    _post(api, SPACED, "Ghi chép về đường dẫn có dấu cách")
    url = f"/api/v1/records/{quote(LIBRARY, safe='')}/{quote(SPACED, safe='')}"
    r = api.get(url)
    assert r.status_code == 200, r.text
    assert (r.json()["library_id"], r.json()["id"]) == (LIBRARY, SPACED)
    d = api.delete(url)
    assert d.status_code == 200 and d.json() == {"deleted": True}, d.text
    assert_problem(api.get(url), 404)


def test_the_catalog_client_encodes_delimiters(api: TestClient) -> None:
    _post(api, DELIMITED, "Hỏi đáp về dấu chấm hỏi")
    catalog = api.app.state.clients["catalog"]
    record = api.portal.call(catalog.get, LIBRARY, DELIMITED)
    assert (record.library_id, record.id) == (LIBRARY, DELIMITED)
    assert api.portal.call(catalog.chunks_of, LIBRARY, DELIMITED) == []
    assert api.portal.call(catalog.delete, LIBRARY, DELIMITED) is True
    assert api.portal.call(catalog.delete, LIBRARY, DELIMITED) is False
    # the gateway still refuses such an id in its own URL (PathId): a 422, not a call with a wrong path
    assert_problem(api.get(f"/api/v1/records/{LIBRARY}/{quote(DELIMITED, safe='')}"), 422)


def test_the_recommender_client_encodes_patron_ids(api: TestClient) -> None:
    recommender = api.app.state.clients["recommender"]
    for patron in ("Bạn đọc Nguyễn Văn Ất", "bạn đọc?#07"):
        loans = [{"patron_id": patron, "record_id": "r-1", "library_id": LIBRARY, "date": "2024-01-02"}]
        assert api.portal.call(recommender.add_loans, loans)["imported"] == 1
        forgotten = api.portal.call(recommender.forget_patron, patron)
        assert forgotten == {"patron_id": patron, "deleted": 1}
