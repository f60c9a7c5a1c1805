"""The four roles, ordered: reader (anonymous) < patron < librarian < admin, and who a caller is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    READER = 0
    PATRON = 1
    LIBRARIAN = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


ROLE_NAMES: tuple[str, ...] = tuple(r.label for r in Role)
ALL_LIBRARIES = "*"


def parse_role(value: str | Role) -> Role:
    """``"librarian"`` (any case) → Role.LIBRARIAN; ValueError naming the known roles otherwise."""
    if isinstance(value, Role):
        return value
    try:
        return Role[str(value).strip().upper()]
    except KeyError:
        raise ValueError(f"unknown role {value!r}; expected one of {', '.join(ROLE_NAMES)}") from None


@dataclass(frozen=True)
class Principal:
    """The caller of one request.

    ``actor`` is what the audit log shows: ``key:<id>``, ``jwt:<subject>``, ``cli`` or ``anonymous``.
    ``library_id`` is the library a key is bound to (``*``: every library); ``patron_id`` the patron a
    patron credential belongs to.
    """

    actor: str
    role: Role
    library_id: str | None = None
    patron_id: str | None = None
    key_id: str | None = None
    enforced: bool = True
    """False when THUVIEN_AUTH_ENABLED is off: every check passes (the embedded dev topology)."""

    @property
    def anonymous(self) -> bool:
        return self.actor == "anonymous"

    @property
    def role_label(self) -> str:
        return self.role.label if self.enforced or not self.anonymous else "none (auth off)"

    def may_change_library(self, library_id: str) -> bool:
        """Admins change every library; a librarian only the one their credential is bound to."""
        if not self.enforced:
            return True
        if self.role >= Role.ADMIN or self.library_id == ALL_LIBRARIES:
            return True
        return self.role >= Role.LIBRARIAN and self.library_id == library_id

    def may_read_patron(self, patron_id: str) -> bool:
        """Librarians and admins read any patron's data; a patron only their own."""
        if not self.enforced:
            return True
        if self.role >= Role.LIBRARIAN:
            return True
        return self.role == Role.PATRON and self.patron_id is not None and self.patron_id == patron_id


ANONYMOUS = Principal(actor="anonymous", role=Role.READER)
CLI = Principal(actor="cli", role=Role.ADMIN, library_id=ALL_LIBRARIES)
