"""Snippets: the best window of sentences of a document, with the query terms marked.

Matching is on folded forms, so "lich su" marks "lịch sử". The text outside the marks is
HTML-escaped; marks are ``<mark>…</mark>`` and adjacent marked words share one mark.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

from nlp.fold import fold_normalized
from nlp.tokenize import TOKEN_RE

__all__ = ["make_snippet", "highlight"]


@lru_cache(maxsize=200_000)
def _fold_tok(tok: str) -> str:
    return fold_normalized(tok)


# The window is sought in the first characters of a document only: a passage is shorter, and a
# record's metadata text (title, authors, subjects, then the summary) has its best words early; a
# 10,000-character summary took 1.3 ms per hit to scan whole.
SNIPPET_SCAN_CHARS = 3000

_SENT_RE = re.compile(r"(?<=[.!?…;:])\s+|\n+")


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in _SENT_RE.finditer(text):
        if m.start() > pos:
            spans.append((pos, m.start()))
        pos = m.end()
    if pos < len(text):
        spans.append((pos, len(text)))
    return spans


def highlight(text: str, terms: set[str]) -> str:
    """HTML-escape ``text`` and wrap words whose folded form is in ``terms`` in <mark>."""
    out: list[str] = []
    pos = 0
    open_mark = False
    for m in TOKEN_RE.finditer(text):
        hit = _fold_tok(m.group(0)) in terms
        gap = text[pos : m.start()]
        if open_mark and (not hit or gap.strip()):
            out.append("</mark>")
            open_mark = False
        out.append(html.escape(gap))
        if hit and not open_mark:
            out.append("<mark>")
            open_mark = True
        out.append(html.escape(m.group(0)))
        pos = m.end()
    if open_mark:
        out.append("</mark>")
    out.append(html.escape(text[pos:]))
    return "".join(out)


def make_snippet(text: str, terms: dict[str, float], max_words: int = 40) -> str:
    """The window of consecutive sentences (≤ ``max_words`` words) covering the most query-term
    weight (``terms``: folded term → weight, e.g. idf), highlighted. Falls back to the start."""
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        return ""
    full_len = len(text)
    text = text[:SNIPPET_SCAN_CHARS]
    spans = _sentences(text)
    # the folded tokens of each sentence: one pass over the text, each distinct word folded once
    toks: list[list[str]] = [[] for _ in spans]
    i = 0
    for m in TOKEN_RE.finditer(text):
        while i + 1 < len(spans) and m.start() >= spans[i + 1][0]:
            i += 1
        toks[i].append(_fold_tok(m.group(0)))
    lens = [len(t) for t in toks]
    hits = [{t for t in ts if t in terms} for ts in toks]  # the query terms each sentence holds
    best, best_score = (0, 1), -1.0
    for i in range(len(spans)):
        seen: set[str] = set()
        words = 0
        score = 0.0
        for j in range(i, len(spans)):
            if j > i and words + lens[j] > max_words:
                break
            words += lens[j]
            for t in hits[j] - seen:
                seen.add(t)
                score += terms[t]
            if score > best_score + 1e-9:
                best, best_score = (i, j + 1), score
    a, b = spans[best[0]][0], spans[best[1] - 1][1]
    window = text[a:b]
    words = window.split()
    prefix = "… " if a > 0 else ""
    suffix = " …" if b < full_len else ""
    if len(words) > max_words:  # one very long sentence: cut around the first match
        ftoks = [_fold_tok(w) for w in words]
        first = next((i for i, w in enumerate(ftoks) if any(t in terms for t in TOKEN_RE.findall(w))), 0)
        start = max(0, first - max_words // 3)
        window = " ".join(words[start : start + max_words])
        prefix = "… " if a > 0 or start > 0 else ""
        suffix = " …"
    return html.escape(prefix) + highlight(window, set(terms)) + html.escape(suffix)
