"""The loans store: pseudonymous patron id, record id, library id, date, optional rating.

Its own table (``rec_loans``) in the catalogue's database (SQLite by default, PostgreSQL through
psycopg 3 in production) through SQLAlchemy 2 Core; the schema comes from the migrations in
``migrations/``, applied when the store opens. ``forget_patron`` removes a patron's loans; since models
are trained from this table and hold no per-patron data, the next model has no trace of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import (
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    func,
    select,
)

from catalog.model import ImportProblem, ImportSummary
from migrations.db import SchemaGate, engine_options, is_memory_sqlite, normalize_url

metadata = MetaData()
loans = Table(
    "rec_loans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patron_id", String(200), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("library_id", String(100), nullable=False),
    Column("loan_date", Date, nullable=True),
    Column("rating", Float, nullable=True),
    Index("ix_rec_loans_patron", "patron_id"),
    Index("ix_rec_loans_date", "loan_date"),
)

#: column mappings: canonical field -> CSV column
DEFAULT_MAPPING = {
    "patron_id": "patron_id",
    "record_id": "record_id",
    "library_id": "library_id",
    "date": "date",
    "rating": "rating",
}
BOOKCROSSING_MAPPING = {"patron_id": "user_id", "record_id": "isbn", "rating": "rating"}


class Loan(BaseModel):
    patron_id: str = Field(min_length=1, max_length=200)
    record_id: str = Field(min_length=1, max_length=200)
    library_id: str = Field(min_length=1, max_length=100)
    date: dt.date | None = None
    rating: float | None = Field(default=None, ge=0, le=10)

    @field_validator("patron_id", "record_id", "library_id")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be empty")
        return v


@dataclass(frozen=True)
class LoanRow:
    patron_id: str
    record_id: str
    library_id: str
    date: date | None
    rating: float | None


def _parse_date(text: str) -> date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d"):
        try:
            return datetime.strptime(text[:19] if "T" in text else text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"ngày không hợp lệ {text!r} (cần YYYY-MM-DD hoặc DD/MM/YYYY)")


class LoansStore:
    def __init__(self, url: str) -> None:
        url = normalize_url(url)
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        kwargs = engine_options(url)
        if is_memory_sqlite(url):
            from sqlalchemy.pool import StaticPool  # noqa: PLC0415

            kwargs["poolclass"] = StaticPool
        self.engine = create_engine(url, future=True, **kwargs)
        # The schema comes from the migrations (migrations/); a database down now is logged and its
        # calls raise StoreUnavailable (a 503 in the service) until it answers and is migrated.
        self.schema = SchemaGate(self.engine, url, "loans")
        self.schema.open()

    # -- writing ---------------------------------------------------------------------------------
    def add(self, items: Iterable[Loan]) -> int:
        rows = [
            {
                "patron_id": x.patron_id,
                "record_id": x.record_id,
                "library_id": x.library_id,
                "loan_date": x.date,
                "rating": x.rating,
            }
            for x in items
        ]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            # The same loan event (patron, record, library, date) is stored once: importing a file again adds nothing.
            patrons = sorted({r["patron_id"] for r in rows})
            seen = set()
            for start in range(0, len(patrons), 500):
                seen.update(
                    tuple(r)
                    for r in conn.execute(
                        select(loans.c.patron_id, loans.c.record_id, loans.c.library_id, loans.c.loan_date).where(
                            loans.c.patron_id.in_(patrons[start : start + 500])
                        )
                    )
                )
            fresh = []
            for r in rows:
                key = (r["patron_id"], r["record_id"], r["library_id"], r["loan_date"])
                if key not in seen:
                    seen.add(key)
                    fresh.append(r)
            if fresh:
                conn.execute(loans.insert(), fresh)
        return len(fresh)

    def import_csv(
        self,
        path: Path | str,
        mapping: Mapping[str, str] | None = None,
        library_id: str | None = None,
        batch: int = 5000,
        text: str | None = None,
    ) -> ImportSummary:
        """Import a loans CSV; a bad line is reported (line number, reason) and the rest still imported.

        ``mapping`` maps canonical fields to CSV columns; ``library_id`` fills a missing library column.
        """
        mapping = dict(mapping or DEFAULT_MAPPING)
        name = str(path)
        summary = ImportSummary()
        buf: list[Loan] = []
        handle = io.StringIO(text) if text is not None else open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
        with handle as f:
            sample = f.read(4096)
            f.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.DictReader(f, dialect=dialect)
            cols = reader.fieldnames or []
            need = [c for k, c in mapping.items() if k in ("patron_id", "record_id")]
            if not (library_id or mapping.get("library_id") in cols):
                need.append(mapping.get("library_id", "library_id"))
            missing = [c for c in need if c not in cols]
            if missing:
                summary.errors.append(
                    ImportProblem(
                        file=name,
                        position="line 1",
                        reason=f"thiếu cột {', '.join(missing)} (có: {', '.join(cols) or 'không có cột nào'})",
                    )
                )
                return summary
            for line_no, row in enumerate(reader, start=2):
                try:
                    loan = self._row_to_loan(row, mapping, library_id)
                except ValueError as exc:
                    summary.errors.append(ImportProblem(file=name, position=f"line {line_no}", reason=_msg(exc)))
                    summary.skipped += 1
                    continue
                buf.append(loan)
                if len(buf) >= batch:
                    self._add_counted(buf, summary)
                    buf = []
        self._add_counted(buf, summary)
        return summary

    def _add_counted(self, buf: list[Loan], summary: ImportSummary) -> None:
        added = self.add(buf)
        summary.imported += added
        summary.skipped += len(buf) - added  # already stored

    @staticmethod
    def _row_to_loan(row: Mapping[str, str | None], mapping: Mapping[str, str], library_id: str | None) -> Loan:
        if None in row:
            raise ValueError("dòng có nhiều cột hơn tiêu đề")

        def get(field: str) -> str:
            col = mapping.get(field)
            return (row.get(col) or "").strip() if col else ""

        lib = get("library_id") or (library_id or "")
        when = get("date")
        rating = get("rating")
        try:
            r = float(rating.replace(",", ".")) if rating else None
        except ValueError:
            raise ValueError(f"điểm đánh giá không phải số: {rating!r}") from None
        return Loan(
            patron_id=get("patron_id"),
            record_id=get("record_id"),
            library_id=lib,
            date=_parse_date(when) if when else None,
            rating=r,
        )

    def forget_patron(self, patron_id: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(delete(loans).where(loans.c.patron_id == patron_id)).rowcount or 0

    def apply_retention(self, months: int, today: date | None = None) -> int:
        """Delete loans dated more than ``months`` months before ``today``; returns how many."""
        if months <= 0:
            return 0
        cut = months_before(today or date.today(), months)
        with self.engine.begin() as conn:
            return conn.execute(delete(loans).where(loans.c.loan_date < cut)).rowcount or 0

    # -- reading ---------------------------------------------------------------------------------
    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(loans)).scalar_one())

    def history(self, patron_id: str) -> list[LoanRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(loans).where(loans.c.patron_id == patron_id).order_by(loans.c.id)).all()
        return [LoanRow(r.patron_id, r.record_id, r.library_id, r.loan_date, r.rating) for r in rows]

    def iter_loans(self, chunk: int = 50_000) -> Iterator[LoanRow]:
        last = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(loans).where(loans.c.id > last).order_by(loans.c.id).limit(chunk)).all()
            if not rows:
                return
            for r in rows:
                yield LoanRow(r.patron_id, r.record_id, r.library_id, r.loan_date, r.rating)
            last = rows[-1].id


def months_before(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + (d.month - 1) - months, 12)
    m += 1
    day = min(
        d.day,
        [31, 29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1],
    )
    return date(y, m, day)


def _msg(exc: ValueError) -> str:
    errs = getattr(exc, "errors", None)
    if callable(errs):
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in errs())
    return str(exc)
