"""Importing the same loans file twice stores each loan event once."""

from __future__ import annotations

from pathlib import Path

from recommender.loans_store import LoansStore


def test_second_import_of_the_same_file_adds_nothing(tmp_path: Path):
    csv_path = tmp_path / "loans.csv"
    csv_path.write_text(
        "patron_id,record_id,library_id,date,rating\n"
        "P1,b1,tv,2026-01-02,\nP1,b2,tv,2026-01-03,4\nP2,b1,tv,2026-01-02,\nP1,b1,tv,2026-03-01,\n",
        encoding="utf-8",
    )
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    first = store.import_csv(csv_path)
    assert (first.imported, first.skipped) == (4, 0)
    second = store.import_csv(csv_path)
    assert (second.imported, second.skipped) == (0, 4)
    assert store.count() == 4
