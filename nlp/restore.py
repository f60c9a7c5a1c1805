"""Diacritic restoration learnt from the collection's own text.

A query typed without marks ("lich su bac giang") is turned back into Vietnamese ("lịch sử Bắc
Giang"): every folded syllable has a few accented candidates seen in the collection, and a Viterbi
search over them picks the sequence that a syllable trigram language model (Jelinek–Mercer
interpolation of trigram, bigram and unigram relative frequencies, learnt from the same text) likes
best. Syllables the user already accented are kept; syllables never seen are kept as typed.
Capitalisation comes from the user when they typed capitals, otherwise from how the collection
writes that syllable next to its neighbours (so "giang" after "bắc" becomes "Giang").

Only lines that are written with diacritics teach the model (text typed without marks, or English,
would teach it wrong mappings); only Vietnamese-shaped syllables enter the n-grams, anything else is
a boundary. Counts live in sorted numpy arrays (12–28 bytes per n-gram); new text goes to small dicts
merged in batches; rare n-grams are pruned above ``max_bigrams`` / ``max_trigrams``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from nlp.fold import fold_normalized
from nlp.normalize import is_syllable, normalize
from nlp.tokenize import TOKEN_RE

__all__ = ["DiacriticRestorer"]

_SHIFT = 21
_MAX_VOCAB = 1 << _SHIFT
UNK, BOS, EOS = 0, 1, 2
PENDING = -1  # a syllable-shaped token not yet in the vocabulary
_SPECIALS = ["<unk>", "<s>", "</s>"]
_FORMAT = "thuvien-restorer-1"

# Splits a line into [gap, token, gap, token, ..., gap].
_SPLIT_RE = re.compile(r"([^\W_](?:[^\W_]|[\u0300-\u036f])*)")
# A gap between two tokens that contains one of these starts a new sentence (case statistics).
_SENTENCE_GAP_RE = re.compile(r"[.!?:;\"“”'(\[…–—\-•*]")


def _plain_gap(gap: str) -> bool:
    return gap == " " or gap.isspace()


def _new_keys(keys: np.ndarray, delta: dict[int, object]) -> int:
    """How many keys of ``delta`` are not in the sorted array ``keys``."""
    if not delta:
        return 0
    d = np.fromiter(delta.keys(), dtype=np.int64, count=len(delta))
    if keys.size == 0:
        return int(d.size)
    idx = np.minimum(np.searchsorted(keys, d), keys.size - 1)
    return int((keys[idx] != d).sum())


def _sum_by_key(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys and the sum of ``vals`` (1-D, or 2-D by rows) for each."""
    if keys.size == 0:
        return keys.astype(np.int64), vals.astype(np.int64)
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(vals, starts, axis=0)


UNACCENTED_RUN = 3


def drop_unaccented_runs(lowers: list[str], ids: list[int], min_run: int = UNACCENTED_RUN) -> list[int]:
    """Inside a line written with diacritics, a run of ``min_run`` or more syllables without any (a search
    typed as an example, an English phrase) teaches nothing: those tokens become UNK, which also breaks
    the n-gram chain there. Real Vietnamese text rarely has such runs; typed-without-diacritics text does."""
    out = list(ids)
    i, n = 0, len(ids)
    while i < n:
        j = i
        while j < n and ids[j] != UNK and lowers[j].isascii():
            j += 1
        if j - i >= min_run:
            out[i:j] = [UNK] * (j - i)
        i = max(j, i + 1)
    return out


