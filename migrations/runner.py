"""Run the migrations programmatically: the stores call :func:`upgrade` when they open, and so does
``thuvien db upgrade``. No ``alembic.ini`` is needed; the script directory is this package.

Concurrent openers are serialised: on PostgreSQL by a transaction-level advisory lock, on SQLite by
``BEGIN IMMEDIATE`` (the write lock). The whole upgrade is one transaction on both (transactional DDL),
so a failed migration leaves the schema as it was.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

# alembic logs one INFO line per built-in plugin on import: noise in every service's start-up log.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import create_engine, event, inspect, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from migrations.db import engine_options, is_memory_sqlite, normalize_url, safe_url  # noqa: E402

log = logging.getLogger("thuvien.db")

SCRIPT_DIR = Path(__file__).resolve().parent
#: pg_advisory_xact_lock key held while migrating ("thuvien" in ASCII).
PG_LOCK_KEY = 0x7468757669656E
#: Tables that exist in a database made before the migrations (by ``metadata.create_all``).
VERSION_TABLE = "alembic_version"
LEGACY_TABLES = ("records", "chunks", "deleted_records", "rec_loans")


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision of the migrations."""
    rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert rev is not None
    return rev


def _engine(target: str | Engine) -> tuple[Engine, bool]:
    """The engine to migrate with, and whether we made it (and must dispose of it)."""
    if isinstance(target, Engine):
        url = target.url.render_as_string(hide_password=False)
        if not is_memory_sqlite(url):
            return _engine(url)
        return target, False
    url = normalize_url(target)
    if is_memory_sqlite(url):
        raise ValueError("an in-memory SQLite database must be migrated through its own engine")
    opts = engine_options(url)
    opts.pop("pool_pre_ping", None)
    engine = create_engine(url, poolclass=NullPool, **opts)
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and not db_path.startswith("file:"):
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN, below: the IMMEDIATE kind
            dbapi_conn.execute("PRAGMA busy_timeout=30000")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine, True


def _current(conn: Connection) -> str | None:
    # Read directly (no MigrationContext): opening an up-to-date store logs nothing.
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()


def upgrade(target: str | Engine, revision: str = "head") -> str | None:
    """Bring the database at ``target`` (a URL, a bare SQLite path, or an engine) to ``revision``.

    Returns the revision it was at before (None: an empty database, or one made before the
    migrations, whose tables the first revision adopts as they are). Connection errors propagate
    (``sqlalchemy.exc.OperationalError``).
    """
    engine, own = _engine(target)
    try:
        with engine.connect() as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
            before = _current(conn)
            if before is None:
                legacy = sorted(set(LEGACY_TABLES) & set(inspect(conn).get_table_names()))
                if legacy:
                    log.info(
                        "database %s holds tables made before migrations (%s): adopting them",
                        safe_url(str(engine.url)),
                        ", ".join(legacy),
                    )
            if before != head() or revision != "head":
                command.upgrade(_config(conn), revision)
                log.info("database %s migrated from %s to %s", safe_url(str(engine.url)), before, _current(conn))
        return before
    finally:
        if own:
            engine.dispose()


def current(target: str | Engine) -> str | None:
    """The revision the database is at (None: not migrated yet)."""
    engine, own = _engine(target)
    try:
        with engine.connect() as conn:
            return _current(conn)
    finally:
        if own:
            engine.dispose()
