"""The schema of thuvien's SQL stores (catalogue records and chunks, loans) as Alembic migrations.

SQLite (the default) and PostgreSQL (psycopg 3) get their schema the same way: the stores call
:func:`upgrade` when they open, and ``thuvien db upgrade`` runs it by hand. A database made before
the migrations existed is adopted by the first revision and stamped. To add a revision, put a file in
``migrations/versions/`` whose ``down_revision`` is the current head (see ``script.py.mako``).
"""

from migrations.db import SchemaGate, StoreUnavailable, normalize_url, safe_url
from migrations.runner import current, head, upgrade

__all__ = ["SchemaGate", "StoreUnavailable", "current", "head", "normalize_url", "safe_url", "upgrade"]
