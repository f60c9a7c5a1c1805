from datetime import date

from recommender.loans_store import BOOKCROSSING_MAPPING, Loan, LoansStore, months_before


def test_malformed_csv_reports_each_bad_line(tmp_path):
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    csv_text = (
        "patron_id,record_id,library_id,date,rating\n"
        "p1,r1,lib,2025-01-02,\n"  # line 2 ok
        "p1,,lib,2025-01-02,\n"  # line 3: no record id
        "p2,r2,lib,02/13/2025,\n"  # line 4: bad date
        "p2,r3,lib,2025-02-01,abc\n"  # line 5: bad rating
        "p3,r3,lib,2025-02-01,5,extra\n"  # line 6: too many columns
        "p3,r4,lib,13/02/2025,7\n"  # line 7 ok (DD/MM/YYYY)
    )
    s = store.import_csv("loans.csv", text=csv_text)
    assert s.imported == 2 and s.skipped == 4
    assert [e.position for e in s.errors] == ["line 3", "line 4", "line 5", "line 6"]
    assert all(e.file == "loans.csv" and e.reason for e in s.errors)
    assert store.count() == 2


def test_missing_columns_is_one_clear_error(tmp_path):
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    s = store.import_csv("x.csv", text="who,what\n1,2\n")
    assert s.imported == 0 and s.errors and "patron_id" in s.errors[0].reason


def test_bookcrossing_style_ratings(tmp_path):
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    s = store.import_csv(
        "bx.csv",
        BOOKCROSSING_MAPPING,
        library_id="bx",
        text='"user_id";"isbn";"rating"\n"276725";"034545104X";"0"\n"276726";"0155061224";"5"\n',
    )
    assert s.imported == 2 and not s.errors
    assert [(x.record_id, x.rating) for x in store.history("276726")] == [("0155061224", 5.0)]


def test_forget_and_retention(tmp_path):
    store = LoansStore(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    store.add(
        [
            Loan(patron_id="a", record_id="r1", library_id="l", date=date(2020, 1, 1)),
            Loan(patron_id="a", record_id="r2", library_id="l", date=date(2026, 1, 1)),
            Loan(patron_id="b", record_id="r1", library_id="l", date=date(2026, 2, 1)),
        ]
    )
    assert store.apply_retention(24, today=date(2026, 11, 25)) == 1
    assert [x.record_id for x in store.history("a")] == ["r2"]
    assert store.forget_patron("a") == 1
    assert store.history("a") == [] and store.count() == 1
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
