"""Real Vietnamese and English texts for the parity checks, from ../shared/data (read-only).

The set is deterministic (seed 20261125) and mixes what the encoders will really see:
reader queries (XQuAD-vi questions, some typed without diacritics), catalogue records (vinabook
title + authors, LoC MARC titles), Wikipedia sentences and chunks, and a few texts longer than
the 512-token window so the sliding-window path is exercised too.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SEED = 20261125


@dataclass(frozen=True)
class ParityText:
    text: str
    kind: str  # "query" | "passage"
    source: str


@dataclass(frozen=True)
class RetrievalSet:
    passages: list[str]
    queries: list[str]
    gold: list[int]  # index of each query's gold passage


def shared_data_dir() -> Path:
    env = os.environ.get("THUVIEN_SHARED_DATA")
    if env:
        return Path(env)
    return (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()


class ParityDataError(RuntimeError):
    pass


def _need(path: Path) -> Path:
    if not path.exists():
        raise ParityDataError(
            f"parity data {path} is missing; set THUVIEN_SHARED_DATA to the folder holding the shared "
            "evaluation sets (xquad-vi/, viwiki/, vinabook/, loc-marc/)"
        )
    return path


def fold_diacritics(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    )


def xquad(data_dir: Path | None = None) -> RetrievalSet:
    path = _need((data_dir or shared_data_dir()) / "xquad-vi" / "xquad.vi.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    passages: list[str] = []
    queries: list[str] = []
    gold: list[int] = []
    for art in data["data"]:
        for para in art["paragraphs"]:
            pi = len(passages)
            passages.append(para["context"])
            for qa in para["qas"]:
                queries.append(qa["question"])
                gold.append(pi)
    return RetrievalSet(passages, queries, gold)


def subset(rs: RetrievalSet, paragraphs: int | None) -> RetrievalSet:
    """The first ``paragraphs`` paragraphs (every article's in file order) and their questions."""
    if paragraphs is None or paragraphs >= len(rs.passages):
        return rs
    keep = [(q, g) for q, g in zip(rs.queries, rs.gold, strict=True) if g < paragraphs]
    return RetrievalSet(rs.passages[:paragraphs], [q for q, _ in keep], [g for _, g in keep])


def _viwiki_articles(data_dir: Path, limit: int) -> list[dict]:
    out = []
    with gzip.open(_need(data_dir / "viwiki" / "articles.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) >= limit:
                break
    return out


def _loc_titles(data_dir: Path, limit: int) -> list[str]:
    from pymarc import MARCReader

    out: list[str] = []
    with gzip.open(_need(data_dir / "loc-marc" / "dev.mrc.gz"), "rb") as f:
        for rec in MARCReader(f, to_unicode=True, force_utf8=True):
            if rec is None:
                continue
            lang = rec["008"].data[35:38] if rec["008"] else ""
            f245 = rec.get_fields("245")
            if lang != "eng" or not f245:
                continue
            title = " ".join(f245[0].get_subfields("a", "b"))
            title = unicodedata.normalize("NFC", re.sub(r"\s*[/:;,.]\s*$", "", title.strip()))
            if len(title) >= 12:
                out.append(title)
            if len(out) >= limit:
                break
    return out


def chunk_words(text: str, words: int) -> list[str]:
    toks = text.split()
    return [" ".join(toks[i : i + words]) for i in range(0, len(toks), words)]


def parity_texts(n: int = 1000, data_dir: Path | None = None) -> list[ParityText]:
    """``n`` real texts (default 1,000); the mix is fixed, the sampling seeded."""
    d = data_dir or shared_data_dir()
    rng = random.Random(SEED)
    xq = xquad(d)
    q_idx = rng.sample(range(len(xq.queries)), 250)
    p_idx = rng.sample(range(len(xq.passages)), 90)
    out: list[ParityText] = []
    out += [ParityText(xq.queries[i], "query", "xquad-question") for i in q_idx[:200]]
    out += [ParityText(fold_diacritics(xq.queries[i]), "query", "xquad-question-folded") for i in q_idx[200:]]
    out += [ParityText(xq.passages[i], "passage", "xquad-context") for i in p_idx]

    arts = _viwiki_articles(d, 400)
    sentences, chunks, longs = [], [], []
    for a in arts:
        body = re.sub(r"==+[^=]+==+", " ", a["text"])
        for s in re.split(r"(?<=[.!?])\s+", body):
            s = " ".join(s.split())
            if 40 <= len(s) <= 400:
                sentences.append(s)
        chunks += [c for c in chunk_words(body, 180) if len(c.split()) >= 120]
        if len(body) > 4000:
            longs.append(" ".join(body.split()[:900]))
    out += [ParityText(s, "passage", "viwiki-sentence") for s in rng.sample(sentences, 200)]
    out += [ParityText(c, "passage", "viwiki-chunk") for c in rng.sample(chunks, 50)]
    out += [ParityText(t, "passage", "viwiki-long") for t in rng.sample(longs, 10)]

    books = []
    with _need(d / "vinabook" / "books.jsonl").open(encoding="utf-8") as f:
        for line in f:
            books.append(json.loads(line))
    picked = rng.sample(books, 250)
    out += [ParityText(catalogue_text(b), "passage", "vinabook-record") for b in picked[:200]]
    out += [ParityText(b["title"], "query", "vinabook-title") for b in picked[200:]]

    titles = _loc_titles(d, 3000)
    picked_t = rng.sample(titles, 150)
    out += [ParityText(t, "passage", "loc-marc-title") for t in picked_t[:100]]
    out += [ParityText(t, "query", "loc-marc-title") for t in picked_t[100:]]
    rng.shuffle(out)
    if n < len(out):
        out = out[:n]
    return out


def catalogue_text(book: dict) -> str:
    parts = [book.get("title") or ""]
    if book.get("authors"):
        parts.append(", ".join(book["authors"]))
    if book.get("publisher"):
        parts.append(book["publisher"])
    return " — ".join(p for p in parts if p)
