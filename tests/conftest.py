"""Fixtures shared by every test area: where the real datasets are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("THUVIEN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation datasets (../shared/data). Missing data is a failure, never a skip."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.fail(f"the shared datasets are not at {SHARED_DATA}; set THUVIEN_SHARED_DATA")
    return SHARED_DATA
