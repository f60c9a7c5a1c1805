"""SECURITY.md names only real settings, documents every hardening setting, and says how to report."""

from __future__ import annotations

import re
from pathlib import Path

from services.common.settings import Settings

REPO = Path(__file__).resolve().parents[2]
HARDENING = ("cors_origins", "rate_limit_per_minute", "rate_limit_burst", "trust_proxy_headers")


def _env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add((field.alias or f"THUVIEN_{name}").upper())
    return names


def test_security_md_names_real_settings_only():
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"THUVIEN_[A-Z0-9_]+", text)) - {"THUVIEN_"}
    named = {n for n in named if not n.endswith("_")}
    unknown = named - _env_names() - {"THUVIEN_LLM_URL"}
    assert not unknown, unknown
    for name in HARDENING:
        assert f"THUVIEN_{name.upper()}" in text, name
    for section in ("## Reporting a vulnerability", "## Threat model", "## Hardening settings", "## Not done yet"):
        assert section in text


def test_hardening_settings_are_described():
    for name in HARDENING:
        assert Settings.model_fields[name].description, name
