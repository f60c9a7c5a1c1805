"""The catalogue store: records and their full-text chunks, over SQLAlchemy 2.

SQLite by default (WAL, foreign keys, busy timeout, write transactions taken with
``BEGIN IMMEDIATE``), or PostgreSQL through psycopg 3 (``postgresql+psycopg://…``; ``postgresql://``
is accepted). The schema comes from the Alembic migrations in ``migrations/`` (applied when the
store opens); the tables below mirror it for queries. A database that does not answer makes every
call raise :class:`StoreUnavailable` (logged once, URL without password) until it is back.

Every :meth:`CatalogStore.upsert` is one transaction: all records of the call and their chunks are
written, or none. ``content_hash`` covers the record JSON and its chunks; ``indexed_hash`` is what
the indexer last saw, so ``pending_index`` lists records whose index entry is stale.
Deleted records leave a tombstone until the indexer acknowledges it (``pending_deletions``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.engine import Connection, Engine

from catalog.model import Chunk, Record
from migrations.db import SchemaGate, engine_options, is_memory_sqlite, normalize_url, switch_to_wal
from migrations.db import StoreUnavailable as StoreUnavailable  # re-exported: what a call raises when the DB is down

metadata = MetaData()

records_t = Table(
    "records",
    metadata,
    Column("library_id", String(100), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("data", Text, nullable=False),
    Column("chunks_hash", String(64), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("indexed_hash", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_records_pending", records_t.c.content_hash, records_t.c.indexed_hash)

chunks_t = Table(
    "chunks",
    metadata,
    Column("chunk_id", String(420), primary_key=True),
    Column("library_id", String(100), nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("location", Text, nullable=True),
    ForeignKeyConstraint(["library_id", "record_id"], ["records.library_id", "records.id"], ondelete="CASCADE"),
)
Index("ix_chunks_record", chunks_t.c.library_id, chunks_t.c.record_id, chunks_t.c.seq)

tombstones_t = Table(
    "deleted_records",
    metadata,
    Column("library_id", String(100), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
)

UpsertStatus = str  # "inserted" | "updated" | "unchanged"
_EMPTY_CHUNKS_HASH = hashlib.sha256(b"[]").hexdigest()


def record_json(record: Record) -> str:
    """Canonical JSON of a record (sorted keys, UTF-8): what is stored and hashed."""
    return json.dumps(record.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)


def chunks_hash(chunks: Sequence[Chunk]) -> str:
    payload = [[c.seq, c.text, c.location] for c in sorted(chunks, key=lambda c: c.seq)]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode("utf-8")).hexdigest()


def content_hash(data_json: str, chunks_digest: str) -> str:
    return hashlib.sha256(f"{data_json}\x1e{chunks_digest}".encode()).hexdigest()


class PendingItem(tuple):
    """``(record, chunks)`` — unpacks as a pair — plus ``.content_hash`` for :meth:`mark_indexed`."""

    content_hash: str

    def __new__(cls, record: Record, chunks: list[Chunk], content_hash: str) -> PendingItem:
        obj = super().__new__(cls, (record, chunks))
        obj.content_hash = content_hash
        return obj

    @property
    def record(self) -> Record:
        return self[0]

    @property
    def chunks(self) -> list[Chunk]:
        return self[1]


class CatalogStore:
    """Records and chunks in one SQL database. Thread-safe (one engine, pooled connections)."""

    def __init__(self, url: str = "sqlite:///catalog.db", *, echo: bool = False) -> None:
        url = normalize_url(url)
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {"echo": echo, "future": True, **engine_options(url)}
        if self.is_sqlite:
            db_path = url.split("///", 1)[-1] if "///" in url else ""
            if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if is_memory_sqlite(url):
                from sqlalchemy.pool import StaticPool  # noqa: PLC0415

                kwargs["poolclass"] = StaticPool  # one shared connection, or each sees an empty DB
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            self._setup_sqlite(self.engine)
        self._write_engine = self.engine.execution_options(thuvien_write=True)
        # The schema comes from the migrations (migrations/). A database that is down now is logged
        # (URL without password); calls raise StoreUnavailable until it answers, then it is migrated.
        self.schema = SchemaGate(self.engine, url, "catalog")
        self.schema.open()

    @staticmethod
    def _setup_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            # Let SQLAlchemy (not the sqlite3 module) emit BEGIN, so we can choose its kind.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            switch_to_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # Writers take the write lock up front: no deadlock when two processes upgrade at once.
            if conn.get_execution_options().get("thuvien_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    def _read(self) -> Connection:
        self.schema.ensure()
        return self.engine.connect()

    def _write(self):  # noqa: ANN202 - a context manager yielding a Connection in a transaction
        self.schema.ensure()
        return self._write_engine.begin()

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ writes

    def upsert(self, records: list[Record], chunks: dict[str, list[Chunk]] | None = None) -> list[UpsertStatus]:
        """Insert or update records (by ``(library_id, id)``) in ONE transaction.

        ``chunks`` maps a record key (``"library_id/id"``) to its complete list of chunks, which
        replaces the stored ones atomically. A record absent from ``chunks`` keeps its stored
        chunks (so re-importing MARC does not drop an attached EPUB); pass ``[]`` to remove them.
        Returns, per record, ``"inserted"``, ``"updated"`` or ``"unchanged"``. A record repeated in
        the same call is applied in order.
        """
        chunks = chunks or {}
        if not records:
            return []
        now = datetime.now(UTC)
        statuses: list[UpsertStatus] = []
        with self._write() as conn:
            keys = list({(r.library_id, r.id) for r in records})
            existing: dict[tuple[str, str], tuple[str, str]] = {}
            for i in range(0, len(keys), 400):
                part = keys[i : i + 400]
                rows = conn.execute(
                    select(
                        records_t.c.library_id,
                        records_t.c.id,
                        records_t.c.content_hash,
                        records_t.c.chunks_hash,
                    ).where(tuple_(records_t.c.library_id, records_t.c.id).in_(part))
                )
                for lib, rid, ch, ckh in rows:
                    existing[(lib, rid)] = (ch, ckh)
            for rec in records:
                key = (rec.library_id, rec.id)
                data = record_json(rec)
                new_chunks = chunks.get(rec.key)
                if new_chunks is not None:
                    for c in new_chunks:
                        if (c.library_id, c.record_id) != key:
                            raise ValueError(f"chunk {c.chunk_id} does not belong to record {rec.key}")
                    ckh = chunks_hash(new_chunks) if new_chunks else _EMPTY_CHUNKS_HASH
                elif key in existing:
                    ckh = existing[key][1]
                else:
                    ckh = _EMPTY_CHUNKS_HASH
                h = content_hash(data, ckh)
                old = existing.get(key)
                if old is not None and old[0] == h:
                    statuses.append("unchanged")
                    continue
                values = {"data": data, "chunks_hash": ckh, "content_hash": h, "updated_at": now}
                if old is None:
                    conn.execute(insert(records_t).values(library_id=rec.library_id, id=rec.id, **values))
                    conn.execute(
                        delete(tombstones_t).where(
                            and_(tombstones_t.c.library_id == rec.library_id, tombstones_t.c.id == rec.id)
                        )
                    )
                    statuses.append("inserted")
                else:
                    conn.execute(
                        update(records_t)
                        .where(and_(records_t.c.library_id == rec.library_id, records_t.c.id == rec.id))
                        .values(**values)
                    )
                    statuses.append("updated")
                if new_chunks is not None and (old is None or old[1] != ckh):
                    conn.execute(
                        delete(chunks_t).where(
                            and_(chunks_t.c.library_id == rec.library_id, chunks_t.c.record_id == rec.id)
                        )
                    )
                    if new_chunks:
                        conn.execute(
                            insert(chunks_t),
                            [
                                {
                                    "chunk_id": c.chunk_id,
                                    "library_id": c.library_id,
                                    "record_id": c.record_id,
                                    "seq": c.seq,
                                    "text": c.text,
                                    "location": c.location,
                                }
                                for c in new_chunks
                            ],
                        )
                existing[key] = (h, ckh)
        return statuses

    def delete(self, library_id: str, id: str) -> bool:
        """Delete a record and its chunks; leaves a tombstone for the indexer. True if it existed."""
        with self._write() as conn:
            cond = and_(records_t.c.library_id == library_id, records_t.c.id == id)
            n = conn.execute(delete(records_t).where(cond)).rowcount
            conn.execute(delete(chunks_t).where(and_(chunks_t.c.library_id == library_id, chunks_t.c.record_id == id)))
            if n:
                conn.execute(
                    delete(tombstones_t).where(and_(tombstones_t.c.library_id == library_id, tombstones_t.c.id == id))
                )
                conn.execute(insert(tombstones_t).values(library_id=library_id, id=id, deleted_at=datetime.now(UTC)))
        return bool(n)

    def mark_indexed(self, keys_and_hashes: Iterable) -> None:
        """Record that the indexer has indexed ``(library_id, id, content_hash)`` triples (also
        accepted: ``((library_id, id), content_hash)`` pairs, or ``PendingItem`` objects). If the
        record changed since, it stays pending (its content_hash differs from the hash given)."""
        rows = []
        for item in keys_and_hashes:
            if isinstance(item, PendingItem):
                rows.append((item.record.library_id, item.record.id, item.content_hash))
            elif len(item) == 2:
                (lib, rid), h = item
                rows.append((lib, rid, h))
            else:
                rows.append(tuple(item))
        if not rows:
            return
        with self._write() as conn:
            for lib, rid, h in rows:
                conn.execute(
                    update(records_t)
                    .where(and_(records_t.c.library_id == lib, records_t.c.id == rid))
                    .values(indexed_hash=h)
                )

    def reset_indexed(self) -> None:
        """Mark every record as not indexed (e.g. after the index was deleted)."""
        with self._write() as conn:
            conn.execute(update(records_t).values(indexed_hash=None))

    def clear_deletions(self, keys: Iterable[tuple[str, str]]) -> None:
        """Forget tombstones the indexer has applied."""
        with self._write() as conn:
            for lib, rid in keys:
                conn.execute(
                    delete(tombstones_t).where(and_(tombstones_t.c.library_id == lib, tombstones_t.c.id == rid))
                )

    # ------------------------------------------------------------------ reads

    @staticmethod
    def _record(data: str) -> Record:
        return Record.model_validate_json(data)

    @staticmethod
    def _chunk(row) -> Chunk:  # noqa: ANN001
        return Chunk(
            chunk_id=row.chunk_id,
            library_id=row.library_id,
            record_id=row.record_id,
            seq=row.seq,
            text=row.text,
            location=row.location,
        )

    def get(self, library_id: str, id: str) -> Record | None:
        with self._read() as conn:
            data = conn.execute(
                select(records_t.c.data).where(and_(records_t.c.library_id == library_id, records_t.c.id == id))
            ).scalar_one_or_none()
        return None if data is None else self._record(data)

    def get_hash(self, library_id: str, id: str) -> str | None:
        """The record's current content hash (None if absent)."""
        with self._read() as conn:
            return conn.execute(
                select(records_t.c.content_hash).where(and_(records_t.c.library_id == library_id, records_t.c.id == id))
            ).scalar_one_or_none()

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        """Records by ``(library_id, id)``; missing keys are absent from the result."""
        out: dict[tuple[str, str], Record] = {}
        uniq = list(dict.fromkeys(keys))
        with self._read() as conn:
            for i in range(0, len(uniq), 400):
                part = uniq[i : i + 400]
                rows = conn.execute(
                    select(records_t.c.library_id, records_t.c.id, records_t.c.data).where(
                        tuple_(records_t.c.library_id, records_t.c.id).in_(part)
                    )
                )
                for lib, rid, data in rows:
                    out[(lib, rid)] = self._record(data)
        return out

    def chunks_of(self, library_id: str, id: str) -> list[Chunk]:
        with self._read() as conn:
            rows = conn.execute(
                select(chunks_t)
                .where(and_(chunks_t.c.library_id == library_id, chunks_t.c.record_id == id))
                .order_by(chunks_t.c.seq)
            )
            return [self._chunk(r) for r in rows]

    def get_chunks(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        """Chunks by id; missing ids are absent from the result."""
        out: dict[str, Chunk] = {}
        uniq = list(dict.fromkeys(chunk_ids))
        with self._read() as conn:
            for i in range(0, len(uniq), 500):
                rows = conn.execute(select(chunks_t).where(chunks_t.c.chunk_id.in_(uniq[i : i + 500])))
                for r in rows:
                    out[r.chunk_id] = self._chunk(r)
        return out

    def count(self, library_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(records_t)
        if library_id is not None:
            stmt = stmt.where(records_t.c.library_id == library_id)
        with self._read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def count_chunks(self) -> int:
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(chunks_t)).scalar_one())

    def libraries(self) -> list[str]:
        with self._read() as conn:
            return list(
                conn.execute(select(records_t.c.library_id).distinct().order_by(records_t.c.library_id)).scalars()
            )

    def iter_records(self, batch: int = 1000) -> Iterator[list[Record]]:
        """All records in ``(library_id, id)`` order, ``batch`` at a time (keyset pagination)."""
        last: tuple[str, str] | None = None
        while True:
            stmt = select(records_t.c.library_id, records_t.c.id, records_t.c.data)
            if last is not None:
                stmt = stmt.where(
                    or_(
                        records_t.c.library_id > last[0],
                        and_(records_t.c.library_id == last[0], records_t.c.id > last[1]),
                    )
                )
            stmt = stmt.order_by(records_t.c.library_id, records_t.c.id).limit(batch)
            with self._read() as conn:
                rows = conn.execute(stmt).all()
            if not rows:
                return
            yield [self._record(r.data) for r in rows]
            last = (rows[-1].library_id, rows[-1].id)

    def _chunks_for(self, conn: Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], list[Chunk]]:
        out: dict[tuple[str, str], list[Chunk]] = {k: [] for k in keys}
        for i in range(0, len(keys), 400):
            rows = conn.execute(
                select(chunks_t)
                .where(tuple_(chunks_t.c.library_id, chunks_t.c.record_id).in_(keys[i : i + 400]))
                .order_by(chunks_t.c.library_id, chunks_t.c.record_id, chunks_t.c.seq)
            )
            for r in rows:
                out[(r.library_id, r.record_id)].append(self._chunk(r))
        return out

    def pending_index(self, limit: int = 1000) -> list[PendingItem]:
        """Up to ``limit`` records whose content changed since they were last indexed (oldest
        change first), with their chunks. Each item unpacks as ``(record, chunks)`` and carries
        ``.content_hash`` to pass back to :meth:`mark_indexed`. Read in one transaction, so the
        chunks always belong to that hash.
        """
        with self._read() as conn, conn.begin():
            rows = conn.execute(
                select(records_t.c.library_id, records_t.c.id, records_t.c.data, records_t.c.content_hash)
                .where(
                    or_(
                        records_t.c.indexed_hash.is_(None),
                        records_t.c.indexed_hash != records_t.c.content_hash,
                    )
                )
                .order_by(records_t.c.updated_at, records_t.c.library_id, records_t.c.id)
                .limit(limit)
            ).all()
            keys = [(r.library_id, r.id) for r in rows]
            chunks = self._chunks_for(conn, keys)
        return [PendingItem(self._record(r.data), chunks[(r.library_id, r.id)], r.content_hash) for r in rows]

    def pending_count(self) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(records_t)
                    .where(
                        or_(
                            records_t.c.indexed_hash.is_(None),
                            records_t.c.indexed_hash != records_t.c.content_hash,
                        )
                    )
                ).scalar_one()
            )

    def pending_deletions(self, limit: int = 1000) -> list[tuple[str, str]]:
        """Deleted records the indexer has not yet removed (``clear_deletions`` when done)."""
        with self._read() as conn:
            rows = conn.execute(
                select(tombstones_t.c.library_id, tombstones_t.c.id).order_by(tombstones_t.c.deleted_at).limit(limit)
            ).all()
        return [(r.library_id, r.id) for r in rows]
