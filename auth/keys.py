"""API keys: ``tvk_<id>_<secret>``, shown once, stored as an argon2 hash, looked up by id, revocable.

The id is public (it appears in ``thuvien keys list``, the audit log and rate-limit buckets); only the
secret (256 random bits) proves the key. Verification looks the row up by id, checks it is not revoked,
then checks the secret against the argon2 hash. A secret that verified once is remembered in process as
its SHA-256 so later requests skip the (deliberately slow) argon2 step; revocation is still read from the
table on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select, update

from auth.db import engine_for, ensure_schema
from auth.roles import ALL_LIBRARIES, Principal, Role, parse_role

PREFIX = "tvk"
_KEY = re.compile(r"^tvk_([0-9a-f]{12})_([A-Za-z0-9_\-]{20,128})$")
_ID = re.compile(r"^[0-9a-f]{12}$")

metadata = MetaData()
api_keys = Table(
    "thuvien_api_keys",
    metadata,
    Column("id", String(12), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("library_id", String(100), nullable=False),
    Column("patron_id", String(200), nullable=True),
    Column("name", String(200), nullable=False, default=""),
    Column("secret_hash", String(255), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# OWASP's argon2id minimum (19 MiB, 2 passes): a stolen table costs an attacker, a request stays cheap.
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class KeyError_(ValueError):  # noqa: N801 - not the builtin KeyError
    """A key that cannot be created or revoked as asked."""


def parse_key(value: str) -> tuple[str, str] | None:
    """``tvk_<id>_<secret>`` → (id, secret); None when it is not a thuvien key."""
    m = _KEY.match(value.strip())
    return (m.group(1), m.group(2)) if m else None


def key_id_of(value: str) -> str | None:
    """The public id of a presented key, without verifying it (rate-limit buckets, logs)."""
    parsed = parse_key(value)
    return parsed[0] if parsed else None


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: Role
    library_id: str
    patron_id: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        return Principal(
            actor=f"key:{self.id}", role=self.role, library_id=self.library_id, patron_id=self.patron_id, key_id=self.id
        )


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    secret: str
    """The whole key (``tvk_<id>_<secret>``): shown once, never stored."""


def _row(r) -> ApiKey:
    return ApiKey(
        id=r.id,
        role=parse_role(r.role),
        library_id=r.library_id,
        patron_id=r.patron_id,
        name=r.name or "",
        created_at=r.created_at,
        revoked_at=r.revoked_at,
    )


class KeyStore:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self.engine = engine_for(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        ensure_schema(self.engine, metadata)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def create(
        self, role: str | Role, library_id: str | None, *, patron_id: str | None = None, name: str = ""
    ) -> NewKey:
        """A new key. Patron keys need a patron and a library; librarian keys a library; admin keys get ``*``."""
        role = parse_role(role)
        if role == Role.READER:
            raise KeyError_("readers are anonymous: no key is needed for the reader role")
        library_id = (library_id or "").strip() or None
        if role == Role.ADMIN:
            library_id = library_id or ALL_LIBRARIES
        if not library_id:
            raise KeyError_(f"a {role.label} key must be bound to a library (--library)")
        if library_id == ALL_LIBRARIES and role != Role.ADMIN:
            raise KeyError_(f"only admin keys may cover every library; a {role.label} key needs one library id")
        if role == Role.PATRON and not (patron_id or "").strip():
            raise KeyError_("a patron key must name its patron (--patron)")
        if role != Role.PATRON and patron_id:
            raise KeyError_("--patron is only for patron keys")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    role=role.label,
                    library_id=library_id,
                    patron_id=(patron_id or "").strip() or None,
                    name=name,
                    secret_hash=HASHER.hash(secret),
                    created_at=now,
                    revoked_at=None,
                )
            )
        key = ApiKey(key_id, role, library_id, (patron_id or "").strip() or None, name, now, None)
        return NewKey(key=key, secret=f"{PREFIX}_{key_id}_{secret}")

    def get(self, key_id: str) -> ApiKey | None:
        if not _ID.match(key_id or ""):
            return None
        with self.engine.connect() as conn:
            r = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return _row(r) if r is not None else None

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        q = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            q = q.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke ``key_id`` (at once, in every process: each request reads the flag). Revoking twice is an error."""
        key = self.get(key_id)
        if key is None:
            raise KeyError_(f"no key with id {key_id!r}")
        if not key.active:
            raise KeyError_(f"key {key_id} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S}")
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
        with self._lock:
            self._verified.pop(key_id, None)
        return self.get(key_id)  # type: ignore[return-value]

    def verify(self, presented: str) -> ApiKey | None:
        """The active key that ``presented`` is, or None (malformed, unknown, revoked or a wrong secret)."""
        parsed = parse_key(presented)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self.engine.connect() as conn:
            r = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        if r is None or r.revoked_at is not None:
            return None
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            known = self._verified.get(key_id)
        if known is not None and hmac.compare_digest(known, digest):
            return _row(r)
        try:
            HASHER.verify(r.secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return None
        with self._lock:
            self._verified[key_id] = digest
        return _row(r)
