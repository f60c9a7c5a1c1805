"""LoansStore on SQLite and on the real PostgreSQL: the same behaviour on both."""

from __future__ import annotations

from datetime import date

from catalog.store import CatalogStore
from recommender.loans_store import Loan, LoansStore


def _loans() -> list[Loan]:
    return [
        Loan(patron_id="p1", record_id="r1", library_id="tv-bacgiang", date=date(2020, 1, 5)),
        Loan(patron_id="p1", record_id="r2", library_id="tv-bacgiang", date=date(2026, 3, 1), rating=4.5),
        Loan(patron_id="p2", record_id="r1", library_id="tv-lucngan", date=date(2026, 6, 30)),
        Loan(patron_id="p3", record_id="Truyện Kiều", library_id="tv-yenthe"),
    ]


def test_add_is_idempotent_and_history_keeps_order(db_url: str):
    store = LoansStore(db_url)
    assert store.add(_loans()) == 4
    assert store.add(_loans()) == 0  # the same loan events are stored once
    assert store.count() == 4
    hist = store.history("p1")
    assert [(x.record_id, x.date, x.rating) for x in hist] == [
        ("r1", date(2020, 1, 5), None),
        ("r2", date(2026, 3, 1), 4.5),
    ]
    assert store.history("p3")[0].record_id == "Truyện Kiều" and store.history("p3")[0].date is None
    assert store.history("nobody") == []


def test_iter_loans_pages_through_everything(db_url: str):
    store = LoansStore(db_url)
    many = [Loan(patron_id=f"p{i % 7}", record_id=f"r{i}", library_id="L") for i in range(53)]
    assert store.add(many) == 53
    rows = list(store.iter_loans(chunk=10))
    assert len(rows) == 53 and {r.record_id for r in rows} == {f"r{i}" for i in range(53)}


def test_forget_patron_and_retention(db_url: str):
    store = LoansStore(db_url)
    store.add(_loans())
    assert store.apply_retention(24, today=date(2026, 11, 25)) == 1  # the 2020 loan
    assert [x.record_id for x in store.history("p1")] == ["r2"]
    assert store.forget_patron("p1") == 1
    assert store.history("p1") == [] and store.count() == 2
    assert store.forget_patron("p1") == 0


def test_csv_import_reports_bad_lines_and_keeps_the_rest(db_url: str):
    store = LoansStore(db_url)
    text = (
        "patron_id,record_id,library_id,date,rating\n"
        "p1,r1,lib,2025-01-02,\n"
        "p1,,lib,2025-01-02,\n"  # line 3: no record id
        "p2,r2,lib,31/02/2025,\n"  # line 4: no such date
        "p2,r3,lib,2025-02-01,mười\n"  # line 5: rating not a number
        "p3,r4,lib,13/02/2025,7\n"
    )
    s = store.import_csv("loans.csv", text=text)
    assert (s.imported, s.skipped) == (2, 3)
    assert [e.position for e in s.errors] == ["line 3", "line 4", "line 5"]
    again = store.import_csv("loans.csv", text=text)
    assert again.imported == 0 and store.count() == 2


def test_loans_and_catalogue_share_one_database(db_url: str):
    """The recommender and the catalogue open the same database (one migration history)."""
    catalog = CatalogStore(db_url)
    a, b = LoansStore(db_url), LoansStore(db_url)
    a.add(_loans()[:2])
    assert b.count() == 2  # a second replica sees the writes
    assert catalog.count() == 0
    catalog.close()
