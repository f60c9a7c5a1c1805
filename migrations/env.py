"""Alembic environment: migrations run over a connection handed in by :mod:`migrations.runner`
(``config.attributes["connection"]``), inside the transaction the runner holds."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the migrations through migrations.upgrade(url) or `thuvien db upgrade`")

context.configure(connection=connection, target_metadata=None, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
