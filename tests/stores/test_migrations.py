"""The migrations: fresh databases, databases made before migrations, concurrent openers, the CLI,
and that the tables the stores query are exactly the tables the migrations make (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, insert, inspect, text

import migrations
from catalog import store as catalog_store
from catalog.model import Record
from catalog.store import CatalogStore, record_json
from recommender import loans_store
from recommender.loans_store import Loan, LoansStore
from tests.stores.pgtools import pg_schema

REPO = Path(__file__).resolve().parents[2]
TABLES = {"records", "chunks", "deleted_records", "rec_loans", "alembic_version"}


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_fresh_database_gets_the_schema_and_upgrade_is_idempotent(db_url: str):
    assert migrations.current(db_url) is None
    assert migrations.upgrade(db_url) is None
    assert migrations.current(db_url) == migrations.head()
    assert _tables(db_url) >= TABLES
    assert migrations.upgrade(db_url) == migrations.head()  # second run: nothing to do
    # the stores open on it and work
    store = CatalogStore(db_url)
    assert store.upsert([Record(id="r1", library_id="L", title="Truyện Kiều")]) == ["inserted"]
    loans = LoansStore(db_url)
    assert loans.add([Loan(patron_id="p", record_id="r1", library_id="L")]) == 1
    store.close()


def test_store_tables_match_the_migrations(db_url: str):
    """What the stores query (their Table objects) is what the migrations create: no drift."""
    from audit import log as audit_log
    from auth import keys as auth_keys

    migrations.upgrade(db_url)
    combined = MetaData()
    for md in (catalog_store.metadata, loans_store.metadata, auth_keys.metadata, audit_log.metadata):
        for table in md.tables.values():
            table.to_metadata(combined)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), combined)
    finally:
        engine.dispose()
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]
    assert diff == []


def _legacy_catalog(url: str) -> None:
    """A database as the code before migrations left it: ``create_all`` of the catalogue tables only."""
    engine = create_engine(url)
    catalog_store.metadata.create_all(engine)
    rec = Record(id="old1", library_id="L", title="Sách cũ")
    with engine.begin() as conn:
        conn.execute(
            insert(catalog_store.records_t).values(
                library_id="L",
                id="old1",
                data=record_json(rec),
                chunks_hash="h",
                content_hash="c",
                indexed_hash="c",
                updated_at=datetime.now(UTC),
            )
        )
    engine.dispose()


def test_database_made_before_migrations_is_adopted(db_url: str, caplog):
    _legacy_catalog(db_url)
    assert migrations.current(db_url) is None
    with caplog.at_level("INFO", logger="thuvien.db"):
        store = CatalogStore(db_url)
    assert any("made before migrations" in r.getMessage() for r in caplog.records)
    assert migrations.current(db_url) == migrations.head()
    assert store.get("L", "old1").title == "Sách cũ"  # the data is still there
    assert store.pending_count() == 0  # and its index state too
    # the loans table, missing from that database, was created by the same migration
    loans = LoansStore(db_url)
    assert loans.add([Loan(patron_id="p", record_id="old1", library_id="L")]) == 1
    store.close()


def test_concurrent_openers_migrate_once(db_url: str):
    """Several processes/threads opening a fresh database at once (a gateway and a CLI, replicas)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store(kind: int) -> None:
        try:
            barrier.wait()
            store = CatalogStore(db_url) if kind % 2 else LoansStore(db_url)
            assert store.count() == 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [migrations.head()]
    engine.dispose()


def test_postgresql_urls_use_psycopg3():
    assert migrations.normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert migrations.normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert migrations.normalize_url("/x/c.db") == "sqlite:////x/c.db"
    safe = migrations.safe_url("postgresql+psycopg://thuvien:s3cret@db:5432/thuvien")
    assert "s3cret" not in safe and "thuvien:***@db:5432" in safe


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "db", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _run(*args: str):
    """`thuvien db …` in this process (the subprocess test below covers the real command)."""
    from typer.testing import CliRunner

    from services.cli_db import app

    return CliRunner().invoke(app, list(args))


def test_cli_help():
    for args in (["--help"], ["upgrade", "--help"], ["current", "--help"]):
        res = _run(*args)
        assert res.exit_code == 0, res.output
        assert "Usage" in res.output


def test_cli_upgrade_sqlite_and_postgresql(tmp_path: Path, pg_database: str):
    db = tmp_path / "sub" / "c.sqlite3"
    res = _run("upgrade", "--url", str(db))
    assert res.exit_code == 0, res.output
    assert migrations.current(str(db)) == migrations.head()
    again = _run("upgrade", "--url", str(db))
    assert again.exit_code == 0 and migrations.head() in again.output
    with pg_schema(pg_database) as url:
        proc = _cli("upgrade", "--url", url)  # the real command, in its own process
        assert proc.returncode == 0, proc.stderr
        assert migrations.current(url) == migrations.head()
        cur = _run("current", "--url", url)
        assert cur.exit_code == 0 and f"{migrations.head()} (head {migrations.head()})" in cur.output


def test_cli_upgrade_with_the_database_down_says_which_and_hides_the_password():
    from tests.stores.tcpproxy import free_port

    url = f"postgresql://thuvien:s3cret@127.0.0.1:{free_port()}/thuvien"
    proc = _cli("upgrade", "--url", url)
    assert proc.returncode == 2
    out = " ".join((proc.stdout + proc.stderr).split())
    assert "s3cret" not in out
    assert "127.0.0.1" in out and "unreachable" in out
    assert "Traceback" not in out
