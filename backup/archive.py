"""One archive of a data dir (``.tar.gz``) with a manifest of sha256 checksums, and its verified restore.

What goes in (paths in the archive):

* ``data/…``: everything under the data dir that is state — the catalogue and loans store (SQLite files are
  copied with SQLite's online backup API, so a WAL or a reader cannot make the copy torn), the search index
  (``index/CURRENT`` and only the generation it names), the diacritic restorer (``nlp/``), vocabularies and
  subject models (``subjects/``), recommender models (``recommender/``), ``libraries.json``, and any state a
  later version keeps there;
* ``models/…``: the models manifest (``current.json`` and each version's ``manifest.json``); the artefacts
  themselves (hundreds of MB, rebuilt bit-for-bit-checked by ``thuvien models build``) only on request;
* ``MANIFEST.json`` (last): format, time, and the sha256 and size of every file above.

Left out: the writer lock and ``server.json`` (they describe a process, not data), ``log/``, the embedding
cache (``cache/``, unless asked: it only saves re-embedding time), half-written temporary files and index
generations that ``CURRENT`` does not name.

Without a server, the caller holds the data dir's writer lock while :func:`create_backup` runs
(``services/gateway/lock.py``). While a server writes (an online backup), the databases are snapshotted with
SQLite's backup API, the index generation ``CURRENT`` names is pinned, and the catalogue snapshot is reconciled
with it (see "a consistent state while a server writes" below). :func:`restore_backup` reads the whole archive
and checks every checksum before it writes anything, then extracts into a hidden directory beside the target and
renames it into place, so a failed restore leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

MANIFEST_NAME = "MANIFEST.json"
FORMAT = "thuvien-backup"
FORMAT_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
CHUNK = 1 << 20

# Top-level entries of a data dir that are never state.
_NOT_STATE = {".writer.lock", "server.json", "server.json.tmp", "log"}
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

Progress = Callable[[str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot be done (busy, target not empty, nothing to back up…)."""


class CorruptArchiveError(BackupError):
    """The archive does not match its manifest; ``member`` names the failing file."""

    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason


@dataclass
class PlannedFile:
    arcname: str
    source: Path
    sqlite: bool = False
    data: bytes | None = None  # archived as these bytes (a CURRENT read once, when its generation was pinned)
    handle: IO[bytes] | None = None  # archived from this open file (a pinned index generation)


@dataclass
class BackupInfo:
    archive: Path
    files: int
    bytes: int
    manifest: dict[str, Any] = field(default_factory=dict)


# ---- planning ------------------------------------------------------------------------------------------------
def _is_temporary(name: str) -> bool:
    return name.startswith((".tmp", ".old-", ".CURRENT.tmp")) or ".tmp-" in name or name.endswith(".tmp")


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _live_generation(directory: Path) -> str | None:
    """The generation directory a ``CURRENT`` file names (the search index's atomic generations)."""
    current = directory / "CURRENT"
    if not current.is_file():
        return None
    name = current.read_text(encoding="utf-8").strip()
    return name if name and "/" not in name and (directory / name).is_dir() else None


def _walk(root: Path, prefix: str, skip: Callable[[Path], bool]) -> Iterator[PlannedFile]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        live = _live_generation(here)
        kept = []
        for d in sorted(dirnames):
            sub = here / d
            if _is_temporary(d) or sub.is_symlink() or skip(sub):
                continue
            if live is not None and d.startswith("gen-") and d != live:
                continue  # an older index generation: CURRENT does not name it
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            path = here / name
            if _is_temporary(name) or path.is_symlink() or not path.is_file() or skip(path):
                continue
            if name.endswith(_SQLITE_SIDE_FILES) and (here / name.rsplit("-", 1)[0]).is_file():
                continue  # the WAL/SHM of a database whose snapshot we take
            rel = path.relative_to(root).as_posix()
            yield PlannedFile(f"{prefix}/{rel}", path, sqlite=_is_sqlite(path))


