"""Holds the newest trained model version and swaps in a newer one without a restart."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from recommender.engine import Availability, Engine
from recommender.persist import latest_version, load_version

log = logging.getLogger("thuvien.recommender")


class ModelHolder:
    """``get()`` returns the current engine; a newer version on disk is loaded in a background thread
    (the first one synchronously) and swapped in atomically, so requests never wait on a reload."""

    def __init__(
        self,
        root: Path,
        *,
        check_every_s: float = 2.0,
        availability: Availability | None = None,
        mmr_lambda: float = 0.85,
    ) -> None:
        self.root = root
        self.check_every_s = check_every_s
        self.availability = availability
        self.mmr_lambda = mmr_lambda
        self._engine: Engine | None = None
        self._checked = 0.0
        self._loading: str | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str | None:
        return self._engine.version if self._engine else None

    def _load(self, version: str) -> None:
        try:
            model, cat, _ = load_version(self.root, version)
            engine = Engine(model, cat, version, availability=self.availability, mmr_lambda=self.mmr_lambda)
            with self._lock:
                if self._engine is None or self._engine.version < version:
                    self._engine = engine
            log.info("recommender model %s loaded", version)
        except Exception:  # a broken version must not take the service down; the old one keeps serving
            log.exception("could not load recommender model %s", version)
        finally:
            self._loading = None

    def refresh(self, wait: bool = False) -> None:
        newest = latest_version(self.root)
        if newest is None or newest == self.version or self._loading == newest:
            return
        if self._engine is None or wait:
            self._loading = newest
            self._load(newest)
            return
        self._loading = newest
        threading.Thread(target=self._load, args=(newest,), daemon=True, name=f"load-{newest}").start()

    def get(self) -> Engine | None:
        now = time.monotonic()
        if self._engine is None or now - self._checked >= self.check_every_s:
            self._checked = now
            self.refresh()
        return self._engine
