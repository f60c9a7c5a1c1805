"""Split full text into passages of about ``target_words`` words, on paragraph then sentence
boundaries, each with a location ("Chương 3 — Tên chương, đoạn 2", "tr. 12", "đoạn 4")."""

from __future__ import annotations

import re

from catalog.model import Chunk

_PARA_RE = re.compile(r"\n\s*\n")
# A sentence ends with . ! ? … (optionally followed by closing quotes/brackets) before whitespace.
_SENT_RE = re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+")


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs; if the text has none, every line is a paragraph."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    paras = _PARA_RE.split(text)
    if len(paras) == 1 and text.count("\n") >= 2:
        paras = text.split("\n")
    return [" ".join(p.split()) for p in paras if p.strip()]


_ABBREV = frozenset(
    (
        "tr.", "trg.", "tp.", "q.", "p.", "h.", "x.", "tx.", "nxb.", "ts.", "ths.", "pgs.", "gs.",
        "bs.", "ks.", "cn.", "ông.", "bà.", "st.", "v.v.", "vv.", "vd.", "v.d.", "no.", "nos.", "vol.",
        "vols.", "ed.", "eds.", "pp.", "ch.", "fig.", "cf.", "e.g.", "i.e.", "etc.", "mr.", "mrs.",
        "ms.", "dr.", "prof.", "jr.", "sr.", "vs.", "ca.", "c.", "tk.", "tcn.", "scn.", "đ.", "k.",
        "số.", "tập.",
    )
)  # fmt: skip


def _ends_with_abbrev(piece: str) -> bool:
    last = piece.rsplit(None, 1)[-1].lower().lstrip("(\"'“‘«[")
    return last in _ABBREV or bool(re.fullmatch(r"[^\W\d_]\.", last))  # "A." an initial


def split_sentences(paragraph: str) -> list[str]:
    """Sentences of a paragraph. A break after . ! ? … is kept only before a capital, a digit or
    an opening quote/bracket, and not after a common abbreviation ("tr. 12", "v.v.", "TP.", "A.")."""
    pieces: list[str] = []
    pos = 0
    for m in _SENT_RE.finditer(paragraph):
        pieces.append(paragraph[pos : m.end()].strip())
        pos = m.end()
    pieces.append(paragraph[pos:].strip())
    out: list[str] = []
    for p in pieces:
        if not p:
            continue
        first = p[0]
        starts = first.isupper() or first.isdigit() or first in "\"'“‘«(-–—["
        if out and (not starts or _ends_with_abbrev(out[-1])):
            out[-1] = f"{out[-1]} {p}"
        else:
            out.append(p)
    return out


def _raw_sentences(paragraph: str) -> list[str]:
    """Every . ! ? … boundary, no matter what follows (for runs that the careful split left huge)."""
    out, pos = [], 0
    for m in _SENT_RE.finditer(paragraph):
        out.append(paragraph[pos : m.end()].strip())
        pos = m.end()
    out.append(paragraph[pos:].strip())
    return [p for p in out if p]


def _words(s: str) -> int:
    return len(s.split())


def _units(text: str, target_words: int) -> list[str]:
    """Paragraphs, with long ones split into sentences and huge sentences into word windows."""
    units: list[str] = []
    for para in split_paragraphs(text):
        if _words(para) <= target_words:
            units.append(para)
            continue
        for sent in split_sentences(para):
            if len(sent.split()) <= target_words * 1.5:
                units.append(sent)
                continue
            for piece in _raw_sentences(sent):
                words = piece.split()
                if len(words) <= target_words * 1.5:
                    units.append(piece)
                else:  # a huge "sentence" (lists, verse without punctuation): cut at word windows
                    for i in range(0, len(words), target_words):
                        units.append(" ".join(words[i : i + target_words]))
    return units


def _pack_groups(units: list[tuple[str, int]], target_words: int) -> list[list[tuple[str, int]]]:
    """Greedy packing that keeps each passage as close to ``target_words`` as the unit boundaries
    allow: a unit joins the current passage unless that moves it further from the target."""
    groups: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    n = 0
    for u, tag in units:
        w = _words(u)
        if cur and (n + w - target_words) > (target_words - n):
            groups.append(cur)
            cur, n = [], 0
        cur.append((u, tag))
        n += w
    if cur:
        if groups and n < target_words * 0.3 and sum(_words(u) for u, _ in groups[-1]) + n <= target_words * 1.5:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