def plan_backup(
    data_dir: Path,
    models_dir: Path | None = None,
    *,
    include_cache: bool = False,
    include_model_files: bool = False,
    exclude: tuple[Path, ...] = (),
) -> list[PlannedFile]:
    """The files a backup of ``data_dir`` holds, in archive order."""
    data_dir = Path(data_dir).resolve()
    models_dir = Path(models_dir).resolve() if models_dir else data_dir / "models"
    excluded = {Path(p).resolve() for p in exclude}

    def skip_data(path: Path) -> bool:
        rel = path.relative_to(data_dir)
        top = rel.parts[0]
        if len(rel.parts) == 1 and top in _NOT_STATE:
            return True
        if top == "cache" and not include_cache:
            return True
        if top == "models" or path.resolve() == models_dir:
            return True  # the models section below
        return path.resolve() in excluded

    planned = list(_walk(data_dir, "data", skip_data)) if data_dir.is_dir() else []
    if models_dir.is_dir():

        def skip_model(path: Path) -> bool:
            if include_model_files:
                return path.resolve() in excluded
            rel = path.relative_to(models_dir)
            if path.is_dir():
                return len(rel.parts) > 1  # version folders, but not their artefact sub-folders
            return not (rel.as_posix() == "current.json" or (len(rel.parts) == 2 and rel.name == "manifest.json"))

        planned += list(_walk(models_dir, "models", skip_model))
    return planned


# ---- writing --------------------------------------------------------------------------------------------------
class _HashingReader:
    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _sqlite_snapshot(path: Path, into: Path) -> Path:
    """A consistent copy of a live SQLite database (pages of committed transactions only)."""
    src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(into)
    try:
        with dst:
            src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot snapshot this SQLite database ({exc})") from exc
    finally:
        src.close()
        dst.close()
    return into


# ---- a consistent state while a server writes ------------------------------------------------------------------
# A serving gateway keeps writing while an online backup reads: it stores records, indexes them, saves a new index
# generation, then marks the records "indexed" in the catalogue (services/gateway/pipeline.py). The archive must
# never hold a catalogue that calls a record indexed when the archived generation lacks it (the record would be
# lost to search after a restore). So: (1) the catalogue's index marks are read; (2) the generation CURRENT names
# is pinned (its files opened: a generation is immutable once renamed into place, and an open file survives the
# writer's clean-up of old generations); (3) the databases are snapshotted; (4) in the snapshot, a record whose mark
# changed since (1), or that the pinned generation lacks, is marked "not indexed" again, and a key the generation
# holds that the catalogue no longer has gets a tombstone. The restored suite indexes the former and drops the
# latter when it starts, so the restored index agrees with the restored catalogue.
_CATALOGUE_COLUMNS = {"library_id", "id", "content_hash", "indexed_hash"}


def _is_catalogue(db: sqlite3.Connection) -> bool:
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"records", "deleted_records"} <= tables:
        return False
    return {r[1] for r in db.execute("PRAGMA table_info(records)")} >= _CATALOGUE_COLUMNS


