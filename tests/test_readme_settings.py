"""README's configuration table lists every setting (settings.py is the one place they are defined)."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _env_names_in(text: str) -> set[str]:
    names = set(re.findall(r"`(THUVIEN_[A-Z0-9_]+)`", text))
    # the row `THUVIEN_<SERVICE>_URL` names its services: `NLP`, `CATALOG`, …
    row = next((line for line in text.splitlines() if line.startswith("| `THUVIEN_<SERVICE>_URL`")), "")
    names |= {f"THUVIEN_{s}_URL" for s in re.findall(r"`([A-Z]+)`", row)}
    return names


def test_every_setting_is_in_the_readme_table():
    listed = _env_names_in(README.read_text(encoding="utf-8"))
    wanted = {field.alias or f"THUVIEN_{name.upper()}" for name, field in Settings.model_fields.items()}
    assert not wanted - listed, f"README.md's configuration table lacks {sorted(wanted - listed)}"
