"""Backup while serving: ``thuvien backup create`` runs while ``thuvien serve`` keeps taking new records.

A real server on loopback takes batches of Vinabook records (POST /api/v1/records, each searchable on return:
every POST saves a new index generation and marks its records indexed) while backups are taken with the CLI, as
real processes. Each archive must verify, restore into a fresh data dir, and be one consistent state: every
record the restored catalogue calls indexed is in the restored index generation, the index holds no record the
catalogue does not know, and every record the server had acknowledged before the backup started is in it. Once the
restored suite has indexed what the catalogue still lists as pending, catalogue and index hold the same records.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path

import httpx

from search import SearchIndex
from services.gateway.pipeline import IngestPipeline
from services.suite import build_suite
from tests.security.conftest import settings_for
from tests.security.test_crash_ingest import _env
from tests.services.test_cli_processes import REPO, THUVIEN, _free_port, _run, _wait_ready

LIBRARY = "tv-backup"
BATCH = 6
BACKUPS = 3


def _books(shared: Path, n: int) -> list[dict]:
    rows = []
    with (shared / "vinabook" / "books.jsonl").open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, 2000, 2000 + n):
            b = json.loads(line)
            row = {
                "id": b["id"],
                "library_id": LIBRARY,
                "title": b["title"],
                "authors": b.get("authors") or [],
                "publisher": b.get("publisher"),
                "language": "vi",
                "summary": (b.get("description") or "")[:1500] or None,
            }
            rows.append({k: v for k, v in row.items() if v not in (None, [])})
    return rows


class _Poster:
    """Posts the books in batches, one request after another, until stopped; remembers what was acknowledged."""

    def __init__(self, url: str, books: list[dict]) -> None:
        self.url = url
        self.books = books
        self.acked: list[str] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=300) as http:
            for start in range(0, len(self.books), BATCH):
                if self.stop.is_set():
                    return
                batch = self.books[start : start + BATCH]
                body = "\n".join(json.dumps(b, ensure_ascii=False) for b in batch)
                r = http.post(
                    "/api/v1/records", content=body.encode(), headers={"Content-Type": "application/x-ndjson"}
                )
                with self.lock:
                    if r.status_code == 200 and r.json()["imported"] == len(batch):
                        self.acked.extend(b["id"] for b in batch)
                    else:
                        self.errors.append(f"{r.status_code}: {r.text[:300]}")

    def acknowledged(self) -> set[str]:
        with self.lock:
            return set(self.acked)


def _restored_state(data_dir: Path) -> tuple[dict[str, bool], set[str], set[str]]:
    """(record key -> marked indexed) and tombstoned keys of the restored catalogue, and the keys of the restored
    index as the search index itself opens it."""
    records, tombstones, keys = _restored_records(data_dir)
    db = sqlite3.connect(data_dir / "catalog.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    index_dir = data_dir / "index"
    gen = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    meta = json.loads((index_dir / gen / "meta.json").read_text(encoding="utf-8"))
    index = SearchIndex.open(index_dir, meta["model_id"], int(meta["dim"]))
    opened = {doc.record_key for doc in index.store.docs.values()}
    assert opened == keys and index.record_count() == len(keys) == meta["records"]
    return records, tombstones, keys


def _index_pending(data_dir: Path) -> None:
    suite = build_suite(settings_for(data_dir))

    async def run() -> None:
        try:
            await IngestPipeline(suite.clients).index_pending()
        finally:
            await suite.aclose()

    asyncio.run(run())


def test_backup_taken_while_serving_and_ingesting_is_consistent(tmp_path: Path, shared_data: Path):
    data = tmp_path / "data"
    books = _books(shared_data, 240)
    env = _env(data)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*THUVIEN, "serve", "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    archives: list[tuple[Path, set[str], int]] = []  # (archive, acknowledged before it started, posts during it)
    try:
        _wait_ready(url, server)
        poster = _Poster(url, books)
        poster.thread.start()
        for i in range(BACKUPS):
            # wait until a few more batches went in, then back up while the next ones go in
            target = (i + 1) * 4 * BATCH
            while len(poster.acknowledged()) < target and poster.thread.is_alive():
                poster.thread.join(0.2)
            before = poster.acknowledged()
            archive = tmp_path / f"backup-{i}.tar.gz"
            r = _run(["backup", "create", "--out", str(archive)], env)
            assert r.returncode == 0, r.stderr[-2000:]
            assert "online" in r.stderr or "trực tuyến" in r.stderr, r.stderr[-1000:]
            archives.append((archive, before, len(poster.acknowledged()) - len(before)))
        poster.stop.set()
        poster.thread.join(timeout=600)
        assert not poster.errors, poster.errors[:3]
        # the server kept serving: its catalogue and index agree once the last POST returned
        stats = httpx.get(f"{url}/api/v1/stats", timeout=60).json()
        assert stats["catalog"]["records"] == len(poster.acknowledged()) == stats["index"]["records"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    # at least one backup ran while records were being stored and indexed (else this test proved nothing)
    assert any(during > 0 for _, _, during in archives), [d for _, _, d in archives]

    for i, (archive, acked_before, _) in enumerate(archives):
        assert _run(["backup", "verify", str(archive)], env).returncode == 0
        restored = tmp_path / f"restored-{i}"
        r = _run(["backup", "restore", str(archive), "--data-dir", str(restored)], _env(restored))
        assert r.returncode == 0, r.stderr[-2000:]
        records, tombstones, index_keys = _restored_state(restored)
        # everything acknowledged before the backup began is in it
        assert {f"{LIBRARY}/{rid}" for rid in acked_before} <= set(records)
        # a record the catalogue calls indexed is in the index; the index holds nothing the catalogue lacks
        marked = {k for k, indexed in records.items() if indexed}
        assert marked <= index_keys, sorted(marked - index_keys)[:5]
        assert index_keys <= set(records) | tombstones, sorted(index_keys - set(records))[:5]
        if i == len(archives) - 1:
            # the restored suite catches up on what was pending: then catalogue and index hold the same records
            _index_pending(restored)
            records, tombstones, index_keys = _restored_state(restored)
            assert all(records.values()) and not tombstones
            assert index_keys == set(records)


def _write_generation(index_dir: Path, name: str, keys: list[str]) -> None:
    """An index generation as the search index writes it, as far as the backup reads it (docs.jsonl, CURRENT)."""
    gen = index_dir / name
    gen.mkdir(parents=True)
    rows = []
    for slot, key in enumerate(keys):
        lib, _, rid = key.partition("/")
        rows.append({"slot": slot, "doc": {"doc_id": key, "record_key": key, "library_id": lib, "record_id": rid}})
    (gen / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (gen / "meta.json").write_text(json.dumps({"generation": int(name[4:]), "records": len(keys)}), encoding="utf-8")
    (index_dir / "CURRENT").write_text(name, encoding="utf-8")


def test_the_archive_reconciles_a_catalogue_that_moved_on_while_it_was_read(tmp_path: Path, monkeypatch):
    """The races of an online backup, made to happen: the catalogue calls a record indexed that the archived
    generation lacks, the index holds a record the catalogue has dropped, and a writer stores and indexes records
    between the pinning of the generation and the snapshot of the catalogue. The restored catalogue lists all of
    those as work for the indexer, and the live data dir is left as it was."""
    from backup import archive
    from catalog.model import Record
    from catalog.store import CatalogStore

    data = tmp_path / "data"
    store = CatalogStore(f"sqlite:///{data / 'catalog.sqlite3'}")
    lib = "tv-a"

    def rec(rid: str) -> Record:
        return Record(id=rid, library_id=lib, title=f"Sách {rid}", language="vi")

    store.upsert([rec("r1"), rec("r2"), rec("r3")])
    store.mark_indexed([p for p in store.pending_index() if p.record.id in ("r1", "r2")])
    # the live generation has r1 and a record since deleted from the catalogue (its tombstone already cleared),
    # but not r2, which the catalogue calls indexed
    _write_generation(data / "index", "gen-000007", [f"{lib}/r1", f"{lib}/ghost"])

    pin = archive._pin_generations

    def pin_then_write(planned):
        out = pin(planned)
        # a server, meanwhile: stores r4, indexes r3 and r4 into a newer generation, marks them indexed
        store.upsert([rec("r4")])
        store.mark_indexed(store.pending_index())
        _write_generation(data / "index", "gen-000008", [f"{lib}/{r}" for r in ("r1", "r2", "r3", "r4")])
        return out

    monkeypatch.setattr(archive, "_pin_generations", pin_then_write)
    out = tmp_path / "b.tar.gz"
    archive.create_backup(data, out)
    assert archive.verify_archive(out)
    restored = tmp_path / "restored"
    archive.restore_backup(out, restored)

    records, tombstones, index_keys = _restored_records(restored)
    assert (restored / "index" / "CURRENT").read_text() == "gen-000007"
    assert index_keys == {f"{lib}/r1", f"{lib}/ghost"}
    assert records == {f"{lib}/r1": True, f"{lib}/r2": False, f"{lib}/r3": False, f"{lib}/r4": False}
    assert tombstones == {f"{lib}/ghost"}
    # the restored store hands exactly that work to the indexer
    again = CatalogStore(f"sqlite:///{restored / 'catalog.sqlite3'}")
    assert sorted(p.record.id for p in again.pending_index()) == ["r2", "r3", "r4"]
    assert again.pending_deletions() == [(lib, "ghost")]
    # the live catalogue was only read
    assert store.pending_count() == 0 and store.pending_deletions() == []


def _restored_records(data_dir: Path) -> tuple[dict[str, bool], set[str], set[str]]:
    db = sqlite3.connect(data_dir / "catalog.sqlite3")
    try:
        rows = db.execute("SELECT library_id, id, content_hash, indexed_hash FROM records")
        records = {f"{lib}/{rid}": indexed == content for lib, rid, content, indexed in rows}
        tombstones = {f"{lib}/{rid}" for lib, rid in db.execute("SELECT library_id, id FROM deleted_records")}
    finally:
        db.close()
    gen = (data_dir / "index" / "CURRENT").read_text(encoding="utf-8").strip()
    with (data_dir / "index" / gen / "docs.jsonl").open(encoding="utf-8") as fh:
        keys = {json.loads(line)["doc"]["record_key"] for line in fh if line.strip()}
    return records, tombstones, keys
