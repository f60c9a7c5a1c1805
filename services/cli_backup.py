"""``thuvien backup create|verify|restore`` (mounted by services/cli.py); the work is in the ``backup`` package.

``create`` holds the data dir's writer lock (services/gateway/lock.py) while it reads, so no ingest or training
writes under it; while a server runs (and holds the lock), it takes an online backup: databases through SQLite's
backup API, the index generation ``CURRENT`` names, reconciled into one consistent state (backup/archive.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Sao lưu và khôi phục thư mục dữ liệu / back up and restore the data dir.", no_args_is_help=True)
console = Console(stderr=True)


def _settings():
    from services.common.settings import get_settings

    return get_settings()


def _fail(vi: str, en: str, code: int = 1) -> typer.Exit:
    console.print(f"[red]✗[/red] {vi}\n  {en}")
    return typer.Exit(code)


def _default_out() -> Path:
    return Path(f"thuvien-backup-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.tar.gz")


def _external_store(settings) -> bool:
    url = settings.database_url
    if not url:
        return False
    if not url.startswith("sqlite:///"):
        return True
    db = Path(url.removeprefix("sqlite:///")).resolve()
    return not db.is_relative_to(settings.data_dir.resolve())


@app.command()
def create(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Archive to write (default: thuvien-backup-<time>.tar.gz here)")
    ] = None,
    include_cache: Annotated[
        bool, typer.Option(help="Also archive the embedding cache (saves re-embedding after a restore)")
    ] = False,
    include_model_files: Annotated[
        bool, typer.Option(help="Also archive the model artefacts, not only their manifest (hundreds of MB)")
    ] = False,
) -> None:
    """Write one consistent archive of the data dir with a manifest of sha256 checksums."""
    from backup import BackupError, create_backup
    from services.gateway.lock import DataDirBusy, DataDirLock, running_server_url

    s = _settings()
    out = out or _default_out()
    url = running_server_url(s.data_dir)
    if url:
        # Online backup: the server keeps its writer lock and keeps serving; create_backup snapshots the databases,
        # pins the index generation CURRENT names and reconciles the two (backup/archive.py).
        console.print(
            f"[cyan]i[/cyan] Máy chủ đang chạy ({url}): sao lưu trực tuyến, máy chủ vẫn phục vụ.\n"
            f"  A server is running ({url}): online backup, the server keeps serving."
        )
    if _external_store(s):
        console.print(
            "[yellow]![/yellow] Kho mục lục nằm ngoài thư mục dữ liệu (THUVIEN_DATABASE_URL): hãy sao lưu nó riêng "
            "(vd. pg_dump).\n  The catalogue store is outside the data dir: back it up separately (e.g. pg_dump)."
        )
    lock = DataDirLock(s.data_dir)
    if not url:
        try:
            lock.acquire()
        except DataDirBusy as exc:
            raise _fail(
                f"Một tiến trình thuvien khác đang ghi vào {s.data_dir}; hãy đợi nó xong rồi sao lưu.", str(exc)
            ) from exc
    try:
        info = create_backup(
            s.data_dir,
            out,
            models_dir=s.models_dir,
            include_cache=include_cache,
            include_model_files=include_model_files,
        )
    except (BackupError, OSError) as exc:
        raise _fail(f"Sao lưu thất bại: {exc}", f"Backup failed: {exc}") from exc
    finally:
        if not url:
            lock.release()
    console.print(f"[green]✓[/green] {info.archive}: {info.files} tệp / files, {info.bytes:,} bytes")
    typer.echo(str(info.archive))


@app.command()
def verify(archive: Annotated[Path, typer.Argument(help="A thuvien backup archive")]) -> None:
    """Check every file of an archive against its manifest; changes nothing."""
    from backup import BackupError, CorruptArchiveError, verify_archive

    try:
        manifest = verify_archive(archive)
    except CorruptArchiveError as exc:
        raise _fail(
            f"Bản sao lưu bị hỏng, tệp {exc.member}: {exc.reason}",
            f"Corrupted archive, file {exc.member}: {exc.reason}",
            2,
        ) from exc
    except BackupError as exc:
        raise _fail(f"Không đọc được bản sao lưu: {exc}", f"Cannot read the archive: {exc}") from exc
    console.print(f"[green]✓[/green] {archive}: {len(manifest['files'])} tệp khớp checksum / files match")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="A thuvien backup archive")],
    data_dir: Annotated[Path, typer.Option("--data-dir", help="A new (or empty) data dir to restore into")],
) -> None:
    """Verify every checksum, then restore into a fresh data dir (models manifest into <data dir>/models)."""
    from backup import BackupError, CorruptArchiveError, restore_backup

    try:
        info = restore_backup(archive, data_dir)
    except CorruptArchiveError as exc:
        raise _fail(
            f"Bản sao lưu bị hỏng, tệp {exc.member}: {exc.reason}. Không có gì được ghi.",
            f"Corrupted archive, file {exc.member}: {exc.reason}. Nothing was written.",
            2,
        ) from exc
    except (BackupError, OSError) as exc:
        raise _fail(f"Không khôi phục được: {exc}", f"Restore failed: {exc}") from exc
    console.print(
        f"[green]✓[/green] {info.files} tệp đã khôi phục vào / files restored into {data_dir}.\n"
        f"  THUVIEN_DATA_DIR={data_dir}; chạy / run `thuvien models build` nếu tệp mô hình không có trong bản sao lưu "
        "(if the model files were not archived)."
    )
