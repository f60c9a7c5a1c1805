"""Baseline: the catalogue (records, chunks, deleted_records) and the loans (rec_loans).

The schema the stores made with ``metadata.create_all`` before there were migrations. A table that
already exists (a data dir made by that older code) is adopted as it is, so such a database simply
ends up stamped at this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("records"):
        op.create_table(
            "records",
            sa.Column("library_id", sa.String(100), primary_key=True),
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("chunks_hash", sa.String(64), nullable=False),
            sa.Column("content_hash", sa.String(64), nullable=False),
            sa.Column("indexed_hash", sa.String(64), nullable=True),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_records_pending", "records", ["content_hash", "indexed_hash"])
    if _missing("chunks"):
        op.create_table(
            "chunks",
            sa.Column("chunk_id", sa.String(420), primary_key=True),
            sa.Column("library_id", sa.String(100), nullable=False),
            sa.Column("record_id", sa.String(200), nullable=False),
            sa.Column("seq", sa.Integer, nullable=False),
            sa.Column("text", sa.Text, nullable=False),
            sa.Column("location", sa.Text, nullable=True),
            sa.ForeignKeyConstraint(
                ["library_id", "record_id"], ["records.library_id", "records.id"], ondelete="CASCADE"
            ),
        )
        op.create_index("ix_chunks_record", "chunks", ["library_id", "record_id", "seq"])
    if _missing("deleted_records"):
        op.create_table(
            "deleted_records",
            sa.Column("library_id", sa.String(100), primary_key=True),
            sa.Column("id", sa.String(200), primary_key=True),
            sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        )
    if _missing("rec_loans"):
        op.create_table(
            "rec_loans",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("patron_id", sa.String(200), nullable=False),
            sa.Column("record_id", sa.String(200), nullable=False),
            sa.Column("library_id", sa.String(100), nullable=False),
            sa.Column("loan_date", sa.Date, nullable=True),
            sa.Column("rating", sa.Float, nullable=True),
        )
        op.create_index("ix_rec_loans_patron", "rec_loans", ["patron_id"])
        op.create_index("ix_rec_loans_date", "rec_loans", ["loan_date"])


def downgrade() -> None:
    for index, table in (
        ("ix_rec_loans_date", "rec_loans"),
        ("ix_rec_loans_patron", "rec_loans"),
        ("ix_chunks_record", "chunks"),
        ("ix_records_pending", "records"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("rec_loans", "deleted_records", "chunks", "records"):
        op.drop_table(table)
