"""Store fixtures: SQLite and the real PostgreSQL (pgtools.py), the real Redis (redistools.py)."""

from tests.stores.pgtools import db_url, pg_database  # noqa: F401 - fixtures
from tests.stores.redistools import fresh_redis_clients, private_redis, redis_prefix  # noqa: F401 - fixtures
