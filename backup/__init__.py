"""Backups of a thuvien data dir: one archive with a manifest of sha256 checksums, and a verified restore.

No HTTP and no settings here: the CLI (``services/cli_backup.py``) resolves the paths and holds the data dir's
writer lock while :func:`create_backup` reads, or, while a server runs, lets :func:`create_backup` take an online
backup (database snapshots, the pinned index generation, reconciled): either way the archive is one consistent state.
"""

from backup.archive import (
    MANIFEST_NAME,
    BackupError,
    BackupInfo,
    CorruptArchiveError,
    create_backup,
    plan_backup,
    restore_backup,
    verify_archive,
)

__all__ = [
    "MANIFEST_NAME",
    "BackupError",
    "BackupInfo",
    "CorruptArchiveError",
    "create_backup",
    "plan_backup",
    "restore_backup",
    "verify_archive",
]
