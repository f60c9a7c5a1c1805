"""CatalogStore: upsert statuses and idempotence, atomicity, pending index, deletions, crash safety.

The ``store`` fixture runs each test on SQLite and on the real PostgreSQL (tests/catalog/conftest.py)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from catalog.chunking import make_chunks
from catalog.ingest import import_path
from catalog.model import Chunk, Record
from catalog.store import CatalogStore
from tests.catalog.helpers import snapshot

REPO = Path(__file__).resolve().parents[2]


def rec(i: int, lib: str = "L", **kw) -> Record:
    return Record(id=f"r{i}", library_id=lib, title=kw.pop("title", f"Sách số {i}"), **kw)


def chunks_for(r: Record, *texts: str) -> dict[str, list[Chunk]]:
    return {r.key: make_chunks(r.library_id, r.id, [(t, f"đoạn {k}") for k, t in enumerate(texts, 1)])}


def test_upsert_statuses_and_idempotence(store: CatalogStore):
    rs = [rec(i) for i in range(5)]
    assert store.upsert(rs) == ["inserted"] * 5
    assert store.upsert(rs) == ["unchanged"] * 5
    changed = rs[2].model_copy(update={"year": 2001})
    assert store.upsert([rs[0], changed]) == ["unchanged", "updated"]
    assert store.get("L", "r2").year == 2001
    assert store.count() == 5
    # same id in another library is another record
    assert store.upsert([rec(0, lib="M")]) == ["inserted"]
    assert store.count() == 6 and store.libraries() == ["L", "M"]
    # a record repeated in one call is applied in order
    a, b = rec(9, title="A"), rec(9, title="B")
    assert store.upsert([a, b, b]) == ["inserted", "updated", "unchanged"]
    assert store.get("L", "r9").title == "B"


def test_chunks_replace_keep_and_hash(store: CatalogStore):
    r = rec(1)
    assert store.upsert([r], chunks_for(r, "một", "hai", "ba")) == ["inserted"]
    assert [c.text for c in store.chunks_of("L", "r1")] == ["một", "hai", "ba"]
    assert [c.chunk_id for c in store.chunks_of("L", "r1")] == ["L/r1#0", "L/r1#1", "L/r1#2"]
    # no chunks given: stored chunks are kept, record unchanged
    assert store.upsert([r]) == ["unchanged"]
    assert len(store.chunks_of("L", "r1")) == 3
    # new chunks replace the old ones (fewer of them: none left behind)
    assert store.upsert([r], chunks_for(r, "bốn")) == ["updated"]
    assert [c.text for c in store.chunks_of("L", "r1")] == ["bốn"]
    assert store.get_chunks(["L/r1#0", "L/r1#2", "nope"]).keys() == {"L/r1#0"}
    assert store.upsert([r], {r.key: []}) == ["updated"]
    assert store.chunks_of("L", "r1") == []


def test_upsert_is_all_or_nothing(store: CatalogStore):
    base = [rec(i) for i in range(3)]
    store.upsert(base, chunks_for(base[0], "giữ nguyên"))
    before = snapshot(store)
    new = rec(10)
    changed = base[0].model_copy(update={"title": "đổi"})
    bad = rec(11)
    wrong = {bad.key: make_chunks("L", "other", [("x", None)])}  # chunk of another record
    with pytest.raises(ValueError):
        store.upsert([new, changed, bad], {**chunks_for(changed, "mới"), **wrong})
    assert snapshot(store) == before
    # a database error in the middle (duplicate chunk ids) also rolls everything back
    dup = make_chunks("L", "r12", [("a", None)]) * 2
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError from the driver
        store.upsert([new, changed, rec(12)], {**chunks_for(changed, "mới"), rec(12).key: dup})
    assert snapshot(store) == before


def test_exception_mid_transaction_rolls_back(store: CatalogStore, monkeypatch):
    store.upsert([rec(1)])
    before = snapshot(store)
    import catalog.store as st

    calls = {"n": 0}
    real = st.content_hash

    def boom(*a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real(*a)

    monkeypatch.setattr(st, "content_hash", boom)
    with pytest.raises(RuntimeError):
        store.upsert([rec(2), rec(1, title="x"), rec(3)])
    assert snapshot(store) == before


def test_pending_index_and_mark(store: CatalogStore):
    rs = [rec(i) for i in range(4)]
    store.upsert(rs, chunks_for(rs[0], "văn bản"))
    pend = store.pending_index(10)
    assert len(pend) == 4
    r0, ch0 = next(p for p in pend if p[0].id == "r0")
    assert [c.text for c in ch0] == ["văn bản"]
    store.mark_indexed(pend[:3])
    assert len(store.pending_index(10)) == 1
    store.mark_indexed([(p.record.library_id, p.record.id, p.content_hash) for p in store.pending_index(10)])
    assert store.pending_index(10) == [] and store.pending_count() == 0
    # a change makes it pending again; acknowledging an old hash does not clear it
    old_hash = store.get_hash("L", "r1")
    store.upsert([rs[1].model_copy(update={"title": "mới"})])
    store.mark_indexed([("L", "r1", old_hash)])
    assert [p[0].id for p in store.pending_index(10)] == ["r1"]
    store.reset_indexed()
    assert store.pending_count() == 4


def test_reads_and_delete(store: CatalogStore):
    rs = [rec(i, lib=lib) for lib in ("A", "B") for i in range(7)]
    store.upsert(rs, chunks_for(rs[0], "x", "y"))
    batches = list(store.iter_records(batch=3))
    assert sum(len(b) for b in batches) == 14 and max(len(b) for b in batches) == 3
    assert len({r.key for b in batches for r in b}) == 14
    got = store.get_many([("A", "r1"), ("B", "r6"), ("C", "zz")])
    assert set(got) == {("A", "r1"), ("B", "r6")}
    assert store.get("C", "zz") is None
    assert store.delete("A", "r0") is True and store.delete("A", "r0") is False
    assert store.get("A", "r0") is None and store.chunks_of("A", "r0") == []
    assert store.count() == 13 and store.count("A") == 6
    assert store.pending_deletions() == [("A", "r0")]
    store.clear_deletions([("A", "r0")])
    assert store.pending_deletions() == []
    assert store.upsert([rs[0]]) == ["inserted"]


def test_sqlite_pragmas(tmp_path: Path):
    store = CatalogStore(f"sqlite:///{tmp_path / 'p.db'}")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_two_stores_on_one_file(tmp_path: Path):
    """A CLI import while a server holds the same database: both see each other's writes."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    a, b = CatalogStore(url), CatalogStore(url)
    a.upsert([rec(1)])
    assert b.get("L", "r1") is not None
    b.upsert([rec(2)])
    assert a.count() == 2


