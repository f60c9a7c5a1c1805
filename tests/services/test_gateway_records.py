"""Records in through the gateway: searchable on return; bad input gets a 4xx and loses nothing."""

from __future__ import annotations

import gzip
import json

from tests.services.test_gateway_search import assert_problem


def _count(api) -> int:
    return api.get("/api/v1/search", params={"q": "chuồn chuồn kim cương xanh", "k": 100}).json()["total"]


def test_posted_jsonl_is_searchable_at_once(api):
    rows = [
        {
            "id": "t-001",
            "library_id": "tv-lucngan",
            "title": "Chuồn chuồn kim cương xanh trên đồi vải",
            "authors": ["Người Thử Nghiệm"],
            "year": 2024,
            "language": "vi",
            "subjects": ["Côn trùng -- Lục Ngạn"],
            "summary": "Một ghi chép thử nghiệm về loài chuồn chuồn sống quanh các đồi vải.",
        },
        {
            "id": "t-002",
            "library_id": "tv-lucngan",
            "title": "Sổ tay đo mưa",
            "year": 2023,
            "language": "vi",
            "text": "Chuồn chuồn bay thấp thì mưa. " * 80,
        },
    ]
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    r = api.post("/api/v1/records", content=body.encode(), headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2
    hits = api.get("/api/v1/search", params={"q": "chuon chuon kim cuong xanh"}).json()["hits"]
    assert hits[0]["id"] == "t-001"
    again = api.post("/api/v1/records", content=body.encode()).json()
    assert again["skipped"] == 2 and again["imported"] == 0


def test_json_list_with_a_bad_row_keeps_the_good_ones(api):
    rows = [
        {"id": "t-101", "library_id": "tv-yenthe", "title": "Bản đồ đồi chè Yên Thế thử nghiệm", "year": 2020},
        {"id": "t-102", "library_id": "tv-yenthe", "year": "not a year"},
    ]
    r = api.post("/api/v1/records", json=rows)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] == 1
    assert len(body["errors"]) == 1 and body["errors"][0]["position"]


def test_all_bad_body_is_422_and_writes_nothing(api):
    before = _count(api)
    assert_problem(api.post("/api/v1/records", content=b'{not json}\n{"title": 3}'), 422)
    assert_problem(api.post("/api/v1/records", content=b""), 422)
    assert_problem(api.post("/api/v1/records", content="Tiêu đề;Tác giả\n".encode("cp1258", "replace")), 422)
    assert _count(api) == before


def test_marc_upload_truncated_and_garbled(api, shared_data):
    with gzip.open(shared_data / "loc-marc" / "dev.mrc.gz", "rb") as fh:
        data = fh.read(200_000)
    # Cut in the middle of a record: the complete records import, the cut one is reported.
    r = api.post(
        "/api/v1/records/import", params={"library_id": "tv-bacgiang", "filename": "loc.mrc"}, content=data[:50_000]
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["imported"] + body["updated"] + body["skipped"] >= 10
    assert body["errors"] and "loc.mrc" in body["errors"][-1]["file"]
    garbage = api.post(
        "/api/v1/records/import",
        params={"library_id": "tv-bacgiang", "format": "marc"},
        content=b"\x00\x01garbage" * 100,
    )
    assert_problem(garbage, 422)


def test_pdf_without_text_layer_is_refused(api):
    # A one-page PDF with no text objects at all.
    pdf = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
    )
    r = api.post("/api/v1/records/import", params={"library_id": "tv-bacgiang", "filename": "scan.pdf"}, content=pdf)
    body = assert_problem(r, 422)
    assert "scan.pdf" in json.dumps(body, ensure_ascii=False)


def test_delete_record_removes_it_from_search(api):
    row = {"id": "t-del", "library_id": "tv-lucngan", "title": "Bạch tuộc tím trên núi đá vôi", "year": 2022}
    assert api.post("/api/v1/records", json=[row]).status_code == 200
    assert api.get("/api/v1/search", params={"q": "bach tuoc tim nui da voi"}).json()["hits"][0]["id"] == "t-del"
    assert api.delete("/api/v1/records/tv-lucngan/t-del").status_code == 200
    hits = api.get("/api/v1/search", params={"q": "bach tuoc tim nui da voi"}).json()["hits"]
    assert all(h["id"] != "t-del" for h in hits)
    assert_problem(api.get("/api/v1/records/tv-lucngan/t-del"), 404)
    assert_problem(api.delete("/api/v1/records/tv-lucngan/t-del"), 404)


def test_a_record_with_a_huge_summary_is_indexed_and_kept_whole(api):
    """A shop description of a whole pasted book (the Vinabook set has one of 583,000 characters)
    once stopped the whole ingest: the embedding service refuses texts over 20,000 characters.
    The index now holds the head of such a record; the catalogue keeps it whole."""
    words = "Sách hướng dẫn nuôi ong mật ở vùng đồi Yên Thế, từ chọn giống đến thu hoạch mật."
    summary = " ".join([words] * 8000)  # ~660,000 characters
    row = {"id": "t-huge", "library_id": "tv-yenthe", "title": "Nuôi ong mật trên đồi Yên Thế", "year": 2022,
           "language": "vi", "summary": summary}  # fmt: skip
    r = api.post("/api/v1/records", json=[row])
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1
    hits = api.get("/api/v1/search", params={"q": "nuoi ong mat yen the"}).json()["hits"]
    assert hits and hits[0]["id"] == "t-huge"
    stored = api.get("/api/v1/records/tv-yenthe/t-huge").json()
    assert stored["summary"] == summary
    assert api.delete("/api/v1/records/tv-yenthe/t-huge").status_code == 200
