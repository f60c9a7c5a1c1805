"""One writer per data dir: the server or the CLI, never both.

The holder keeps an exclusive ``flock`` on ``<data_dir>/.writer.lock``. A serving gateway also writes
``<data_dir>/server.json`` with its URL, so ``thuvien ingest`` sends records to the running server
(searchable at once) instead of writing the files under it.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path


class DataDirBusy(RuntimeError):
    pass


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fh = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.data_dir / ".writer.lock", "a+")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.close()
            raise DataDirBusy(
                f"another thuvien process is writing to {self.data_dir} (a server or an ingest); stop it or use its API"
            ) from exc
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
        (self.data_dir / "server.json").unlink(missing_ok=True)

    def announce(self, url: str) -> None:
        tmp = self.data_dir / "server.json.tmp"
        tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
        os.replace(tmp, self.data_dir / "server.json")


def running_server_url(data_dir: Path) -> str | None:
    """The URL of a live server on this data dir, or None."""
    info = data_dir / "server.json"
    if not info.exists():
        return None
    try:
        data = json.loads(info.read_text())
        os.kill(int(data["pid"]), 0)
    except (ValueError, KeyError, OSError):
        return None
    return str(data["url"])
