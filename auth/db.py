"""Engines and schema for the security tables (API keys, audit log): SQLite or PostgreSQL.

The tables come from the migrations (``migrations/versions/0002_security.py``) when the ``migrations``
package is there, the same chain as the catalogue's, so they live beside it in one database; otherwise
(or for an in-memory database) from ``metadata.create_all``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url

_engines: dict[str, Engine] = {}
_migrated: set[str] = set()
_lock = threading.Lock()
PG_CONNECT_TIMEOUT_S = 10


def _normalize(url: str) -> str:
    try:
        from migrations.db import normalize_url
    except ImportError:
        return url
    return normalize_url(url)


def engine_for(url: str) -> Engine:
    """A shared engine for ``url``; a SQLite file's directory is created, and SQLite waits on a busy file."""
    url = _normalize(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            if parsed.get_backend_name() == "sqlite":
                if parsed.database and parsed.database != ":memory:":
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                from migrations.db import switch_to_wal

                engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

                @event.listens_for(engine, "connect")
                def _pragmas(dbapi_conn, _record) -> None:  # as the catalogue store: WAL, wait when busy
                    cur = dbapi_conn.cursor()
                    cur.execute("PRAGMA busy_timeout=30000")
                    switch_to_wal(cur)
                    cur.close()

            else:
                engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S})
            _engines[url] = engine
        return engine


def ensure_schema(engine: Engine, metadata: MetaData) -> str:
    """Create the security tables: through the migrations when possible. Returns "migrations" or "create_all"."""
    url = engine.url.render_as_string(hide_password=False)
    try:
        from migrations.runner import upgrade
    except ImportError:
        upgrade = None
    memory = url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/"))
    if upgrade is not None and not memory:
        with _lock:
            if url in _migrated:
                return "migrations"
        upgrade(engine)
        with _lock:
            _migrated.add(url)
        return "migrations"
    metadata.create_all(engine)
    return "create_all"
