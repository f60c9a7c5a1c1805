"""Reading labelled corpora: Annif's TSV document corpus, JSONL, MARC files, and the bench's sets.

Every reader returns :class:`~subjects.types.Document` lists whose subjects are concept URIs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nlp.normalize import normalize
from subjects import marc
from subjects.types import Document
from subjects.vocab import Vocabulary, ddc_notation, ddc_uri, ddc_vocabulary, from_headings, heading_uri

LCSH_BASE = "http://id.loc.gov/authorities/subjects/label"
VINABOOK_BASE = "http://thuvien.local/vinabook/topic/"
VINABOOK_TOPICS = {
    "am-nhac": "Âm nhạc",
    "du-lich": "Du lịch",
    "khoa-hoc-co-ban": "Khoa học cơ bản",
    "khoa-hoc-ky-thuat": "Khoa học kỹ thuật",
    "my-thuat-kien-truc": "Mỹ thuật – Kiến trúc",
    "nghiep-vu-bao-chi": "Nghiệp vụ báo chí",
    "nong-lam-nghiep": "Nông lâm nghiệp",
    "phap-luat": "Pháp luật",
    "sach-hoc-nghe": "Sách học nghề",
    "sach-ton-giao": "Sách tôn giáo",
    "the-thao": "Thể thao",
    "van-hoa-nghe-thuat": "Văn hóa – Nghệ thuật",
    "y-hoc": "Y học",
}
_URI_RE = re.compile(r"<([^>]+)>")


@dataclass
class Split:
    name: str
    vocab: Vocabulary
    train: list[Document]
    test: list[Document]
    single_label: bool


def read_tsv_corpus(path: Path, vocab: Vocabulary | None = None) -> Iterator[Document]:
    """Annif's short-text corpus: ``text<TAB><uri1> <uri2>`` (URIs in angle brackets), or labels when
    a vocabulary is given and the subject column holds no ``<...>``."""
    by_label = vocab.by_label() if vocab else {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            text, _, subj = line.partition("\t")
            uris = _URI_RE.findall(subj)
            if not uris and subj.strip() and by_label:
                uris = [by_label[k] for k in (s.strip().casefold() for s in subj.split("\t")) if k in by_label]
            yield Document(text.replace("\\n", "\n"), uris, id=f"{Path(path).name}:{lineno}")


def read_jsonl_corpus(
    path: Path, text_fields: Iterable[str] = ("title", "description"), subject_field: str = "subjects"
) -> Iterator[Document]:
    """JSON lines with text fields and a ``subjects`` list of URIs."""
    fields = list(text_fields)
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            obj = json.loads(line)
            text = "\n".join(str(obj[f]) for f in fields if obj.get(f))
            subj = obj.get(subject_field) or []
            yield Document(text, [subj] if isinstance(subj, str) else list(subj), id=str(obj.get("id", lineno)))


# ---------------------------------------------------------------- bench sets
def vinabook(path: Path) -> Split:
    vocab_counts: Counter[str] = Counter()
    train, test = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            b = json.loads(line)
            text = normalize((b.get("title") or "") + "\n" + (b.get("description") or ""))
            uri = VINABOOK_BASE + b["topic"]
            vocab_counts[b["topic"]] += b["split"] == "train"
            (train if b["split"] == "train" else test).append(Document(text, [uri], id=b["id"]))
    vocab = Vocabulary("vinabook", {}, ["vi"])
    from subjects.vocab import Concept

    for slug, n in vocab_counts.items():
        uri = VINABOOK_BASE + slug
        vocab.concepts[uri] = Concept(uri, {"vi": VINABOOK_TOPICS.get(slug, slug)}, count=n)
    return Split("vinabook", vocab, train, test, True)


def _marc_docs(path: Path) -> list[marc.MarcDoc]:
    return list(marc.read_marc(path))


def lcsh(path: Path, min_train_count: int = 2, docs: list[marc.MarcDoc] | None = None) -> Split:
    docs = docs if docs is not None else _marc_docs(path)
    tr = [d for d in docs if d.headings and not marc.is_test_record(d.id)]
    te = [d for d in docs if d.headings and marc.is_test_record(d.id)]
    counts = Counter(h for d in tr for h in d.headings)
    keep = {h: n for h, n in counts.items() if n >= min_train_count}
    vocab = from_headings("lcsh", keep, LCSH_BASE, "en")

    def conv(ds):
        out = []
        for d in ds:
            uris = [heading_uri(LCSH_BASE, h) for h in d.headings if h in keep]
            if uris:
                out.append(Document(d.text, uris, id=d.id))
        return out

    return Split("lcsh", vocab, conv(tr), conv(te), False)


def ddc(path: Path, depth: int, docs: list[marc.MarcDoc] | None = None) -> Split:
    docs = docs if docs is not None else _marc_docs(path)
    have = [d for d in docs if d.ddc]
    cls = {d.id: marc.ddc_at_depth(d.ddc, depth) for d in have}
    tr = [d for d in have if not marc.is_test_record(d.id)]
    te = [d for d in have if marc.is_test_record(d.id)]
    counts = Counter(cls[d.id] for d in tr)
    vocab = ddc_vocabulary(f"ddc{depth}", counts)

    def conv(ds):
        return [
            Document(d.text, [ddc_uri(ddc_notation(cls[d.id]))], id=d.id)
            for d in ds
            if ddc_uri(ddc_notation(cls[d.id])) in vocab
        ]

    return Split(f"ddc{depth}", vocab, conv(tr), conv(te), True)
