"""Database URLs and the schema gate shared by the SQL stores (catalogue, loans).

* :func:`normalize_url` accepts a bare SQLite file path and the ``postgres://`` / ``postgresql://``
  spellings (which would pick psycopg2) and returns a URL for SQLAlchemy with psycopg 3.
* :func:`safe_url` is the URL as it may be logged: never a password.
* :class:`SchemaGate` gives a store its schema from the migrations when the store opens, and keeps
  the store usable when its database is down at that moment: one clear log line naming the URL, and
  every call then raises :class:`StoreUnavailable` (services answer it with a 503) until the database
  answers again, when the migrations run and the store works, without a restart.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

log = logging.getLogger("thuvien.db")

#: How long a store whose database did not answer waits before it tries again (calls meanwhile fail at once).
RETRY_AFTER_S = 2.0
#: Seconds a PostgreSQL connection attempt may take before the database counts as unreachable.
PG_CONNECT_TIMEOUT_S = 10


class StoreUnavailable(RuntimeError):
    """The store's database does not answer (down, unreachable, refusing connections)."""

    def __init__(self, store: str, url: str, reason: str) -> None:
        self.store = store
        self.url = url  # already without password
        self.reason = reason
        super().__init__(f"{store} store: the database {url} is unreachable: {reason}")


WAL_SWITCH_WAIT_S = 30.0


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL: bare paths become ``sqlite:///path``; PostgreSQL URLs use psycopg 3."""
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def safe_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``: what logs and errors may show."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: show its scheme only
        return url.split("://", 1)[0] + "://…"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_memory_sqlite(url: str) -> bool:
    """An in-memory SQLite database (lives in one connection: it cannot be migrated from another)."""
    if not is_sqlite(url):
        return False
    path = url.split("///", 1)[-1] if "///" in url else ""
    return path in ("", ":memory:") or "mode=memory" in url


def switch_to_wal(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL`` on a SQLite connection whose busy timeout is set, retried for up to
    :data:`WAL_SWITCH_WAIT_S` while another opener holds the file: SQLite answers "database is locked" at once,
    without its busy timeout, when a fresh file is switched while another connection migrates it."""
    deadline = time.monotonic() + WAL_SWITCH_WAIT_S
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def engine_options(url: str) -> dict[str, Any]:
    """Engine keyword arguments for a server database: a pre-ping (a restarted server costs no error)
    and a bounded connect timeout (a blackholed host fails in seconds, not minutes)."""
    if is_sqlite(url):
        return {}
    opts: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql") and "connect_timeout" not in url:
        opts["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    return opts


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return text[:300] or type(orig).__name__


class SchemaGate:
    """Migrates a store's database on first contact and turns "database down" into :class:`StoreUnavailable`.

    ``open()`` runs at store construction: it migrates, or logs one error line naming the (password-less)
    URL when the database does not answer. The engine then refuses new connections (``StoreUnavailable``)
    until a retry, at most every :data:`RETRY_AFTER_S` seconds, reaches the database and migrates it.
    A lost connection at run time also becomes ``StoreUnavailable``, logged once per outage.
    """

    def __init__(self, engine: Engine, url: str, store: str) -> None:
        self.engine = engine
        self.url = url
        self.safe = safe_url(url)
        self.store = store
        self.ready = False
        self.retry_after_s = RETRY_AFTER_S
        self._next_try = 0.0
        self._down = False
        self._last_reason = ""
        self._lock = threading.Lock()
        self._memory = is_memory_sqlite(url)
        if not self._memory:
            event.listen(engine, "connect", self._on_connect)
        event.listen(engine, "handle_error", self._on_error)

    # -- public -----------------------------------------------------------------------------------
    def open(self) -> bool:
        """Migrate now; False (logged) if the database does not answer. Other errors propagate."""
        try:
            self.ensure()
        except StoreUnavailable:
            return False
        return True

    def ensure(self) -> None:
        """Make sure the schema is current; raise :class:`StoreUnavailable` if the database is down."""
        if self.ready:
            return
        with self._lock:
            if self.ready:
                return
            now = time.monotonic()
            if now < self._next_try:
                raise StoreUnavailable(self.store, self.safe, self._last_reason)
            from migrations.runner import upgrade  # noqa: PLC0415 - runner imports this module

            try:
                upgrade(self.engine if self._memory else self.url)
            except (OperationalError, InterfaceError) as exc:
                self._next_try = time.monotonic() + self.retry_after_s
                self._last_reason = _reason(exc)
                self._mark_down(exc)
                raise StoreUnavailable(self.store, self.safe, self._last_reason) from exc
            except Exception:
                log.error("%s store: migrating the database %s failed", self.store, self.safe)
                raise
            self.ready = True
            if self._down:
                self._down = False
                log.warning("%s store: the database %s answers again; schema is current", self.store, self.safe)

    # -- engine events ----------------------------------------------------------------------------
    def _on_connect(self, _dbapi_conn: Any, _record: Any) -> None:
        # A new connection of the store: if the schema was never applied (the database was down at
        # open), apply it now over a separate connection, or refuse this one.
        if not self.ready:
            self.ensure()
        elif self._down:
            self._down = False
            log.warning("%s store: the database %s answers again", self.store, self.safe)

    def _on_error(self, ctx: Any) -> None:
        exc = ctx.original_exception
        if isinstance(exc, StoreUnavailable):
            return
        if (ctx.connection is None or ctx.is_disconnect) and isinstance(ctx.sqlalchemy_exception, DBAPIError):
            self._mark_down(exc)
            raise StoreUnavailable(self.store, self.safe, _reason(exc)) from exc

    def _mark_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            log.error(
                "%s store: the database %s is unreachable (%s); its features answer 503 until it is back",
                self.store,
                self.safe,
                _reason(exc),
            )
