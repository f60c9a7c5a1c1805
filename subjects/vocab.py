"""Subject vocabularies: SKOS (any RDF syntax rdflib reads), TSV, catalogue headings, DDC.

A :class:`Vocabulary` maps concept URIs to :class:`Concept` (preferred and alternative labels per
language, broader/narrower links, usage count). Loading never half-replaces a vocabulary: a parse
error raises :class:`VocabularyError` carrying the parser's line number, and the caller keeps the
vocabulary it had.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

from subjects.storage import atomic_write_json


class VocabularyError(ValueError):
    """A vocabulary file could not be read; ``line`` is the parser's line number when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line
        self.reason = message


@dataclass
class Concept:
    uri: str
    pref: dict[str, str] = field(default_factory=dict)
    alt: dict[str, list[str]] = field(default_factory=dict)
    broader: list[str] = field(default_factory=list)
    narrower: list[str] = field(default_factory=list)
    notation: str | None = None
    count: int = 0

    def label(self, lang: str = "vi") -> str:
        if lang in self.pref:
            return self.pref[lang]
        for fallback in ("vi", "en", ""):
            if fallback in self.pref:
                return self.pref[fallback]
        return next(iter(self.pref.values()), self.notation or self.uri)

    def all_labels(self) -> list[str]:
        out = list(dict.fromkeys(self.pref.values()))
        for labels in self.alt.values():
            out.extend(x for x in labels if x not in out)
        return out


@dataclass
class Vocabulary:
    id: str
    concepts: dict[str, Concept] = field(default_factory=dict)
    languages: list[str] = field(default_factory=lambda: ["vi"])

    def __len__(self) -> int:
        return len(self.concepts)

    def __contains__(self, uri: object) -> bool:
        return uri in self.concepts

    def label(self, uri: str, lang: str | None = None) -> str:
        c = self.concepts.get(uri)
        return c.label(lang or self.languages[0]) if c else uri

    def by_label(self) -> dict[str, str]:
        """Lower-cased NFC label (pref and alt, every language) -> URI."""
        out: dict[str, str] = {}
        for c in self.concepts.values():
            for lab in c.all_labels():
                out.setdefault(_key(lab), c.uri)
        return out

    def to_json(self) -> dict:
        return {"id": self.id, "languages": self.languages, "concepts": [asdict(c) for c in self.concepts.values()]}

    @classmethod
    def from_json(cls, obj: dict) -> Vocabulary:
        return cls(obj["id"], {c["uri"]: Concept(**c) for c in obj["concepts"]}, obj.get("languages", ["vi"]))

    def save(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())


def _key(label: str) -> str:
    return unicodedata.normalize("NFC", label).casefold().strip()


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", str(s)).strip()


# ---------------------------------------------------------------- TSV
def load_tsv(path: Path, vocab_id: str, language: str = "vi") -> Vocabulary:
    """Annif's simple format: ``<uri>\\tlabel`` (angle brackets optional), one concept a line."""
    concepts: dict[str, Concept] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n\r")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
                raise VocabularyError("expected '<uri>\\tlabel'", lineno)
            uri = parts[0].strip().removeprefix("<").removesuffix(">")
            concepts[uri] = Concept(
                uri, {language: _nfc(parts[1])}, notation=parts[2].strip() if len(parts) > 2 else None
            )
    if not concepts:
        raise VocabularyError("the file holds no concepts")
    return Vocabulary(vocab_id, concepts, [language])


# ---------------------------------------------------------------- SKOS
_LINE_RE = re.compile(r"line[ :]*(\d+)", re.I)


def _parse_line(exc: Exception) -> int | None:
    for attr in ("lines", "line", "_linenumber"):
        v = getattr(exc, attr, None)
        if isinstance(v, int):
            return v
    get = getattr(exc, "getLineNumber", None)
    if callable(get):
        try:
            return int(get())
        except Exception:  # noqa: BLE001
            pass
    m = _LINE_RE.search(str(exc))
    return int(m.group(1)) if m else None


def _guess_format(path: Path) -> str | None:
    suffix = "".join(Path(path).suffixes[-2:]).lower().removesuffix(".gz")
    return {
        ".ttl": "turtle",
        ".n3": "n3",
        ".nt": "nt",
        ".rdf": "xml",
        ".xml": "xml",
        ".owl": "xml",
        ".jsonld": "json-ld",
        ".json": "json-ld",
        ".trig": "trig",
        ".nq": "nquads",
    }.get(Path(suffix).suffix or suffix)