class DiacriticRestorer:
    """Folded → accented restoration with a syllable trigram LM learnt from the collection.

    ``fit(texts)`` learns from scratch, ``update(texts)`` adds text (new records), ``restore(q)``
    returns the restored query, ``suggestion(q)`` the "did you mean" text or None, ``save(path)`` /
    ``load(path)`` persist it (atomic write, numpy ``.npz``, no pickle).
    """

    def __init__(
        self,
        *,
        max_candidates: int = 8,
        min_candidate_share: float = 0.001,
        lambdas: tuple[float, float, float] = (0.05, 0.35, 0.6),
        max_bigrams: int = 2_000_000,
        max_trigrams: int = 4_000_000,
        min_diacritic_share: float = 0.25,
        merge_every: int = 100_000,
    ) -> None:
        self.max_candidates = max_candidates
        self.min_candidate_share = min_candidate_share
        self.lambdas = lambdas
        self.max_bigrams = max_bigrams
        self.max_trigrams = max_trigrams
        self.min_diacritic_share = min_diacritic_share
        self.merge_every = merge_every
        self._lock = threading.RLock()
        self._reset()

    # ------------------------------------------------------------------ state
    def _reset(self) -> None:
        self.vocab: list[str] = list(_SPECIALS)
        self._ids: dict[str, int] = {}
        self._fold_of: list[str] = ["", "", ""]
        self._uni = np.zeros(1024, dtype=np.int64)
        self._total = 0
        self._ucap = np.zeros(1024, dtype=np.int64)  # capitalised, where case is informative
        self._useen = np.zeros(1024, dtype=np.int64)  # occurrences where case is informative
        self._bi_keys = np.zeros(0, dtype=np.int64)
        self._bi_vals = np.zeros((0, 5), dtype=np.int32)  # count, left cap, left seen, right cap, right seen
        self._tri_keys = np.zeros(0, dtype=np.int64)
        self._tri_vals = np.zeros(0, dtype=np.int32)
        self._bi_delta: dict[int, list[int]] = {}
        self._tri_delta: dict[int, int] = {}
        self._cands: dict[str, list[int]] | None = None
        self._shape_cache: dict[str, bool] = {}
        self._restore_cache: dict[str, str] = {}
        self.lines_learnt = 0
        self.lines_skipped = 0

    @property
    def total(self) -> int:
        """Number of syllable tokens learnt."""
        return self._total

    def __len__(self) -> int:
        """Number of distinct accented syllables known."""
        return len(self.vocab) - len(_SPECIALS)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "syllables": len(self),
                "tokens": self.total,
                "bigrams": self._bi_keys.size + _new_keys(self._bi_keys, self._bi_delta),
                "trigrams": self._tri_keys.size + _new_keys(self._tri_keys, self._tri_delta),
                "lines_learnt": self.lines_learnt,
                "lines_skipped": self.lines_skipped,
            }

    def _shape(self, lower: str) -> int:
        """PENDING if ``lower`` may become a vocabulary syllable, UNK if it never will (cached)."""
        ok = self._shape_cache.get(lower)
        if ok is None:
            ok = lower.isalpha() and len(lower) <= 8 and is_syllable(lower)
            if len(self._shape_cache) > 500_000:
                self._shape_cache.clear()
            self._shape_cache[lower] = ok
        return PENDING if ok else UNK

    def _add(self, lower: str) -> int:
        """Vocabulary id of a syllable-shaped lower-case token, added if new."""
        tid = self._ids.get(lower)
        if tid is not None:
            return tid
        if len(self.vocab) >= _MAX_VOCAB:
            return UNK
        tid = len(self.vocab)
        self.vocab.append(lower)
        self._ids[lower] = tid
        self._fold_of.append(fold_normalized(lower))
        self._cands = None
        if tid >= self._uni.size:
            grow = self._uni.size * 2
            for name in ("_uni", "_ucap", "_useen"):
                arr = getattr(self, name)
                new = np.zeros(grow, dtype=np.int64)
                new[: arr.size] = arr
                setattr(self, name, new)
        return tid

    # ------------------------------------------------------------------ learning
    def fit(self, texts: Iterable[str]) -> DiacriticRestorer:
        """Learn from scratch from ``texts`` (titles, summaries, full-text passages…)."""
        with self._lock:
            self._reset()
            self._learn(texts)
            self._merge()
        return self

    def update(self, texts: Iterable[str]) -> DiacriticRestorer:
        """Add ``texts`` to what was learnt (incremental; for newly imported records). The texts are
        normalised before the lock is taken, so queries wait only for the counting."""
        normalized = [normalize(t) for t in texts if t]
        with self._lock:
            self._learn(normalized, normalized=True)
            if len(self._tri_delta) + len(self._bi_delta) >= self.merge_every:
                self._merge()
        return self

    def _learn(self, texts: Iterable[str], *, normalized: bool = False) -> None:
        ids: list[int] = []
        brk: list[bool] = []  # a chain must start before this token (line start or punctuation)
        caps: list[int] = []  # 1 capitalised, 0 lower, -1 not informative
        batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for text in texts:
            if not text:
                continue
            for line in (text if normalized else normalize(text)).split("\n"):
                self._learn_line(line, ids, brk, caps)
            if len(ids) >= 1_000_000:
                batches.append(self._count(ids, brk, caps))
                ids, brk, caps = [], [], []
        if ids:
            batches.append(self._count(ids, brk, caps))
        if batches:
            new_keys = sum(b[0].size + b[2].size for b in batches)
            if new_keys > 50_000 or len(batches) > 1 or self._bi_keys.size == 0:
                self._merge(batches)
            else:
                self._to_delta(*batches[0])
        self._cands = None
        self._restore_cache.clear()

    def _learn_line(self, line: str, ids: list[int], brk: list[bool], caps: list[int]) -> None:
        parts = _SPLIT_RE.split(line)  # [gap, token, gap, token, ..., gap]
        if len(parts) < 3:
            return
        toks = parts[1::2]
        gaps = parts[0:-1:2]  # the gap before each token
        lowers = [t.lower() for t in toks]
        get = self._ids.get
        line_ids = [c if (c := get(t)) is not None else self._shape(t) for t in lowers]
        shaped = len(line_ids) - line_ids.count(UNK)
        if not shaped:
            return
        marked = sum(1 for t, i in zip(lowers, line_ids, strict=True) if i and not t.isascii())
        if marked == 0 or marked < self.min_diacritic_share * shaped:
            self.lines_skipped += 1
            return
        self.lines_learnt += 1
        line_ids = drop_unaccented_runs(lowers, line_ids)
        if PENDING in line_ids:
            line_ids = [self._add(t) if i == PENDING else i for t, i in zip(lowers, line_ids, strict=True)]
        search = _SENTENCE_GAP_RE.search
        plain = [g == " " for g in gaps]
        plain[0] = False
        ids.extend(line_ids)
        brk.extend([not p and not g.isspace() for p, g in zip(plain, gaps, strict=False)])
        brk[len(ids) - len(line_ids)] = True
        first = len(caps)
        caps.extend(
            [
                -1 if (not p and search(g)) or (len(t) > 1 and t.isupper()) else (1 if t[0].isupper() else 0)
                for p, g, t in zip(plain, gaps, toks, strict=False)
            ]
        )
        if not gaps[0].strip() or search(gaps[0]):
            caps[first] = -1  # the first word of a line is capitalised whatever it is

    def _count(
        self, ids: list[int], brk: list[bool], caps: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Count unigrams (in place) and return this batch's bigram and trigram counts.

        Tokens are laid out as chains ``<s> w1 … wn </s>``: a chain ends at punctuation, at a line end
        and at any token that is not a Vietnamese syllable (UNK)."""
        tok = np.asarray(ids, dtype=np.int64)
        cap = np.asarray(caps, dtype=np.int64)
        b = np.asarray(brk, dtype=bool)
        valid = tok != UNK
        prev_invalid = np.r_[True, ~valid[:-1]]
        next_break = np.r_[b[1:] | ~valid[1:], True]
        start = valid & (b | prev_invalid)
        end = valid & next_break
        width = valid.astype(np.int64) * (1 + start + end)
        pos = np.cumsum(width) - width
        size = int(width.sum())
        s = np.full(size, EOS, dtype=np.int64)
        c = np.full(size, -1, dtype=np.int64)
        s[pos[start]] = BOS
        tpos = (pos + start)[valid]
        s[tpos] = tok[valid]
        c[tpos] = cap[valid]
        np.add.at(self._uni, s, 1)
        self._total += int(valid.sum())
        np.add.at(self._useen, s[c >= 0], 1)
        np.add.at(self._ucap, s[c == 1], 1)
        # bigrams (never across a chain end), with the case of each side where it is informative
        a, bb = s[:-1], s[1:]
        ok = a != EOS
        keys = (a[ok] << _SHIFT) | bb[ok]
        ca, cb = c[:-1][ok], c[1:][ok]
        vals = np.stack([np.ones_like(keys), ca == 1, ca >= 0, cb == 1, cb >= 0], axis=1).astype(np.int64)
        bk, bv = _sum_by_key(keys, vals)
        # trigrams
        x, y, z = s[:-2], s[1:-1], s[2:]
        ok3 = (x != EOS) & (y != EOS)
        tkeys = (x[ok3] << (2 * _SHIFT)) | (y[ok3] << _SHIFT) | z[ok3]
        tk, tv = _sum_by_key(tkeys, np.ones_like(tkeys))
        return bk, bv, tk, tv

    def _to_delta(self, bk: np.ndarray, bv: np.ndarray, tk: np.ndarray, tv: np.ndarray) -> None:
        d = self._bi_delta
        for k, v in zip(bk.tolist(), bv.tolist(), strict=False):
            cur = d.get(k)
            if cur is None:
                d[k] = v
            else:
                for j in range(5):
                    cur[j] += v[j]
        t = self._tri_delta
        for k, v in zip(tk.tolist(), tv.tolist(), strict=False):
            t[k] = t.get(k, 0) + v

    def _merge(self, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] | None = None) -> None:
        """Fold the delta dicts and new batches into the sorted arrays, pruning rare n-grams."""
        batches = batches or []
        bks = [self._bi_keys] + [b[0] for b in batches]
        bvs = [self._bi_vals.astype(np.int64)] + [b[1] for b in batches]
        tks = [self._tri_keys] + [b[2] for b in batches]
        tvs = [self._tri_vals.astype(np.int64)] + [b[3] for b in batches]
        if self._bi_delta:
            bks.append(np.fromiter(self._bi_delta.keys(), dtype=np.int64, count=len(self._bi_delta)))
            bvs.append(np.array(list(self._bi_delta.values()), dtype=np.int64).reshape(-1, 5))
        if self._tri_delta:
            tks.append(np.fromiter(self._tri_delta.keys(), dtype=np.int64, count=len(self._tri_delta)))
            tvs.append(np.fromiter(self._tri_delta.values(), dtype=np.int64, count=len(self._tri_delta)))
        if len(bks) > 1:
            keys, vals = _sum_by_key(np.concatenate(bks), np.concatenate(bvs))
            keys, vals = self._prune(keys, vals, self.max_bigrams, vals[:, 0])
            self._bi_keys, self._bi_vals = keys, vals.astype(np.int32)
        if len(tks) > 1:
            keys, vals = _sum_by_key(np.concatenate(tks), np.concatenate(tvs))
            keys, vals = self._prune(keys, vals, self.max_trigrams, vals)
            self._tri_keys, self._tri_vals = keys, vals.astype(np.int32)
        self._bi_delta = {}
        self._tri_delta = {}
        self._restore_cache.clear()

    @staticmethod
    def _prune(keys: np.ndarray, vals: np.ndarray, cap: int, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if keys.size <= cap:
            return keys, vals
        threshold = 2
        while True:
            keep = counts >= threshold
            if keep.sum() <= cap:
                return keys[keep], vals[keep]
            threshold += 1

    # ------------------------------------------------------------------ candidates and lookups
    def _candidates(self) -> dict[str, list[int]]:
        if self._cands is None:
            groups: dict[str, list[int]] = {}
            for tid in range(len(_SPECIALS), len(self.vocab)):
                if self._uni[tid] > 0:
                    groups.setdefault(self._fold_of[tid], []).append(tid)
            uni = self._uni
            for key, ids in groups.items():
                ids.sort(key=lambda t: -int(uni[t]))
                floor = int(uni[ids[0]]) * self.min_candidate_share
                groups[key] = [t for t in ids[: self.max_candidates] if uni[t] >= floor]
            self._cands = groups
        return self._cands

    def _bi_lookup(self, keys: np.ndarray, col: int = 0, *, dedupe: bool = True) -> np.ndarray:
        if dedupe and keys.size > 64:  # sorted, distinct needles: fewer, cache-friendlier binary searches
            uniq, inv = np.unique(keys, return_inverse=True)
            return self._bi_lookup(uniq, col, dedupe=False)[inv]
        out = np.zeros(keys.size, dtype=np.int64)
        if self._bi_keys.size:
            idx = np.searchsorted(self._bi_keys, keys)
            idx[idx >= self._bi_keys.size] = 0
            hit = self._bi_keys[idx] == keys
            out[hit] = self._bi_vals[idx[hit], col]
        if self._bi_delta:
            d = self._bi_delta
            for i, k in enumerate(keys.tolist()):
                v = d.get(k)
                if v is not None:
                    out[i] += v[col]
        return out

    def _tri_lookup(self, keys: np.ndarray, *, dedupe: bool = True) -> np.ndarray:
        if dedupe and keys.size > 64:
            uniq, inv = np.unique(keys, return_inverse=True)
            return self._tri_lookup(uniq, dedupe=False)[inv]
        out = np.zeros(keys.size, dtype=np.int64)
        if self._tri_keys.size:
            idx = np.searchsorted(self._tri_keys, keys)
            idx[idx >= self._tri_keys.size] = 0
            hit = self._tri_keys[idx] == keys
            out[hit] = self._tri_vals[idx[hit]]
        if self._tri_delta:
            d = self._tri_delta
            for i, k in enumerate(keys.tolist()):
                v = d.get(k)
                if v:
                    out[i] += v
        return out

    def _log_prob(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """log P(w | u, v), element-wise over equal-length id arrays.

        Jelinek–Mercer interpolation of trigram, bigram and (add-0.1 smoothed) unigram relative
        frequencies; a level whose context was never seen drops out and the weights are renormalised."""
        l1, l2, l3 = self.lambdas
        uni = self._uni
        n = u.size
        p1 = (uni[w] + 0.1) / (max(1, self._total) + 0.1 * len(self.vocab))
        uv = (u << _SHIFT) | v
        bi = self._bi_lookup(np.concatenate([(v << _SHIFT) | w, uv])).astype(np.float64)
        vw_count, uv_count = bi[:n], bi[n:]
        uvw_count = self._tri_lookup((uv << _SHIFT) | w).astype(np.float64)
        v_count = uni[v].astype(np.float64)
        a2 = np.where(v_count > 0, l2, 0.0)
        a3 = np.where(uv_count > 0, l3, 0.0)
        p = l1 * p1 + a2 * vw_count / np.maximum(v_count, 1.0) + a3 * uvw_count / np.maximum(uv_count, 1.0)
        return np.log(p / (l1 + a2 + a3))

    # ------------------------------------------------------------------ decoding
    def _decode(self, cand_lists: list[list[int]]) -> list[int]:
        """Exact second-order Viterbi: the state is the pair (previous, current) syllable. All the
        language-model lookups of the query are done in one batch; returns the chosen ids."""
        n = len(cand_lists)
        if n == 0:
            return []
        cols = [np.array([UNK], dtype=np.int64), np.array([BOS], dtype=np.int64)]
        cols += [np.asarray(c, dtype=np.int64) for c in cand_lists]
        cols.append(np.array([EOS], dtype=np.int64))
        us, vs, ws, shapes = [], [], [], []
        for i in range(2, len(cols)):
            a, b, c = cols[i - 2], cols[i - 1], cols[i]
            shape = (a.size, b.size, c.size)
            shapes.append(shape)
            us.append(np.broadcast_to(a[:, None, None], shape).ravel())
            vs.append(np.broadcast_to(b[None, :, None], shape).ravel())
            ws.append(np.broadcast_to(c[None, None, :], shape).ravel())
        lp_all = self._log_prob(np.concatenate(us), np.concatenate(vs), np.concatenate(ws))
        tensors = []
        start = 0
        for shape in shapes:
            size = shape[0] * shape[1] * shape[2]
            tensors.append(lp_all[start : start + size].reshape(shape))
            start += size
        score = np.zeros((1, 1))
        backs: list[np.ndarray] = []
        for lp in tensors[:-1]:
            total = score[:, :, None] + lp  # (A, B, C)
            back = total.argmax(axis=0)  # (B, C)
            score = np.take_along_axis(total, back[None], axis=0)[0]
            backs.append(back)
        end = score + tensors[-1][:, :, 0]
        ja, jb = np.unravel_index(int(np.argmax(end)), end.shape)
        x = [0] * n
        x[n - 1] = int(jb)
        if n >= 2:
            x[n - 2] = int(ja)
        for i in range(n - 1, 1, -1):
            x[i - 2] = int(backs[i][x[i - 1], x[i]])
        return [cand_lists[i][x[i]] for i in range(n)]

    # ------------------------------------------------------------------ public API
    def restore(self, query: str) -> str:
        """The query with diacritics restored where the collection knows how (normalised text)."""
        text = normalize(query)
        if not text:
            return text
        with self._lock:
            cached = self._restore_cache.get(text)
            if cached is not None:
                return cached
            result = self._restore(text)
            if len(self._restore_cache) > 10_000:
                self._restore_cache.clear()
            self._restore_cache[text] = result
            return result

    def _restore(self, text: str) -> str:
        matches = list(TOKEN_RE.finditer(text))
        if not matches:
            return text
        cands_map = self._candidates()
        pieces: list[str] = []
        out_tokens: dict[int, str] = {}
        # split into chains at punctuation; each chain is decoded on its own
        chains: list[list[int]] = []
        prev_end = 0
        for i, m in enumerate(matches):
            gap = text[prev_end : m.start()]
            if not chains or not _plain_gap(gap):
                chains.append([])
            chains[-1].append(i)
            prev_end = m.end()
        for chain in chains:
            cand_lists: list[list[int]] = []
            restorable: list[bool] = []
            for i in chain:
                tok = matches[i].group(0)
                lower = tok.lower()
                if lower.isascii() and lower.isalpha():
                    cands = cands_map.get(lower)
                    if cands:
                        cand_lists.append(cands)
                        restorable.append(True)
                        continue
                tid = self._ids.get(lower, UNK)
                cand_lists.append([tid])
                restorable.append(False)
            chosen = self._decode(cand_lists)
            pairs = None
            if len(chosen) > 1 and any(
                r and matches[i].group(0).islower() for r, i in zip(restorable, chain, strict=False)
            ):
                ids = np.asarray(chosen, dtype=np.int64)
                pairs = self._bi_rows((ids[:-1] << _SHIFT) | ids[1:]).tolist()
            for j, i in enumerate(chain):
                if restorable[j]:
                    out_tokens[i] = self._cased(matches[i].group(0), chosen, j, pairs)
        prev_end = 0
        for i, m in enumerate(matches):
            pieces.append(text[prev_end : m.start()])
            pieces.append(out_tokens.get(i, m.group(0)))
            prev_end = m.end()
        pieces.append(text[prev_end:])
        return "".join(pieces)

    def _cased(self, typed: str, chosen: list[int], j: int, pairs: list[list[int]] | None) -> str:
        form = self.vocab[chosen[j]]
        if len(typed) > 1 and typed.isupper():
            return form.upper()
        if typed[0].isupper():
            return form[:1].upper() + form[1:]
        # the user typed lower case: follow how the collection writes it next to its neighbours
        cap = seen = 0
        if pairs is not None:
            if j > 0:
                cap += pairs[j - 1][3]
                seen += pairs[j - 1][4]
            if j < len(pairs):
                cap += pairs[j][1]
                seen += pairs[j][2]
        if seen < 2:
            tid = chosen[j]
            cap, seen = int(self._ucap[tid]), int(self._useen[tid])
        if seen >= 2 and cap * 2 > seen:
            return form[:1].upper() + form[1:]
        return form

    def _bi_rows(self, keys: np.ndarray) -> np.ndarray:
        """All five bigram columns (count, left cap, left seen, right cap, right seen) for ``keys``."""
        out = np.zeros((keys.size, 5), dtype=np.int64)
        if self._bi_keys.size:
            idx = np.minimum(np.searchsorted(self._bi_keys, keys), self._bi_keys.size - 1)
            hit = self._bi_keys[idx] == keys
            out[hit] = self._bi_vals[idx[hit]]
        if self._bi_delta:
            for i, k in enumerate(keys.tolist()):
                extra = self._bi_delta.get(k)
                if extra:
                    out[i] += extra
        return out

    def suggestion(self, query: str) -> str | None:
        """The "did you mean" text for a query typed without diacritics, or None when the query
        already has diacritics, when most of it is unknown, or when nothing would change."""
        text = normalize(query)
        if not text or not text.isascii():
            return None
        tokens = [t for t in TOKEN_RE.findall(text.lower()) if t.isalpha()]
        if not tokens:
            return None
        cands = self._candidates()
        known = sum(1 for t in tokens if t in cands)
        if known * 2 < len(tokens):
            return None
        restored = self.restore(text)
        if fold_normalized(restored) != fold_normalized(text) or restored == text:
            return None
        if restored.lower() == text.lower():
            return None  # only case would change
        return restored

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` atomically (temporary file in the same directory, then ``os.replace``)."""
        path = Path(path)
        with self._lock:
            self._merge()
            meta = {
                "format": _FORMAT,
                "max_candidates": self.max_candidates,
                "min_candidate_share": self.min_candidate_share,
                "lambdas": list(self.lambdas),
                "max_bigrams": self.max_bigrams,
                "max_trigrams": self.max_trigrams,
                "min_diacritic_share": self.min_diacritic_share,
                "merge_every": self.merge_every,
                "lines_learnt": self.lines_learnt,
                "lines_skipped": self.lines_skipped,
            }
            n = len(self.vocab)
            # a consistent snapshot; the n-gram arrays are replaced (never changed in place) by merges,
            # so only the unigram arrays need copying, and compression happens outside the lock
            arrays = {
                "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                "vocab": np.frombuffer("\n".join(self.vocab[len(_SPECIALS) :]).encode(), dtype=np.uint8),
                "uni": self._uni[:n].copy(),
                "ucap": self._ucap[:n].copy(),
                "useen": self._useen[:n].copy(),
                "bi_keys": self._bi_keys,
                "bi_vals": self._bi_vals,
                "tri_keys": self._tri_keys,
                "tri_vals": self._tri_vals,
            }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                # an .npz (zip of .npy) written with fast deflate; np.load reads it back without pickle
                with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                    for name, arr in arrays.items():
                        with zf.open(name + ".npy", "w", force_zip64=True) as member:
                            np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DiacriticRestorer:
        """Read a restorer written by :meth:`save` (raises ``ValueError`` on a foreign file)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.get("format") != _FORMAT:
                    raise ValueError(f"{path}: not a thuvien diacritic restorer")
                self = cls(
                    max_candidates=meta["max_candidates"],
                    min_candidate_share=meta.get("min_candidate_share", 0.001),
                    lambdas=tuple(meta["lambdas"]),
                    max_bigrams=meta["max_bigrams"],
                    max_trigrams=meta["max_trigrams"],
                    min_diacritic_share=meta["min_diacritic_share"],
                    merge_every=meta["merge_every"],
                )
                vocab_text = bytes(data["vocab"]).decode()
                words = vocab_text.split("\n") if vocab_text else []
                self.vocab = list(_SPECIALS) + words
                self._ids = {w: i for i, w in enumerate(self.vocab) if i >= len(_SPECIALS)}
                self._fold_of = ["", "", ""] + [fold_normalized(w) for w in words]
                n = len(self.vocab)
                size = max(1024, 1 << math.ceil(math.log2(n + 1)))
                for name in ("uni", "ucap", "useen"):
                    arr = np.zeros(size, dtype=np.int64)
                    arr[:n] = data[name]
                    setattr(self, "_" + name, arr)
                self._bi_keys = data["bi_keys"].astype(np.int64)
                self._bi_vals = data["bi_vals"].astype(np.int32).reshape(-1, 5)
                self._tri_keys = data["tri_keys"].astype(np.int64)
                self._tri_vals = data["tri_vals"].astype(np.int32)
                self._total = int(self._uni[len(_SPECIALS) :].sum())
                self.lines_learnt = int(meta.get("lines_learnt", 0))
                self.lines_skipped = int(meta.get("lines_skipped", 0))
        except (KeyError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: cannot read diacritic restorer ({exc})") from exc
        return self