def pack(units: list[str], target_words: int = 200) -> list[str]:
    """Pack units into passages of about ``target_words`` words (a short tail joins the previous
    passage)."""
    return ["\n\n".join(u for u, _ in g) for g in _pack_groups([(u, 0) for u in units], target_words)]


_HEADING_RE = re.compile(r"^\s*(?:={2,}\s*(?P<wiki>[^=\n]+?)\s*={2,}|#{1,6}\s+(?P<md>[^\n]+?))\s*$", re.MULTILINE)


def split_sections(text: str) -> list[tuple[str | None, str]]:
    """``(heading, body)`` pairs for texts with wiki (``== Lịch sử ==``) or Markdown (``## …``)
    headings on their own lines; the text before the first heading has heading None."""
    out: list[tuple[str | None, str]] = []
    pos, heading = 0, None
    for m in _HEADING_RE.finditer(text):
        out.append((heading, text[pos : m.start()]))
        heading = " ".join((m.group("wiki") or m.group("md") or "").split()) or None
        pos = m.end()
    out.append((heading, text[pos:]))
    return [(h, b) for h, b in out if b.strip() or h]


def _chunk_plain(text: str, target_words: int, location_prefix: str | None) -> list[tuple[str, str]]:
    passages = pack(_units(text, target_words), target_words)
    if location_prefix and len(passages) == 1:
        return [(passages[0], location_prefix)]
    return [
        (p, f"{location_prefix}, đoạn {i}" if location_prefix else f"đoạn {i}") for i, p in enumerate(passages, start=1)
    ]


def chunk_text(text: str, target_words: int = 200, location_prefix: str | None = None) -> list[tuple[str, str]]:
    """Passages of about ``target_words`` words with their location: ``"<prefix>, đoạn k"`` (or
    ``"đoạn k"`` without a prefix; just ``"<prefix>"`` when the text makes one passage).

    Section headings on their own line (``== Lịch sử ==``, ``## Lịch sử``) start a new passage; the
    heading is kept as the passage's first line and named in the location
    (``"<prefix> — Lịch sử, đoạn 2"``)."""
    sections = split_sections(text)
    if len(sections) <= 1 and (not sections or sections[0][0] is None):
        return _chunk_plain(text, target_words, location_prefix)
    # a short section joins the previous one (its heading stays in the text as a paragraph), so
    # "Xem thêm" or a two-line section does not make a passage of its own
    groups: list[list] = []  # [heading, body]
    for heading, body in sections:
        if not body.strip():
            continue  # a heading with nothing under it
        if groups and _words(groups[-1][1]) < target_words * 0.5:
            groups[-1][1] += f"\n\n{heading}\n\n{body}" if heading else f"\n\n{body}"
        else:
            groups.append([heading, body])
    out: list[tuple[str, str]] = []
    for heading, body in groups:
        if heading is None:
            out.extend(_chunk_plain(body, target_words, location_prefix))
            continue
        prefix = f"{location_prefix} — {heading}" if location_prefix else heading
        pieces = _chunk_plain(f"{heading}\n\n{body}", target_words, prefix)
        out.extend(pieces)
    return out


def chunk_pages(pages: list[str], target_words: int = 200) -> list[tuple[str, str]]:
    """Passages across pages (PDF): units keep their page number; a passage spanning pages gets
    ``"tr. 12–13"``."""
    tagged: list[tuple[str, int]] = []
    for pno, page in enumerate(pages, start=1):
        page = re.sub(r"(?<!\n)\n(?!\n)", " ", page)  # PDF lines are layout, not paragraphs
        tagged.extend((u, pno) for u in _units(page, target_words))
    groups = _pack_groups(tagged, target_words)
    out = []
    for g in groups:
        first, last = g[0][1], g[-1][1]
        loc = f"tr. {first}" if first == last else f"tr. {first}–{last}"
        out.append(("\n\n".join(u for u, _ in g), loc))
    return out


def make_chunks(library_id: str, record_id: str, passages: list[tuple[str, str | None]]) -> list[Chunk]:
    """``Chunk`` objects with ids ``"<library_id>/<record_id>#<seq>"`` (seq from 0); empty
    passages are dropped."""
    out: list[Chunk] = []
    for text, loc in passages:
        if not text or not text.strip():
            continue
        seq = len(out)
        out.append(
            Chunk(
                chunk_id=f"{library_id}/{record_id}#{seq}",
                record_id=record_id,
                library_id=library_id,
                seq=seq,
                text=text,
                location=loc,
            )
        )
    return out