def _index_marks(path: Path) -> dict[tuple[str, str], str | None] | None:
    """``(library_id, id) -> indexed_hash`` of a live catalogue database, read in one transaction (None if the
    database is not a catalogue)."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot open this SQLite database ({exc})") from exc
    try:
        with db:
            if not _is_catalogue(db):
                return None
            return {(lib, rid): h for lib, rid, h in db.execute("SELECT library_id, id, indexed_hash FROM records")}
    except sqlite3.Error as exc:
        raise BackupError(f"{path}: cannot read this SQLite database ({exc})") from exc
    finally:
        db.close()


@dataclass
class _PinnedGeneration:
    """The index generation ``CURRENT`` named when it was pinned, its files held open."""

    directory: Path
    name: str
    handles: dict[str, IO[bytes]]

    def record_keys(self) -> set[str] | None:
        """The record keys the generation holds (None if its ``docs.jsonl`` is not the search index's)."""
        fh = self.handles.get("docs.jsonl")
        if fh is None:
            return None
        keys = set()
        try:
            for line in fh:
                if line.strip():
                    keys.add(str(json.loads(line)["doc"]["record_key"]))
        except (ValueError, KeyError, TypeError):
            return None
        finally:
            fh.seek(0)
        return keys

    def close(self) -> None:
        for fh in self.handles.values():
            fh.close()


def _pin_generation(directory: Path, tries: int = 20) -> _PinnedGeneration | None:
    for _ in range(tries):
        name = _live_generation(directory)
        if name is None:
            return None
        handles: dict[str, IO[bytes]] = {}
        try:
            for f in sorted((directory / name).iterdir()):
                if f.is_file() and not f.is_symlink() and not _is_temporary(f.name):
                    handles[f.name] = f.open("rb")
        except FileNotFoundError:  # the writer removed it between our reads: take the newer one
            for fh in handles.values():
                fh.close()
            continue
        return _PinnedGeneration(directory, name, handles)
    raise BackupError(f"{directory}: the index changed too often to be read; try again")


def _pin_generations(planned: list[PlannedFile]) -> tuple[list[PlannedFile], list[_PinnedGeneration]]:
    """Replace the planned ``CURRENT`` files and their generations by the generations CURRENT names now, pinned."""
    pins: list[_PinnedGeneration] = []
    out: list[PlannedFile] = []
    dirs = {p.source.parent: p for p in planned if p.source.name == "CURRENT" and p.arcname.endswith("/CURRENT")}
    try:
        for item in planned:
            here = item.source.parent
            if here.parent in dirs and here.name.startswith("gen-"):
                continue  # a generation file as planned: the pinned generation's files replace them
            if item is dirs.get(here):
                pin = _pin_generation(here)
                if pin is None:
                    continue
                pins.append(pin)
                prefix = item.arcname.rsplit("/", 1)[0]
                out.append(PlannedFile(item.arcname, item.source, data=pin.name.encode("utf-8")))
                for fname, fh in pin.handles.items():
                    out.append(PlannedFile(f"{prefix}/{pin.name}/{fname}", here / pin.name / fname, handle=fh))
                continue
            out.append(item)
    except BaseException:
        for pin in pins:
            pin.close()
        raise
    return out, pins


def _reconcile(db_path: Path, marks_before: dict[tuple[str, str], str | None], index_keys: set[str] | None) -> int:
    """Make a catalogue snapshot agree with the pinned index generation; returns how many rows changed.

    ``index_keys`` is None when there is no search index to compare with (only the marks are compared)."""
    db = sqlite3.connect(db_path)
    try:
        with db:
            marked = "SELECT library_id, id, indexed_hash FROM records WHERE indexed_hash IS NOT NULL"
            stale = [
                (lib, rid)
                for lib, rid, h in db.execute(marked)
                if marks_before.get((lib, rid)) != h or (index_keys is not None and f"{lib}/{rid}" not in index_keys)
            ]
            db.executemany("UPDATE records SET indexed_hash = NULL WHERE library_id = ? AND id = ?", stale)
            orphans: list[tuple[str, str, str]] = []
            if index_keys is not None:
                known = {f"{lib}/{rid}" for lib, rid in db.execute("SELECT library_id, id FROM records")}
                known |= {f"{lib}/{rid}" for lib, rid in db.execute("SELECT library_id, id FROM deleted_records")}
                now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
                for key in sorted(index_keys - known):
                    lib, _, rid = key.partition("/")
                    orphans.append((lib, rid, now))
                db.executemany("INSERT INTO deleted_records (library_id, id, deleted_at) VALUES (?, ?, ?)", orphans)
        return len(stale) + len(orphans)
    except sqlite3.Error as exc:
        raise BackupError(f"{db_path}: cannot reconcile the catalogue snapshot with the index ({exc})") from exc
    finally:
        db.close()


def _add(tar: tarfile.TarFile, item: PlannedFile, source: Path | None = None) -> tuple[str, int] | None:
    """Archive one planned file (from ``source`` if given: a snapshot); None if it vanished since planning."""
    info = tarfile.TarInfo(item.arcname)
    info.mode = 0o644
    if item.data is not None:
        info.size, info.mtime = len(item.data), int(datetime.now(UTC).timestamp())
        reader = _HashingReader(_BytesReader(item.data))
        tar.addfile(info, reader)
        return reader.sha.hexdigest(), reader.size
    try:
        fh = item.handle if item.handle is not None and source is None else (source or item.source).open("rb")
    except FileNotFoundError:
        return None  # removed by a writer since planning (a replaced model version): not part of this state
    with fh:
        st = os.fstat(fh.fileno())
        info.size = st.st_size
        info.mtime = int(item.source.stat().st_mtime if source is not None else st.st_mtime)
        reader = _HashingReader(fh)
        tar.addfile(info, reader)
    if reader.size != info.size:
        raise BackupError(f"{item.source} changed while it was being archived; is another process writing in place?")
    return reader.sha.hexdigest(), reader.size


def create_backup(
    data_dir: Path,
    out: Path,
    *,
    models_dir: Path | None = None,
    include_cache: bool = False,
    include_model_files: bool = False,
    progress: Progress | None = None,
) -> BackupInfo:
    """Write one ``.tar.gz`` of ``data_dir`` (and the models manifest) to ``out``.

    Safe while a server writes the data dir (see above); without a server, the caller holds the writer lock."""
    data_dir = Path(data_dir)
    out = Path(out)
    if not data_dir.is_dir():
        raise BackupError(f"no data dir at {data_dir}")
    out.parent.mkdir(parents=True, exist_ok=True)
    planned = plan_backup(
        data_dir, models_dir, include_cache=include_cache, include_model_files=include_model_files, exclude=(out,)
    )
    if not any(p.arcname.startswith("data/") for p in planned):
        raise BackupError(f"nothing to back up in {data_dir}: it holds no catalogue, index or models")
    databases = [p for p in planned if p.sqlite]
    marks = {p.arcname: _index_marks(p.source) for p in databases}  # (1)
    planned, pins = _pin_generations(planned)  # (2)
    index_pin = next((p for p in pins if p.directory.resolve() == (data_dir / "index").resolve()), None)
    files: dict[str, dict[str, Any]] = {}
    tmp_out = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    total = 0
    try:
        with tempfile.TemporaryDirectory(prefix=".thuvien-backup-", dir=out.parent) as scratch:
            snapshots = {  # (3)
                p.arcname: _sqlite_snapshot(p.source, Path(scratch) / f"db-{i}.sqlite3")
                for i, p in enumerate(databases)
            }
            # no index here (it may live with a remote search service) or one we cannot read: the marks only
            index_keys = index_pin.record_keys() if index_pin is not None else None
            for arcname, before in marks.items():  # (4)
                if before is not None:
                    _reconcile(snapshots[arcname], before, index_keys)
            with tarfile.open(tmp_out, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
                for item in planned:
                    if progress:
                        progress(item.arcname)
                    added = _add(tar, item, snapshots.get(item.arcname))
                    if added is None:
                        continue
                    sha, size = added
                    files[item.arcname] = {"sha256": sha, "size": size}
                    total += size
                manifest = {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "source": {"data_dir": str(data_dir.resolve()), "models_dir": str(models_dir or "")},
                    "include_cache": include_cache,
                    "include_model_files": include_model_files,
                    "files": files,
                }
                body = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size = len(body)
                info.mtime = int(datetime.now(UTC).timestamp())
                info.mode = 0o644
                tar.addfile(info, _BytesReader(body))
        with tmp_out.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_out, out)
    finally:
        tmp_out.unlink(missing_ok=True)
        for pin in pins:
            pin.close()
    return BackupInfo(out, len(files), total, manifest)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n is None or n < 0 else self.pos + n
        chunk = self.data[self.pos : end]
        self.pos += len(chunk)
        return chunk


# ---- reading --------------------------------------------------------------------------------------------------
_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


def _safe_name(name: str) -> str | None:
    """The member name if it may be extracted (under data/ or models/, no '..', not absolute)."""
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in name:
        return None
    if p.parts[0] not in ("data", "models") or len(p.parts) < 2:
        return None
    return p.as_posix()


def _members(archive: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """The archive's members with their data streams; damage is a :class:`CorruptArchiveError` naming where."""
    try:
        tar = tarfile.open(archive, "r:gz")  # noqa: SIM115 - closed by the with below
    except _READ_ERRORS as exc:
        raise CorruptArchiveError(archive.name, f"not a readable thuvien backup ({exc})") from exc
    last = archive.name
    with tar:
        while True:
            try:
                member = tar.next()
            except _READ_ERRORS as exc:
                raise CorruptArchiveError(last, f"the archive is damaged after this member ({exc})") from exc
            if member is None:
                return
            last = member.name
            if not member.isfile():
                raise CorruptArchiveError(member.name, "not a regular file (links and devices are refused)")
            try:
                fh = tar.extractfile(member)
            except _READ_ERRORS as exc:
                raise CorruptArchiveError(member.name, f"cannot be read ({exc})") from exc
            yield member, fh


def _stream(member: tarfile.TarInfo, fh: IO[bytes] | None, sink: IO[bytes] | None = None) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    try:
        while fh is not None and (chunk := fh.read(CHUNK)):
            sha.update(chunk)
            size += len(chunk)
            if sink is not None:
                sink.write(chunk)
    except _READ_ERRORS as exc:
        raise CorruptArchiveError(member.name, f"damaged data ({exc})") from exc
    return sha.hexdigest(), size


def _parse_manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError as exc:
        raise CorruptArchiveError(MANIFEST_NAME, f"not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptArchiveError(MANIFEST_NAME, "not a thuvien backup manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise CorruptArchiveError(MANIFEST_NAME, f"unsupported backup format version {manifest.get('version')!r}")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) and isinstance(v.get("size"), int)
        for v in files.values()
    ):
        raise CorruptArchiveError(MANIFEST_NAME, "the file list is malformed")
    for name in files:
        if _safe_name(name) is None:
            raise CorruptArchiveError(name, "unsafe path in the manifest")
    return manifest


def verify_archive(archive: Path) -> dict[str, Any]:
    """Read the whole archive and check every file against the manifest; returns the manifest.

    Raises :class:`CorruptArchiveError` naming the first failing file. Writes nothing."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"no archive at {archive}")
    seen: dict[str, tuple[str, int]] = {}
    manifest_bytes: bytes | None = None
    for member, fh in _members(archive):
        if member.name == MANIFEST_NAME:
            if manifest_bytes is not None:
                raise CorruptArchiveError(MANIFEST_NAME, "present twice")
            buf = _Sink()
            _stream(member, fh, buf)
            manifest_bytes = buf.data()
            continue
        name = _safe_name(member.name)
        if name is None:
            raise CorruptArchiveError(member.name, "unsafe path (absolute, '..', or outside data/ and models/)")
        if name in seen:
            raise CorruptArchiveError(name, "present twice")
        seen[name] = _stream(member, fh)
    if manifest_bytes is None:
        raise CorruptArchiveError(MANIFEST_NAME, "missing: the archive is incomplete or not a thuvien backup")
    manifest = _parse_manifest(manifest_bytes)
    expected: dict[str, dict[str, Any]] = manifest["files"]
    for name, entry in sorted(expected.items()):
        if name not in seen:
            raise CorruptArchiveError(name, "listed in the manifest but missing from the archive")
        sha, size = seen[name]
        if size != entry["size"]:
            raise CorruptArchiveError(name, f"size {size} does not match the manifest ({entry['size']})")
        if sha != entry["sha256"]:
            raise CorruptArchiveError(name, "sha256 checksum does not match the manifest")
    extra = sorted(set(seen) - set(expected))
    if extra:
        raise CorruptArchiveError(extra[0], "in the archive but not in the manifest")
    return manifest


class _Sink:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, b: bytes) -> None:
        self.parts.append(b)

    def data(self) -> bytes:
        return b"".join(self.parts)


def _target_path(root: Path, name: str) -> Path:
    section, _, rest = name.partition("/")
    base = root if section == "data" else root / "models"
    return base / rest


def restore_backup(archive: Path, target: Path, *, progress: Progress | None = None) -> BackupInfo:
    """Verify ``archive`` completely, then restore it into ``target``, a new or empty data dir.

    The models manifest goes to ``<target>/models``. Nothing is written if any check fails."""
    archive, target = Path(archive), Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not empty: restore only into a new or empty data dir")
    manifest = verify_archive(archive)
    expected: dict[str, dict[str, Any]] = manifest["files"]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.restore-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    total = 0
    try:
        for member, fh in _members(archive):
            if member.name == MANIFEST_NAME:
                continue
            name = _safe_name(member.name)
            if name is None or name not in expected:  # the archive changed since it was verified
                raise CorruptArchiveError(member.name, "not in the manifest")
            if progress:
                progress(name)
            dest = _target_path(staging, name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with dest.open("wb") as sink:
                sha, size = _stream(member, fh, sink)
                sink.flush()
                os.fsync(sink.fileno())
            if sha != expected[name]["sha256"]:
                raise CorruptArchiveError(name, "sha256 checksum does not match the manifest")
            os.utime(dest, (member.mtime, member.mtime))
            total += size
        (staging / "RESTORED_FROM.json").write_text(
            json.dumps(
                {"archive": str(archive.resolve()), "created_at": manifest.get("created_at"), "files": len(expected)},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        if target.exists():
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BackupInfo(archive, len(expected), total, manifest)
