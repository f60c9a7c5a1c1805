"""The public search API through the gateway, over the real embedded suite and the demo library."""

from __future__ import annotations

import json

from nlp.fold import fold

PROBLEM = "application/problem+json"


def assert_problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def test_demo_library_is_loaded(demo_loaded, api):
    assert demo_loaded.imported >= 320
    assert not demo_loaded.errors, demo_loaded.errors[:3]
    libs = {lib["id"] for lib in api.get("/api/v1/libraries").json()}
    assert {"tv-bacgiang", "tv-lucngan", "tv-yenthe", "thpt-ngosilien"} <= libs


def test_search_response_shape(api):
    r = api.get("/api/v1/search", params={"q": "Truyện Kiều Nguyễn Du"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"query", "total", "hits", "facets", "did_you_mean"}
    assert body["total"] >= 1
    hit = body["hits"][0]
    assert set(hit) >= {"id", "library_id", "title", "authors", "year", "score", "snippet", "passages"}
    assert "kiều" in hit["title"].lower()
    for facet in ("library", "language", "decade", "type", "subject"):
        assert facet in body["facets"], body["facets"].keys()


def test_search_without_diacritics_finds_the_same_book(api):
    accented = api.get("/api/v1/search", params={"q": "Tắt đèn Ngô Tất Tố", "k": 5}).json()
    plain = api.get("/api/v1/search", params={"q": "tat den ngo tat to", "k": 5}).json()
    assert accented["hits"] and plain["hits"]
    assert plain["hits"][0]["title"] == accented["hits"][0]["title"]
    assert plain["did_you_mean"] is not None
    assert fold(plain["did_you_mean"]) == "tat den ngo tat to"
    assert plain["did_you_mean"] != "tat den ngo tat to"


def test_snippets_mark_matched_terms(api):
    body = api.get("/api/v1/search", params={"q": "vai thieu Luc Ngan"}).json()
    assert body["hits"]
    assert any("<mark>" in h["snippet"] for h in body["hits"][:3])


def test_full_text_passages_are_grouped_under_their_record(api):
    body = api.get("/api/v1/search", params={"q": "giờ mở cửa thư viện thứ Bảy"}).json()
    with_passages = [h for h in body["hits"] if h["passages"]]
    assert with_passages, "digitized documents should return passages"
    ids = [h["id"] for h in body["hits"]]
    assert len(ids) == len(set(ids)), "one hit per record"
    p = with_passages[0]["passages"][0]
    assert p["chunk_id"].startswith(f"{with_passages[0]['library_id']}/{with_passages[0]['id']}#")
    # the passage's own snippet marks the query terms it holds (the page shows it)
    assert "<mark>" in p["snippet"]


def test_library_filter(api):
    body = api.get("/api/v1/search", params={"q": "lịch sử", "library_id": "tv-yenthe", "k": 20}).json()
    assert body["hits"]
    assert {h["library_id"] for h in body["hits"]} == {"tv-yenthe"}


def test_year_and_type_filters(api):
    body = api.get("/api/v1/search", params={"q": "văn học", "year_from": 1930, "year_to": 1945}).json()
    assert body["hits"]
    assert all(1930 <= h["year"] <= 1945 for h in body["hits"])
    docs = api.get("/api/v1/search", params={"q": "thư viện", "type": "document"}).json()
    assert docs["hits"]


def test_english_query(api):
    body = api.get("/api/v1/search", params={"q": "history of Vietnam", "k": 10}).json()
    assert body["hits"]
    assert body["query"]["language"] == "en"


def test_unknown_filter_values_are_4xx(api):
    assert_problem(api.get("/api/v1/search", params={"q": "sách", "library_id": "no-such-library"}), 422)
    assert_problem(api.get("/api/v1/search", params={"q": "sách", "type": "spaceship"}), 422)
    assert_problem(api.get("/api/v1/search", params={"q": "sách", "language": "xx"}), 422)
    assert_problem(api.get("/api/v1/search", params={"q": "sách", "year_from": 2000, "year_to": 1990}), 422)
    assert_problem(api.get("/api/v1/search", params={"q": "sách", "k": 0}), 422)


def test_huge_query_is_refused(api):
    body = assert_problem(api.get("/api/v1/search", params={"q": "sách " * 2000}), 422)
    assert "q" in json.dumps(body)


def test_control_characters(api):
    r = api.get("/api/v1/search", params={"q": "\x00Truyện\x07 Kiều\x1b"})
    assert r.status_code == 200 and r.json()["hits"]
    assert_problem(api.get("/api/v1/search", params={"q": "\x00\x01\x02"}), 422)


def test_english_error_messages(api):
    r = api.get("/api/v1/search", params={"q": "x", "type": "spaceship"}, headers={"Accept-Language": "en"})
    assert "Unknown value" in assert_problem(r, 422)["detail"]


def test_get_record_and_404(api):
    hit = api.get("/api/v1/search", params={"q": "Số đỏ"}).json()["hits"][0]
    rec = api.get(f"/api/v1/records/{hit['library_id']}/{hit['id']}")
    assert rec.status_code == 200 and rec.json()["title"] == hit["title"]
    assert_problem(api.get("/api/v1/records/tv-bacgiang/no-such-record"), 404)


def test_health_and_openapi(api):
    health = api.get("/api/v1/health").json()
    assert health["status"] == "ok", health
    assert {"nlp", "catalog", "embedding", "search"} <= set(health["services"])
    assert api.get("/docs").status_code == 200
    assert "/api/v1/search" in api.get("/openapi.json").json()["paths"]


def test_search_page_is_plain_and_safe(api):
    r = api.get("/")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text  # scripts come from files only
    assert 'id="q"' in r.text
