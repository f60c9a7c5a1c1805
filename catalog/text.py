"""Text cleaning shared by the importers: NFC + one tone placement (via ``nlp.normalize``),
control characters removed, whitespace tidied.

``nlp.normalize.normalize`` is imported lazily; until it is importable, plain Unicode NFC with
control-character removal is used, so the catalogue never stores decomposed or control-laden text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff]")
_SPACES_RE = re.compile(r"\s+")
_normalizer: Callable[[str], str] | None = None


def _fallback(text: str) -> str:
    text = _CONTROL_RE.sub("", unicodedata.normalize("NFC", text))
    lines = [_SPACES_RE.sub(" ", ln).strip() for ln in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _get_normalizer() -> Callable[[str], str]:
    global _normalizer
    if _normalizer is None:
        try:
            from nlp.normalize import normalize as nlp_normalize  # noqa: PLC0415
        except Exception:  # nlp not available (yet): NFC + control removal
            _normalizer = _fallback
        else:
            _normalizer = nlp_normalize
    return _normalizer


def clean_text(text: str | None) -> str | None:
    """Multi-line text (summaries, full text): NFC, tone placement, controls removed, at most one
    blank line in a row. Returns None for empty input."""
    if text is None:
        return None
    text = _CONTROL_RE.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    out = unicodedata.normalize("NFC", _get_normalizer()(text))
    return out or None


def clean_line(text: str | None) -> str | None:
    """Single-line text (titles, names, headings): as :func:`clean_text`, whitespace collapsed."""
    if text is None:
        return None
    out = clean_text(_SPACES_RE.sub(" ", str(text)))
    return _SPACES_RE.sub(" ", out).strip() if out else None


def clean_list(values: Iterable[str | None]) -> list[str]:
    """Clean each value with :func:`clean_line`, drop empties and duplicates, keep order."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        c = clean_line(v)
        if c and c not in seen:
            seen.add(c)
            out.append(c)
    return out


_VI_CHARS = set("ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ")


def looks_vietnamese(text: str, sample: int = 20000) -> bool:
    """Cheap check used for digitized files whose declared language is often wrong: a share of
    letters that only Vietnamese uses."""
    s = text[:sample].lower()
    letters = sum(1 for c in s if c.isalpha())
    if letters < 20:
        return False
    return sum(1 for c in s if c in _VI_CHARS) / letters > 0.03
