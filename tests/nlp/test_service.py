"""The nlp service app through its typed client, in process (ASGI)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from nlp.analyze import QueryAnalysis
from nlp.restore import DiacriticRestorer
from services.common.errors import Problem
from services.nlp.app import create_app
from services.nlp.client import NlpClient

CORPUS = [
    "Lịch sử Bắc Giang qua các thời kỳ.",
    "Tỉnh Bắc Giang có nhiều di tích lịch sử và văn hóa.",
    "Thư viện tỉnh Bắc Giang mở cửa từ thứ hai đến thứ bảy.",
]


def test_client_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nlp" / "restorer.pkl.gz"

    async def run() -> None:
        client = NlpClient(app=create_app(restorer_path=path))
        try:
            stats = await client.learn(CORPUS, save=True)
            assert stats.saved and path.is_file()
            assert stats.syllables > 10
            analysis = await client.analyze("lich su bac giang")
            assert isinstance(analysis, QueryAnalysis)
            assert analysis.restored == "lịch sử Bắc Giang"
            norm = await client.normalize(["Hoà bình", "THUỶ"])
            assert norm.normalized == ["Hòa bình", "THỦY"]
            assert norm.folded == ["hoa binh", "thuy"]
            assert await client.segment(["Lịch sử Bắc Giang"]) == [["lịch_sử", "bắc_giang"]]
            assert await client.sentences(["Câu một. Câu hai!"]) == [["Câu một.", "Câu hai!"]]
            guesses = await client.langid(["lich su bac giang", "The library opens at eight."])
            assert [g.lang for g in guesses] == ["vi", "en"]
            restored = await client.restore("thu vien bac giang")
            assert restored.suggestion == "thư viện Bắc Giang"
            assert (await client.save()).saved
        finally:
            await client.aclose()
        # a new app loads what was saved
        client2 = NlpClient(app=create_app(restorer_path=path))
        try:
            assert (await client2.analyze("lich su bac giang")).restored == "lịch sử Bắc Giang"
        finally:
            await client2.aclose()

    asyncio.run(run())


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/analyze", {"q": ""}),
        ("/v1/analyze", {"q": "   "}),
        ("/v1/analyze", {"q": "a" * 10_001}),
        ("/v1/analyze", {"q": "lich\x00su"}),
        ("/v1/analyze", {"q": 5}),
        ("/v1/analyze", {}),
        ("/v1/normalize", {"texts": []}),
        ("/v1/normalize", {"texts": ["ok", "x" * 10_001]}),
        ("/v1/segment", {"texts": ["a\x07b"]}),
        ("/v1/langid", {"texts": "not a list"}),
        ("/v1/restore", {"q": ""}),
        ("/v1/restore/learn", {"texts": ["\x1b[31m"]}),
    ],
)
def test_bad_input_is_problem_json(route: str, body: dict) -> None:
    with TestClient(create_app(restorer=DiacriticRestorer())) as http:
        resp = http.post(route, json=body, headers={"accept-language": "en"})
    assert 400 <= resp.status_code < 500
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["detail"]


def test_vietnamese_error_detail_by_default() -> None:
    with TestClient(create_app(restorer=DiacriticRestorer())) as http:
        resp = http.post("/v1/analyze", json={"q": "x" * 10_001})
    assert resp.status_code == 422
    assert "ký tự" in resp.json()["detail"]
    assert resp.json()["errors"][0]["loc"] == ["body", "q"]


def test_client_raises_problem() -> None:
    async def run() -> None:
        client = NlpClient(app=create_app(restorer=DiacriticRestorer()))
        try:
            with pytest.raises(Problem) as info:
                await client.analyze("")
            assert info.value.status == 422
        finally:
            await client.aclose()

    asyncio.run(run())


def test_client_learn_splits_long_and_dirty_text() -> None:
    async def run() -> None:
        client = NlpClient(app=create_app(restorer=DiacriticRestorer()))
        try:
            long_text = "\n".join(["Thư viện tỉnh Bắc Giang mở cửa từ thứ hai đến thứ bảy."] * 400)
            stats = await client.learn([long_text, "", "Lịch sử\x00 Bắc Giang."])
            assert stats.lines_learnt >= 401
        finally:
            await client.aclose()

    asyncio.run(run())


def test_corrupt_restorer_file_does_not_stop_the_service(tmp_path: Path) -> None:
    path = tmp_path / "restorer.pkl.gz"
    path.write_bytes(b"garbage")
    with TestClient(create_app(restorer_path=path)) as http:
        resp = http.post("/v1/analyze", json={"q": "lich su"})
    assert resp.status_code == 200
    assert resp.json()["restored"] is None


def test_client_drops_control_characters_before_sending() -> None:
    async def run() -> None:
        client = NlpClient(app=create_app(restorer=DiacriticRestorer()))
        try:
            analysis = await client.analyze("\x00Truyện\x07 Kiều\x1b")
            assert analysis.normalized == "Truyện Kiều"
            with pytest.raises(Problem) as info:
                await client.analyze("\x00\x07")
            assert info.value.status == 422
        finally:
            await client.aclose()

    asyncio.run(run())