def load_skos(path: Path, vocab_id: str, languages: Iterable[str] = ("vi", "en"), fmt: str | None = None) -> Vocabulary:
    """Read SKOS concepts (``skos:Concept``, or anything with a ``skos:prefLabel``) with rdflib."""
    import rdflib
    from rdflib.namespace import OWL, RDF, SKOS

    g = rdflib.Graph()
    try:
        g.parse(str(path), format=fmt or _guess_format(path))
    except Exception as exc:  # rdflib raises many types; all mean the file is malformed
        raise VocabularyError(
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", _parse_line(exc)
        ) from exc
    langs = list(languages)
    subjects = set(g.subjects(RDF.type, SKOS.Concept)) | set(g.subjects(SKOS.prefLabel, None))
    deprecated = set(g.subjects(OWL.deprecated, rdflib.Literal(True)))
    concepts: dict[str, Concept] = {}
    for s in subjects:
        if not isinstance(s, rdflib.URIRef) or s in deprecated:
            continue
        c = Concept(str(s))
        for lit in g.objects(s, SKOS.prefLabel):
            c.pref.setdefault(getattr(lit, "language", None) or "", _nfc(lit))
        for lit in g.objects(s, SKOS.altLabel):
            c.alt.setdefault(getattr(lit, "language", None) or "", []).append(_nfc(lit))
        c.broader = sorted(
            {str(o) for o in g.objects(s, SKOS.broader)} | {str(o) for o in g.subjects(SKOS.narrower, s)}
        )
        c.narrower = sorted(
            {str(o) for o in g.objects(s, SKOS.narrower)} | {str(o) for o in g.subjects(SKOS.broader, s)}
        )
        notation = next(iter(g.objects(s, SKOS.notation)), None)
        c.notation = str(notation) if notation is not None else None
        if not c.pref:
            continue
        concepts[c.uri] = c
    if not concepts:
        raise VocabularyError("no skos:Concept with a skos:prefLabel was found")
    seen = {lang for c in concepts.values() for lang in c.pref if lang}
    order = [lang for lang in langs if lang in seen] + sorted(seen - set(langs))
    return Vocabulary(vocab_id, concepts, order or langs)


def load_file(path: Path, vocab_id: str, language: str = "vi") -> Vocabulary:
    """TSV by extension (``.tsv``/``.txt``), otherwise SKOS/RDF."""
    p = Path(path)
    if not p.exists():
        raise VocabularyError(f"file not found: {p}")
    if p.suffix.lower() in (".tsv", ".txt", ".csv"):
        return load_tsv(p, vocab_id, language)
    return load_skos(p, vocab_id, (language, "vi", "en"))


# ---------------------------------------------------------------- built ones
def heading_uri(base: str, heading: str) -> str:
    return base.rstrip("/") + "/" + quote(heading.replace(" -- ", "--"), safe="")


def from_headings(
    vocab_id: str, counts: Counter[str] | dict[str, int], base_uri: str, language: str = "en", min_count: int = 1
) -> Vocabulary:
    """A vocabulary made of catalogue headings ("Topic -- Subdivision"), with usage counts.

    A subdivided heading gets its main heading as ``broader`` when that heading is also present.
    """
    concepts: dict[str, Concept] = {}
    for heading, n in counts.items():
        if n < min_count:
            continue
        uri = heading_uri(base_uri, heading)
        concepts[uri] = Concept(uri, {language: heading}, count=int(n))
    for c in concepts.values():
        head = c.pref[language].rsplit(" -- ", 1)
        if len(head) == 2:
            parent = heading_uri(base_uri, head[0])
            if parent in concepts:
                c.broader.append(parent)
                concepts[parent].narrower.append(c.uri)
    return Vocabulary(vocab_id, concepts, [language])


DDC_BASE = "http://dewey.info/class/"
# The ten main classes (DDC 23 first summary), so a depth-1 class has a readable label.
DDC_MAIN_CLASSES = {
    "0": ("Tin học, thông tin và tác phẩm tổng quát", "Computer science, information and general works"),
    "1": ("Triết học và tâm lý học", "Philosophy and psychology"),
    "2": ("Tôn giáo", "Religion"),
    "3": ("Khoa học xã hội", "Social sciences"),
    "4": ("Ngôn ngữ", "Language"),
    "5": ("Khoa học tự nhiên", "Science"),
    "6": ("Công nghệ", "Technology"),
    "7": ("Nghệ thuật và giải trí", "Arts and recreation"),
    "8": ("Văn học", "Literature"),
    "9": ("Lịch sử và địa lý", "History and geography"),
}


def ddc_uri(notation: str) -> str:
    return f"{DDC_BASE}{notation}/"


def ddc_notation(digits: str) -> str:
    """``3`` -> ``300``, ``36`` -> ``360``, ``363`` -> ``363``; longer numbers keep their point."""
    if len(digits) < 3:
        return digits.ljust(3, "0")
    return digits if "." in digits or len(digits) == 3 else f"{digits[:3]}.{digits[3:]}"


def ddc_vocabulary(vocab_id: str, classes: Counter[str] | dict[str, int]) -> Vocabulary:
    """DDC classes (digit strings at one depth, e.g. "3", "36", "363") with usage counts."""
    concepts: dict[str, Concept] = {}
    for digits, n in classes.items():
        notation = ddc_notation(digits)
        uri = ddc_uri(notation)
        pref = {"vi": notation, "en": notation}
        main = DDC_MAIN_CLASSES.get(digits[0])
        if main and len(digits) == 1:
            pref = {"vi": f"{notation} {main[0]}", "en": f"{notation} {main[1]}"}
        concepts[uri] = Concept(uri, pref, notation=notation, count=int(n))
    return Vocabulary(vocab_id, concepts, ["vi", "en"])
