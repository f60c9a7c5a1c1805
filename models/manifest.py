"""Model manifests: what a model version was built from, what it holds, and how it checked out.

Layout of the models dir (``<data_dir>/models``)::

    current.json                  {"model_version": "..."}: the version ``auto`` uses
    <model_version>/manifest.json this module's :class:`Manifest`
    <model_version>/sentence-transformers/…, onnx/model-fp32.onnx, onnx/model-int8.onnx

Reading a manifest checks its files against the recorded sha256, so a damaged or swapped artefact
is a clear error, never a silently different model.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from models.source import sha256_file

MANIFEST = "manifest.json"
CURRENT = "current.json"
MODEL_NAME = "multilingual-e5-small"
BACKENDS = ("onnx-int8", "onnx-fp32", "torch")


class ManifestError(RuntimeError):
    """Artefacts are missing, damaged or do not match their manifest."""


class SourceEntry(BaseModel):
    package: str
    version: str
    file: str
    sha256: str
    bytes: int


class FileEntry(BaseModel):
    sha256: str
    bytes: int


class CosineStats(BaseModel):
    n: int
    mean: float
    min: float
    p01: float
    by_source: dict[str, float] = Field(default_factory=dict)


class BackendParity(BaseModel):
    passed: bool
    reference: str
    cosine: CosineStats
    cos_mean_min: float
    cos_min_min: float | None = None
    mrr10: float | None = None
    mrr10_reference: float | None = None
    mrr10_max_drop: float = 0.01
    mrr10_queries: int | None = None
    texts_per_s: float | None = None
    failures: list[str] = Field(default_factory=list)


class TokenizerParity(BaseModel):
    passed: bool
    n: int
    identical: int
    reference: str
    shipped_counts_equal: int
    mismatches: list[dict] = Field(default_factory=list)


class BackendEntry(BaseModel):
    path: str  # relative to the version folder
    files: list[str]
    parity: BackendParity | None = None


class Manifest(BaseModel):
    schema_version: int = 1
    model_name: str = MODEL_NAME
    model_version: str
    base_model: str
    licence: str
    source: SourceEntry
    parent: str | None = None
    dim: int
    max_tokens: int
    prefixes: dict[str, str]
    pooling: str = "mean"
    normalize: bool = True
    files: dict[str, FileEntry]
    backends: dict[str, BackendEntry]
    tokenizer_parity: TokenizerParity | None = None
    default_backend: str | None = None
    built_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    build_seconds: float | None = None
    tools: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    def model_id(self, backend: str) -> str:
        return f"{self.model_name}/{backend}@{self.model_version}"

    def fastest_passed(self) -> str | None:
        ok = [
            (b.parity.texts_per_s or 0.0, name)
            for name, b in self.backends.items()
            if b.parity is not None and b.parity.passed
        ]
        return max(ok)[1] if ok else None


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(folder: Path, manifest: Manifest) -> None:
    atomic_write_text(folder / MANIFEST, manifest.model_dump_json(indent=2))


def read_manifest(folder: Path) -> Manifest:
    path = folder / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path} is missing; run: thuvien models build")
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ManifestError(f"{path} is not a valid manifest ({exc}); run: thuvien models build --force") from exc


def hash_files(folder: Path) -> dict[str, FileEntry]:
    out: dict[str, FileEntry] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            out[p.relative_to(folder).as_posix()] = FileEntry(sha256=sha256_file(p), bytes=p.stat().st_size)
    return out


_verified: dict[tuple[str, int, int], str] = {}


def verify_files(folder: Path, manifest: Manifest, names: list[str] | None = None) -> None:
    """Check files against the manifest (size, then sha256; memoised per process by mtime)."""
    for name in names if names is not None else list(manifest.files):
        entry = manifest.files.get(name)
        p = folder / name
        if entry is None:
            raise ManifestError(
                f"{folder.name}: {name} is not listed in its manifest; rebuild with thuvien models build --force"
            )
        if not p.is_file():
            raise ManifestError(f"{p} is missing; rebuild with: thuvien models build --force")
        st = p.stat()
        if st.st_size != entry.bytes:
            raise ManifestError(
                f"{p} has {st.st_size} bytes but its manifest says {entry.bytes} (truncated or replaced); "
                "rebuild with: thuvien models build --force"
            )
        key = (str(p), st.st_mtime_ns, st.st_size)
        if _verified.get(key) == entry.sha256:
            continue
        sha = sha256_file(p)
        if sha != entry.sha256:
            raise ManifestError(
                f"{p} has sha256 {sha[:16]}… but its manifest says {entry.sha256[:16]}… (corrupted or "
                "replaced); rebuild with: thuvien models build --force"
            )
        _verified[key] = sha


def read_current(models_dir: Path) -> str | None:
    path = models_dir / CURRENT
    if not path.is_file():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["model_version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path} is damaged; run: thuvien models build") from exc


def write_current(models_dir: Path, model_version: str) -> None:
    atomic_write_text(models_dir / CURRENT, json.dumps({"model_version": model_version}) + "\n")
