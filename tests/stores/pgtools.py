"""The real PostgreSQL for the store tests: one fresh database per test session, one schema per test.

The server is 127.0.0.1:5432 (trust auth, user postgres, database ``test``) unless THUVIEN_TEST_PG_URL
names another (a SQLAlchemy URL of a database the tests may connect to, e.g. one `.ci/run` made).
The session database is created from it and dropped at the end, so runs never collide; when the role
may not create databases, the tests use fresh schemas in that database instead. A server that does not
answer fails the tests with its URL: it is a real component of this machine, never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from migrations.db import normalize_url, safe_url

ADMIN_URL = normalize_url(os.environ.get("THUVIEN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def with_search_path(url: str, schema: str) -> str:
    """The URL whose connections see ``schema`` first (psycopg ``options=-csearch_path=…``)."""
    return make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database made for this test session (dropped afterwards)."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {safe_url(ADMIN_URL)} does not answer ({' '.join(str(exc.orig).split())[:200]}); "
            "the store tests run against it (set THUVIEN_TEST_PG_URL to use another server)"
        )
    name = f"thuvien_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except DBAPIError:  # no CREATEDB privilege: fresh schemas in the given database instead
        admin.dispose()
        yield ADMIN_URL
        return
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def pg_schema(db_url: str) -> Iterator[str]:
    """A fresh, empty schema in ``db_url``; yields a URL whose search_path is that schema."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield with_search_path(db_url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """An empty database, on SQLite and on the real PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        return
    with pg_schema(request.getfixturevalue("pg_database")) as url:
        yield url
