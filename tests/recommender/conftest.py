"""Fixtures: a small real subset of Book-Crossing (users with ≥ 5 ratings), as loans and records."""

from __future__ import annotations

import csv
import gzip
from collections import defaultdict
from pathlib import Path

import pytest

from catalog.model import Record

N_USERS = 250


@pytest.fixture(scope="session")
def bx_subset(shared_data: Path) -> dict:
    """The first N_USERS users (by id) with 5–60 ratings, their ratings, and the books they rated."""
    by_user: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with gzip.open(shared_data / "bookcrossing" / "ratings.csv.gz", "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_user[r["user_id"]].append((r["isbn"], float(r["rating"])))
    users = [u for u in sorted(by_user) if 5 <= len(by_user[u]) <= 60][:N_USERS]
    ratings = {u: by_user[u] for u in users}
    isbns = {i for u in users for i, _ in ratings[u]}
    books: dict[str, tuple[str, str]] = {}
    extra: list[tuple[str, str, str]] = []  # books nobody in the subset rated: "new arrivals"
    with gzip.open(shared_data / "bookcrossing" / "books.csv.gz", "rt", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["isbn"] in isbns:
                books[r["isbn"]] = (r["title"], r["author"])
            elif len(extra) < 30 and r["author"] and r["title"]:
                extra.append((r["isbn"], r["title"], r["author"]))
    return {"ratings": ratings, "books": books, "extra": extra}


@pytest.fixture(scope="session")
def bx_records(bx_subset) -> list[Record]:
    recs = [
        Record(id=i, library_id="bx", title=t or i, authors=[a] if a else [], available=int(n % 3 != 0))
        for n, (i, (t, a)) in enumerate(sorted(bx_subset["books"].items()))
    ]
    recs += [Record(id=i, library_id="bx", title=t, authors=[a]) for i, t, a in bx_subset["extra"]]
    return recs


def write_loans_csv(path: Path, ratings: dict) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["patron_id", "record_id", "library_id", "date", "rating"])
        for n, (u, items) in enumerate(sorted(ratings.items())):
            for m, (isbn, rating) in enumerate(items):
                w.writerow([f"p{u}", isbn, "bx", f"2025-{1 + (n + m) % 12:02d}-{1 + m % 28:02d}", rating])
    return path
