"""Backups: one consistent archive with sha256 checksums; restore verifies everything before writing anything.

The round trip ingests the demo library (plus loans and a trained recommender), backs it up with the CLI,
restores it into a new data dir, and checks that the gateway over the restored dir answers searches (and
recommendations) exactly as the original does.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from backup import MANIFEST_NAME, BackupError, CorruptArchiveError, create_backup, restore_backup, verify_archive
from services.cli import app as cli
from services.common.settings import get_settings
from services.gateway.app import create_app
from services.gateway.lock import DataDirLock
from services.suite import build_suite
from tests.security.conftest import DEMO, REPO, XSS_TITLE, settings_for

QUERIES = [
    "Truyện Kiều Nguyễn Du",
    "tat den ngo tat to",
    "lịch sử Bắc Giang",
    "vải thiều Lục Ngạn",
    "giờ mở cửa thư viện thứ Bảy",
    "kiểm thử bảo mật script alert",
    "history of Vietnam",
]


# ---- a small synthetic data dir, for the archive's own rules --------------------------------------------------
@pytest.fixture
def small_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "index" / "gen-000001").mkdir(parents=True)
    (d / "index" / "gen-000002").mkdir()
    (d / "index" / "gen-000001" / "docs.jsonl").write_text("old\n")
    (d / "index" / "gen-000002" / "docs.jsonl").write_text('{"slot": 0}\n')
    (d / "index" / "gen-000002" / "meta.json").write_text('{"generation": 2}')
    (d / "index" / ".tmp-gen-000003-99").mkdir()
    (d / "index" / ".tmp-gen-000003-99" / "docs.jsonl").write_text("half written")
    (d / "index" / "CURRENT").write_text("gen-000002")
    (d / "nlp").mkdir()
    (d / "nlp" / "restorer.npz").write_bytes(os.urandom(3000))
    (d / "subjects" / "vocabs").mkdir(parents=True)
    (d / "subjects" / "vocabs" / "chu-de.json").write_text('{"concepts": []}', encoding="utf-8")
    (d / "recommender" / "v1").mkdir(parents=True)
    (d / "recommender" / "v1" / "model.npz").write_bytes(os.urandom(500))
    (d / "cache").mkdir()
    cache = sqlite3.connect(d / "cache" / "embeddings.sqlite3")
    cache.execute("CREATE TABLE vectors (k TEXT)")
    cache.commit()
    cache.close()
    (d / "log").mkdir()
    (d / "log" / "x.log").write_text("log")
    (d / ".writer.lock").write_text("")
    (d / "server.json").write_text('{"url": "http://127.0.0.1:1", "pid": 1}')
    (d / "libraries.json").write_text('{"tv-a": "Thư viện A"}', encoding="utf-8")
    (d / "models" / "v-1" / "onnx").mkdir(parents=True)
    (d / "models" / "current.json").write_text('{"model_version": "v-1"}')
    (d / "models" / "v-1" / "manifest.json").write_text('{"files": {}}')
    (d / "models" / "v-1" / "onnx" / "model-int8.onnx").write_bytes(os.urandom(2000))
    # a live SQLite database in WAL mode, with committed rows still in the WAL
    db = sqlite3.connect(d / "catalog.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE records (id TEXT PRIMARY KEY, title TEXT)")
    db.executemany("INSERT INTO records VALUES (?, ?)", [(f"r{i}", f"Sách {i}") for i in range(200)])
    db.commit()
    assert (d / "catalog.sqlite3-wal").stat().st_size > 0
    yield d
    db.close()


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive, "r:gz") as tar:
        return tar.getnames()


def test_archive_holds_state_only_with_a_manifest_last(small_dir: Path, tmp_path: Path):
    out = tmp_path / "b.tar.gz"
    info = create_backup(small_dir, out)
    names = _names(out)
    assert names[-1] == MANIFEST_NAME
    assert set(names[:-1]) == {
        "data/catalog.sqlite3",
        "data/index/CURRENT",
        "data/index/gen-000002/docs.jsonl",
        "data/index/gen-000002/meta.json",
        "data/nlp/restorer.npz",
        "data/subjects/vocabs/chu-de.json",
        "data/recommender/v1/model.npz",
        "data/libraries.json",
        "models/current.json",
        "models/v-1/manifest.json",
    }
    assert info.files == len(names) - 1
    manifest = verify_archive(out)
    assert set(manifest["files"]) == set(names[:-1])
    assert all(len(e["sha256"]) == 64 for e in manifest["files"].values())
    # options: the cache and the model artefacts on request
    full = create_backup(small_dir, tmp_path / "full.tar.gz", include_cache=True, include_model_files=True)
    assert {"data/cache/embeddings.sqlite3", "models/v-1/onnx/model-int8.onnx"} <= set(full.manifest["files"])


def test_sqlite_is_snapshotted_with_its_wal(small_dir: Path, tmp_path: Path):
    out = tmp_path / "b.tar.gz"
    create_backup(small_dir, out)
    target = tmp_path / "restored"
    restore_backup(out, target)
    db = sqlite3.connect(target / "catalog.sqlite3")
    assert db.execute("SELECT count(*) FROM records").fetchone()[0] == 200
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert not (target / "catalog.sqlite3-wal").exists()
    assert (target / "index" / "CURRENT").read_text() == "gen-000002"
    assert (target / "models" / "current.json").is_file()
    assert (target / "nlp" / "restorer.npz").read_bytes() == (small_dir / "nlp" / "restorer.npz").read_bytes()


def _rewrite(src: Path, dst: Path, change) -> None:
    """Copy a backup archive member by member, letting ``change(name, data)`` alter, drop (None) or add."""
    with tarfile.open(src, "r:gz") as tin, tarfile.open(dst, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read()
            new = change(m.name, data)
            if new is None:
                continue
            for name, body in new if isinstance(new, list) else [(m.name, new)]:
                info = tarfile.TarInfo(name)
                info.size = len(body)
                tout.addfile(info, io.BytesIO(body))


def _flip(data: bytes) -> bytes:
    return data[:10] + bytes([data[10] ^ 0xFF]) + data[11:]


@pytest.mark.parametrize(
    ("case", "change", "member"),
    [
        ("flipped byte", lambda n, d: _flip(d) if n == "data/nlp/restorer.npz" else d, "data/nlp/restorer.npz"),
        ("file dropped", lambda n, d: None if n == "data/index/CURRENT" else d, "data/index/CURRENT"),
        ("manifest dropped", lambda n, d: None if n == MANIFEST_NAME else d, MANIFEST_NAME),
        ("manifest garbled", lambda n, d: d[:-20] if n == MANIFEST_NAME else d, MANIFEST_NAME),
        (
            "file added",
            lambda n, d: [(n, d), ("data/evil.txt", b"x")] if n == "data/libraries.json" else d,
            "data/evil.txt",
        ),
        (
            "path escape",
            lambda n, d: [(n, d), ("data/../../evil.txt", b"x")] if n == "data/libraries.json" else d,
            "data/../../evil.txt",
        ),
    ],
)
def test_corrupted_archive_is_refused_naming_the_file(small_dir, tmp_path, case, change, member):
    good = tmp_path / "good.tar.gz"
    create_backup(small_dir, good)
    bad = tmp_path / "bad.tar.gz"
    _rewrite(good, bad, change)
    target = tmp_path / "restored"
    with pytest.raises(CorruptArchiveError) as err:
        restore_backup(bad, target)
    assert err.value.member == member, str(err.value)
    assert member in str(err.value)
    assert not target.exists(), "nothing may be written for a corrupted archive"
    assert not any(p.name.startswith(".restored.restore-") for p in tmp_path.iterdir())
    assert not (tmp_path.parent / "evil.txt").exists()


def test_damaged_compressed_stream_is_refused(small_dir, tmp_path):
    good = tmp_path / "good.tar.gz"
    create_backup(small_dir, good)
    raw = bytearray(good.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptArchiveError) as err:
        restore_backup(bad, tmp_path / "restored")
    assert err.value.member  # the member being read when the damage showed, or the archive
    assert not (tmp_path / "restored").exists()
    (tmp_path / "cut.tar.gz").write_bytes(good.read_bytes()[: len(raw) // 2])
    with pytest.raises(CorruptArchiveError):
        verify_archive(tmp_path / "cut.tar.gz")
    (tmp_path / "not.tar.gz").write_bytes(gzip.compress(b"hello"))
    with pytest.raises(CorruptArchiveError):
        verify_archive(tmp_path / "not.tar.gz")


def test_a_damaged_database_stops_the_backup(small_dir, tmp_path):
    (small_dir / "recommender" / "loans.sqlite3").write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(BackupError, match="loans.sqlite3"):
        create_backup(small_dir, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary file left behind


def test_restore_only_into_a_new_or_empty_dir(small_dir, tmp_path):
    out = tmp_path / "b.tar.gz"
    create_backup(small_dir, out)
    with pytest.raises(BackupError, match="not empty"):
        restore_backup(out, small_dir)
    (tmp_path / "empty").mkdir()
    restore_backup(out, tmp_path / "empty")
    assert (tmp_path / "empty" / "libraries.json").is_file()


# ---- the CLI ----------------------------------------------------------------------------------------------------
@pytest.fixture
def run_cli(monkeypatch):
    runner = CliRunner()

    def run(data_dir: Path, *args: str):
        monkeypatch.setenv("THUVIEN_DATA_DIR", str(data_dir))
        models = REPO / "var" / "models"
        if (models / "current.json").exists():
            monkeypatch.setenv("THUVIEN_MODELS_DIR", str(models))
        get_settings.cache_clear()
        try:
            return runner.invoke(cli, list(args), catch_exceptions=False)
        finally:
            get_settings.cache_clear()

    return run


def test_cli_refuses_while_another_process_writes(small_dir, tmp_path, run_cli):
    (small_dir / "server.json").unlink()
    lock = DataDirLock(small_dir)
    lock.acquire()
    try:
        r = run_cli(small_dir, "backup", "create", "--out", str(tmp_path / "b.tar.gz"))
    finally:
        lock.release()
    assert r.exit_code == 1
    assert "đang ghi" in r.output and "writing" in r.output
    assert not (tmp_path / "b.tar.gz").exists()


def test_cli_refuses_a_corrupted_archive(small_dir, tmp_path, run_cli):
    (small_dir / "server.json").unlink()
    good = tmp_path / "good.tar.gz"
    assert run_cli(small_dir, "backup", "create", "--out", str(good)).exit_code == 0
    bad = tmp_path / "bad.tar.gz"
    _rewrite(good, bad, lambda n, d: _flip(d) if n == "data/recommender/v1/model.npz" else d)
    r = run_cli(small_dir, "backup", "restore", str(bad), "--data-dir", str(tmp_path / "new"))
    assert r.exit_code == 2
    assert "data/recommender/v1/model.npz" in r.output and "bị hỏng" in r.output and "Corrupted" in r.output
    assert not (tmp_path / "new").exists()
    assert run_cli(small_dir, "backup", "verify", str(good)).exit_code == 0


# ---- the round trip over the real suite -------------------------------------------------------------------------
def _search(client: TestClient, q: str) -> dict:
    r = client.get("/api/v1/search", params={"q": q, "k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    return {
        "total": body["total"],
        "did_you_mean": body["did_you_mean"],
        "facets": body["facets"],
        "hits": [(h["library_id"], h["id"], h["title"], round(h["score"], 5), h["snippet"]) for h in body["hits"]],
    }


def test_backup_restore_round_trip_serves_the_same_results(sec_settings, sec_loaded, tmp_path, run_cli):
    data = sec_settings.data_dir
    # the rest of what `make run` puts in a data dir: loans and a trained recommender
    r = run_cli(data, "ingest-loans", str(DEMO / "loans.synthetic.csv"))
    assert r.exit_code == 0, r.output
    r = run_cli(data, "recommender", "train", "--embeddings", "off")
    assert r.exit_code == 0, r.output

    archive = tmp_path / "thuvien.tar.gz"
    r = run_cli(data, "backup", "create", "--out", str(archive))
    assert r.exit_code == 0, r.output
    manifest = verify_archive(archive)
    names = set(manifest["files"])
    assert {"data/catalog.sqlite3", "data/index/CURRENT", "data/nlp/restorer.npz", "data/libraries.json"} <= names
    assert any(n.startswith("data/recommender/") for n in names)
    assert any(n.startswith("data/index/gen-") and n.endswith("/docs.jsonl") for n in names)

    new = tmp_path / "restored-data"
    r = run_cli(new, "backup", "restore", str(archive), "--data-dir", str(new))
    assert r.exit_code == 0, r.output

    def answers(settings) -> dict:
        suite = build_suite(settings)
        with TestClient(create_app(suite.clients, settings)) as client:
            out = {q: _search(client, q) for q in QUERIES}
            out["stats"] = client.get("/api/v1/stats").json()
            out["xss"] = client.get("/api/v1/records/tv-bacgiang/xss-001").json()["title"]
            out["libraries"] = client.get("/api/v1/libraries").json()
            recs = client.get("/api/v1/patrons/P0001/recommendations", params={"k": 5})
            assert recs.status_code == 200, recs.text
            out["recs"] = [(i["library_id"], i["record_id"]) for i in recs.json()["items"]]
        return out

    before = answers(sec_settings)
    after = answers(settings_for(new))
    assert before["stats"]["catalog"] and before["stats"]["index"]["records"] >= 300
    assert before[QUERIES[0]]["hits"] and before["recs"]
    assert after["xss"] == XSS_TITLE
    for key in before:
        assert after[key] == before[key], key
    assert json.loads((new / "RESTORED_FROM.json").read_text())["files"] == len(names)
