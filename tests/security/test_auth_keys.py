"""API keys: made, hashed with argon2, looked up by id, verified, listed without secrets, revoked; on SQLite
and on the real PostgreSQL; and the ``thuvien keys`` commands."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from auth.keys import HASHER, KeyError_, KeyStore, api_keys, key_id_of, parse_key
from auth.roles import Role
from services.cli import app as cli_app
from tests.stores.pgtools import pg_schema


@pytest.fixture
def sqlite_store(tmp_path) -> KeyStore:
    return KeyStore(f"sqlite:///{tmp_path / 'keys.sqlite3'}")


@pytest.fixture
def pg_store(pg_database):
    """A KeyStore in a fresh schema of this session's PostgreSQL database, dropped afterwards."""
    with pg_schema(pg_database) as url:  # search_path in the URL: the migrations runner opens its own engine
        store = KeyStore(url)
        yield store
        store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request) -> KeyStore:
    return request.getfixturevalue("sqlite_store" if request.param == "sqlite" else "pg_store")


def test_key_lifecycle(store: KeyStore):
    new = store.create("librarian", "tv-bacgiang", name="quầy mượn")
    assert parse_key(new.secret) is not None and key_id_of(new.secret) == new.key.id
    assert new.secret.startswith(f"tvk_{new.key.id}_")
    # stored hashed: the secret is nowhere in the table, the hash is argon2id and verifies
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == new.key.id)).one()
    secret_part = parse_key(new.secret)[1]
    assert secret_part not in json.dumps([str(v) for v in row])
    assert row.secret_hash.startswith("$argon2id$") and HASHER.verify(row.secret_hash, secret_part)
    key = store.verify(new.secret)
    assert key is not None and key.role == Role.LIBRARIAN and key.library_id == "tv-bacgiang"
    assert store.verify(new.secret) == key  # the second time from the in-process cache, same answer
    p = key.principal()
    assert (p.actor, p.key_id, p.may_change_library("tv-bacgiang"), p.may_change_library("tv-x")) == (
        f"key:{new.key.id}",
        new.key.id,
        True,
        False,
    )
    # a wrong secret with the right id, an unknown id, garbage
    id_, secret = parse_key(new.secret)
    assert store.verify(f"tvk_{id_}_{secret[::-1]}") is None
    assert store.verify(f"tvk_{'0' * 12}_{secret}") is None
    assert store.verify("tvk_nothex_x") is None and store.verify("") is None
    listed = store.list()
    assert [k.id for k in listed] == [new.key.id] and listed[0].name == "quầy mượn"
    revoked = store.revoke(new.key.id)
    assert revoked.revoked_at is not None and not revoked.active
    assert store.verify(new.secret) is None  # the cached verification does not outlive revocation
    assert store.list(include_revoked=False) == []
    with pytest.raises(KeyError_, match="already revoked"):
        store.revoke(new.key.id)
    with pytest.raises(KeyError_, match="no key"):
        store.revoke("abcdefabcdef")


def test_rules_for_roles(sqlite_store: KeyStore):
    with pytest.raises(KeyError_, match="anonymous"):
        sqlite_store.create("reader", "tv-a")
    with pytest.raises(KeyError_, match="--library"):
        sqlite_store.create("librarian", None)
    with pytest.raises(KeyError_, match="--patron"):
        sqlite_store.create("patron", "tv-a")
    with pytest.raises(KeyError_, match="only admin"):
        sqlite_store.create("librarian", "*")
    with pytest.raises(KeyError_, match="only for patron"):
        sqlite_store.create("librarian", "tv-a", patron_id="P1")
    with pytest.raises(ValueError, match="unknown role"):
        sqlite_store.create("superuser", "tv-a")
    admin = sqlite_store.create("ADMIN", None).key
    assert admin.role == Role.ADMIN and admin.library_id == "*"
    patron = sqlite_store.create("patron", "tv-a", patron_id="P7").key
    assert patron.principal().may_read_patron("P7") and not patron.principal().may_read_patron("P8")
    assert len({sqlite_store.create("librarian", "tv-a").key.id for _ in range(5)}) == 5


def run(data_dir, *args: str):
    return CliRunner().invoke(cli_app, list(args), env={"THUVIEN_DATA_DIR": str(data_dir)})


def test_keys_cli_create_list_revoke(tmp_path):
    data = tmp_path / "data"
    r = run(data, "keys", "create", "--role", "librarian", "--library", "tv-bacgiang", "--name", "quầy 1")
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[0]
    key_id = key_id_of(secret)
    assert key_id is not None
    r = run(data, "keys", "create", "--role", "patron", "--library", "tv-bacgiang", "--patron", "P0001", "--json")
    patron = json.loads(r.stdout.strip().splitlines()[0])
    assert patron["role"] == "patron" and patron["patron_id"] == "P0001" and patron["key"].startswith("tvk_")
    listed = run(data, "keys", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["id"] for r in rows] == [key_id, patron["id"]]
    assert secret not in listed.output and patron["key"] not in listed.output  # never shown again
    assert secret.split("_", 2)[2] not in run(data, "keys", "list").output
    assert run(data, "keys", "revoke", key_id).exit_code == 0
    again = run(data, "keys", "revoke", key_id)
    assert again.exit_code == 2 and "already revoked" in again.output
    assert [r["id"] for r in map(json.loads, run(data, "keys", "list", "--json").stdout.splitlines())] == [patron["id"]]
    assert len(run(data, "keys", "list", "--all", "--json").stdout.splitlines()) == 2
    bad = run(data, "keys", "create", "--role", "librarian")
    assert bad.exit_code == 2 and "--library" in bad.output
    for args in (
        ["keys", "--help"],
        ["keys", "create", "--help"],
        ["keys", "list", "--help"],
        ["keys", "revoke", "--help"],
    ):
        assert run(data, *args).exit_code == 0
