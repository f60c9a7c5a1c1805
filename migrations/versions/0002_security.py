"""Security: the API keys (hashed) and the audit log (auth/keys.py, audit/log.py).

Tables made earlier by ``metadata.create_all`` are adopted as they are.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("thuvien_api_keys"):
        op.create_table(
            "thuvien_api_keys",
            sa.Column("id", sa.String(12), primary_key=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("library_id", sa.String(100), nullable=False),
            sa.Column("patron_id", sa.String(200), nullable=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("secret_hash", sa.String(255), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        )
    if _missing("thuvien_audit_log"):
        op.create_table(
            "thuvien_audit_log",
            sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(200), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("target", sa.String(500), nullable=True),
            sa.Column("library_id", sa.String(100), nullable=True),
            sa.Column("request_id", sa.String(128), nullable=True),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("details", sa.Text, nullable=True),
        )
        op.create_index("ix_audit_at", "thuvien_audit_log", ["at"])
        op.create_index("ix_audit_actor_at", "thuvien_audit_log", ["actor", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_actor_at", table_name="thuvien_audit_log")
    op.drop_index("ix_audit_at", table_name="thuvien_audit_log")
    op.drop_table("thuvien_audit_log")
    op.drop_table("thuvien_api_keys")