def test_two_stores_on_one_database(store: CatalogStore):
    """Two processes (gateway replicas, a CLI) on the same database, SQLite file or PostgreSQL."""
    other = CatalogStore(store.url)
    try:
        store.upsert([rec(1, title="Chí Phèo")])
        assert other.get("L", "r1").title == "Chí Phèo"
        other.delete("L", "r1")
        assert store.get("L", "r1") is None and store.pending_deletions() == [("L", "r1")]
    finally:
        other.close()


def test_concurrent_writers_lose_nothing(store: CatalogStore):
    import threading

    errors: list[BaseException] = []

    def write(start: int) -> None:
        try:
            for i in range(start, start + 40, 4):
                store.upsert([rec(i + k) for k in range(4)])
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n * 40,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and store.count() == 160 and store.pending_count() == 160


def _jsonl(path: Path, n: int) -> Path:
    import json

    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"b{i}", "title": f"Sách {i}", "text": f"Nội dung số {i}. " * 5}) + "\n")
    return path


def test_resume_after_interruption(tmp_path: Path, store: CatalogStore, monkeypatch):
    src = _jsonl(tmp_path / "books.jsonl", 250)
    real = store.upsert
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the third batch
        return real(*a, **kw)

    monkeypatch.setattr(store, "upsert", flaky)
    with pytest.raises(KeyboardInterrupt):
        import_path(src, "L", store, progress=False, batch_size=50)
    assert store.count() == 100
    monkeypatch.setattr(store, "upsert", real)
    s = import_path(src, "L", store, progress=False, batch_size=50)
    assert (s.imported, s.skipped, s.updated, s.errors) == (150, 100, 0, [])
    assert store.count() == 250 and store.count_chunks() == 250
    s = import_path(src, "L", store, progress=False, batch_size=50)
    assert (s.imported, s.skipped) == (0, 250)


def test_killed_process_leaves_no_half_written_batch(tmp_path: Path):
    """SIGKILL in the middle of a transaction: the committed batches are there, nothing of the
    interrupted one, the database is intact, and a rerun completes without duplicates."""
    src = _jsonl(tmp_path / "books.jsonl", 300)
    db = tmp_path / "c.db"
    script = textwrap.dedent(
        f"""
        import os, signal
        import catalog.store as st
        from catalog.ingest import import_path
        real, n = st.content_hash, [0]
        def dying(*a):
            n[0] += 1
            if n[0] == 150:  # record 50 of the second batch, rows of that batch already written
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a)
        st.content_hash = dying
        import_path({str(src)!r}, "L", st.CatalogStore({str(db)!r}), progress=False, batch_size=100)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == 100
    assert con.execute("SELECT count(*) FROM chunks").fetchone()[0] == 100
    con.close()
    store = CatalogStore(str(db))
    s = import_path(src, "L", store, progress=False, batch_size=100)
    assert (s.imported, s.skipped, s.errors) == (200, 100, [])
    assert store.count() == 300 and store.count_chunks() == 300
    assert os.path.exists(db)


def test_a_record_the_database_refuses_does_not_sink_its_batch(tmp_path: Path, store: CatalogStore, monkeypatch):
    src = _jsonl(tmp_path / "books.jsonl", 20)
    real = store.upsert

    def picky(records, chunks=None):
        if any(r.id == "b7" for r in records):
            raise RuntimeError("value too long for the database")
        return real(records, chunks)

    monkeypatch.setattr(store, "upsert", picky)
    s = import_path(src, "L", store, progress=False, batch_size=10)
    assert s.imported == 19 and store.count() == 19
    assert [(e.position, "value too long" in e.reason) for e in s.errors] == [("line 8", True)]
