"""The value types every subject backend speaks."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Suggestion:
    """One proposed subject: its URI, preferred label, a score in [0, 1] and the backends behind it."""

    uri: str
    label: str
    score: float
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"uri": self.uri, "label": self.label, "score": round(float(self.score), 6), "sources": self.sources}


@dataclass
class Document:
    """A training or evaluation document: text and the URIs of its subjects."""

    text: str
    subjects: list[str] = field(default_factory=list)
    id: str = ""
