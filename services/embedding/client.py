"""Typed client of the embedding service (in process via ASGI, or over HTTP)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.common.client import ServiceClient
from services.common.errors import Problem

BATCH = 256


class EmbeddingClient(ServiceClient):
    async def info(self) -> dict[str, Any]:
        return await self.get_json("/v1/info")

    async def embed(
        self, texts: Sequence[str], kind: str = "passage", *, encoding: str = "base64", batch: int = BATCH
    ) -> np.ndarray:
        """(n, dim) float32, L2-normalised. Large lists are sent in batches of ``batch``.

        ``encoding="base64"`` (default) ships raw float32; ``"float"`` uses JSON float lists.
        """
        texts = list(texts)
        parts: list[np.ndarray] = []
        dim = None
        for start in range(0, max(len(texts), 1), batch):
            chunk = texts[start : start + batch]
            body = await self.post_json(
                "/v1/embed", {"texts": chunk, "kind": kind, "encoding": encoding}, idempotent=True
            )
            dim = int(body["dim"])
            if encoding == "base64":
                arr = np.frombuffer(base64.b64decode(body["vectors_b64"]), dtype="<f4")
            else:
                arr = np.asarray(body.get("vectors") or [], dtype=np.float32)
            arr = arr.reshape(len(chunk), dim) if len(chunk) else np.zeros((0, dim), dtype=np.float32)
            if arr.shape[0] != len(chunk):
                raise Problem(
                    502,
                    "Dịch vụ embedding trả về sai số lượng vector.",
                    "The embedding service returned the wrong number of vectors.",
                    service=self.name,
                )
            parts.append(arr.astype(np.float32, copy=False))
        return np.concatenate(parts) if parts else np.zeros((0, dim or 0), dtype=np.float32)
