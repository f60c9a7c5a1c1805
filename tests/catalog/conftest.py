"""Catalog fixtures: the first 2,000 LoC MARC records as a file, a fresh store per test."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from catalog.importers.marc import iter_marc_chunks
from catalog.store import CatalogStore
from tests.stores.pgtools import pg_database, pg_schema  # noqa: F401 - pg_database is a fixture

N_LOC = 2000


@pytest.fixture(scope="session")
def loc_raw(shared_data: Path) -> list[bytes]:
    """Raw ISO 2709 bytes of the first 2,000 records of loc-marc/dev.mrc.gz."""
    out: list[bytes] = []
    with gzip.open(shared_data / "loc-marc" / "dev.mrc.gz", "rb") as f:
        for _n, chunk, problem in iter_marc_chunks(f):
            assert problem is None
            out.append(chunk)
            if len(out) == N_LOC:
                break
    assert len(out) == N_LOC
    return out


@pytest.fixture(scope="session")
def loc_file(loc_raw: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("loc") / "loc2000.mrc"
    p.write_bytes(b"".join(loc_raw))
    return p


@pytest.fixture(scope="session")
def loc_store(loc_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """A store holding the 2,000 LoC records (built once), and the import summary."""
    from catalog.ingest import import_path

    store = CatalogStore(f"sqlite:///{tmp_path_factory.mktemp('locdb') / 'catalog.db'}")
    summary = import_path([loc_file], "loc", store, progress=False)
    return store, summary


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> CatalogStore:
    """An empty store on SQLite and on the real PostgreSQL (a fresh schema in this session's database,
    see tests/stores/pgtools.py)."""
    if request.param == "sqlite":
        s = CatalogStore(f"sqlite:///{tmp_path / 'catalog.db'}")
        yield s
        s.close()
        return
    with pg_schema(request.getfixturevalue("pg_database")) as url:
        s = CatalogStore(url)
        yield s
        s.close()
