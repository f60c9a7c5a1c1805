"""The composition root: which service clients the gateway gets, in process or over HTTP.

Embedded topology (default): every service app is built here, in this process, over the data dir,
and each client talks to its app through ASGI. Distributed topology: a service whose URL is set
(THUVIEN_<SERVICE>_URL) is reached over HTTP instead. The gateway sees only the clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI

from services.catalog.client import CatalogClient
from services.common.client import ServiceClient, client_options
from services.common.settings import Settings
from services.embedding.client import EmbeddingClient
from services.nlp.client import NlpClient
from services.search.client import SearchClient

log = logging.getLogger("thuvien.suite")


@dataclass
class Suite:
    settings: Settings
    clients: dict[str, ServiceClient] = field(default_factory=dict)
    apps: dict[str, FastAPI] = field(default_factory=dict)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def unavailable_as_503(app: FastAPI, exc_type: type[Exception], service: str, what_vi: str, what_en: str) -> FastAPI:
    """``exc_type`` raised by a store that does not answer (down at start or lost later) becomes a 503
    problem+json naming the service, with Retry-After; never a 500 or a crash (the store logged its URL,
    without a password)."""
    from services.common.errors import Problem, problem_response

    @app.exception_handler(exc_type)
    async def _unavailable(request, exc):  # noqa: ANN001, ANN202
        return problem_response(
            request,
            Problem(
                503,
                f"{what_vi} của dịch vụ '{service}' tạm thời không truy cập được; hãy thử lại sau.",
                f"The {what_en} of the '{service}' service is unreachable for now; try again later.",
                headers={"Retry-After": "5"},
                service=service,
            ),
        )

    return app


def store_errors_as_503(app: FastAPI, service: str) -> FastAPI:
    """The service's database (SQLite or PostgreSQL) not answering: a 503 naming the service."""
    from migrations import StoreUnavailable

    return unavailable_as_503(app, StoreUnavailable, service, "Cơ sở dữ liệu", "database")


def vector_store_errors_as_503(app: FastAPI) -> FastAPI:
    """A Qdrant that does not answer makes searches and upserts a 503 naming the search service
    (lexical search needs no vectors: callers may retry without ``vector``)."""
    from search.vectors import VectorStoreUnavailable

    return unavailable_as_503(app, VectorStoreUnavailable, "search", "Kho vector (Qdrant)", "vector store (Qdrant)")


def vector_config(settings: Settings):
    """The search index's vector backend from the settings (THUVIEN_VECTOR_BACKEND, THUVIEN_QDRANT_*)."""
    from search.vectors import VectorConfig

    return VectorConfig(
        backend=settings.vector_backend,
        hnsw_threshold=settings.dense_hnsw_threshold,
        qdrant_url=settings.qdrant_url,
        qdrant_path=None if settings.qdrant_url else str(settings.qdrant_dir),
        collection_prefix=settings.qdrant_collection_prefix,
        batch_size=settings.qdrant_batch_size,
        replication_factor=settings.qdrant_replication_factor,
        timeout_s=settings.service_timeout_s,
    )


def _core_factories(settings: Settings) -> dict[str, Callable[[], FastAPI]]:
    """Builders of the in-process service apps, imported lazily so a remote service costs nothing."""

    def nlp() -> FastAPI:
        from services.nlp.app import create_app

        return create_app(restorer_path=settings.data_dir / "nlp" / "restorer.npz")

    def catalog() -> FastAPI:
        from catalog.store import CatalogStore
        from services.catalog.app import create_app

        return store_errors_as_503(create_app(CatalogStore(settings.db_url)), "catalog")

    encoder_holder: dict[str, object] = {}

    def _encoder():
        if "encoder" not in encoder_holder:
            from embeddings.cache import CachedEncoder
            from embeddings.factory import get_encoder

            # Cached, so that a re-run of a stopped ingest or a re-index does not embed a text twice.
            encoder = get_encoder(settings.embedding_backend, settings.models_dir)
            encoder_holder["encoder"] = CachedEncoder(encoder, settings.cache_dir, cache_queries=False)
        return encoder_holder["encoder"]

    def embedding() -> FastAPI:
        from services.embedding.app import create_app

        return create_app(_encoder())

    def search() -> FastAPI:
        from search import SearchIndex
        from services.search.app import create_app

        if settings.embedding_url is None:
            enc = _encoder()
            model_id, dim = enc.model_id, enc.dim
        else:  # embedding runs elsewhere: the same model manifest names the model, no weights loaded
            from embeddings.factory import describe

            model_id, dim = describe(settings.embedding_backend, settings.models_dir)
        index = SearchIndex.open(
            settings.index_dir,
            model_id,
            dim,
            hnsw_threshold=settings.dense_hnsw_threshold,
            vectors=vector_config(settings),
        )
        return vector_store_errors_as_503(create_app(index))

    return {"nlp": nlp, "catalog": catalog, "embedding": embedding, "search": search}


_CLIENT_TYPES: dict[str, type[ServiceClient]] = {
    "nlp": NlpClient,
    "catalog": CatalogClient,
    "embedding": EmbeddingClient,
    "search": SearchClient,
}


def _qa_app(settings: Settings, clients: dict[str, ServiceClient]) -> FastAPI:
    from services.qa.app import create_app

    embedding = clients["embedding"]

    async def embed_query(text: str):
        return (await embedding.embed([text], "query"))[0]

    return create_app(
        search_client=clients["search"],
        embed_query=embed_query,
        llm_url=settings.llm_url,
        llm_model=settings.llm_model,
        llm_timeout_s=settings.llm_timeout_s,
        language=settings.language,
    )


def _recommender_app(settings: Settings, clients: dict[str, ServiceClient]) -> FastAPI:
    from services.recommender.app import create_app_from_settings

    return store_errors_as_503(create_app_from_settings(settings), "recommender")


def _subjects_app(settings: Settings, clients: dict[str, ServiceClient]) -> FastAPI:
    from services.subjects.app import create_app

    return create_app(
        settings.data_dir,
        models_dir=settings.models_dir,
        cache_dir=settings.cache_dir,
        embedding_backend=settings.embedding_backend,
    )


def _client_types() -> dict[str, type[ServiceClient]]:
    from services.qa.client import QaClient
    from services.recommender.client import RecommenderClient
    from services.subjects.client import SubjectsClient

    return {**_CLIENT_TYPES, "qa": QaClient, "recommender": RecommenderClient, "subjects": SubjectsClient}


# Services built on the core ones: (name, app builder given the clients built so far).
_DEPENDENT = {"qa": _qa_app, "recommender": _recommender_app, "subjects": _subjects_app}


def build_suite(settings: Settings) -> Suite:
    suite = Suite(settings)
    factories = _core_factories(settings)
    types = _client_types()
    options = client_options(settings)  # timeouts, retries of idempotent calls, circuit breaker
    for name, client_type in types.items():
        url = getattr(settings, f"{name}_url")
        if url:
            # A wrong URL is logged by the client, and the features that need the service answer 503.
            suite.clients[name] = client_type(name, base_url=url, **options)
            continue
        app = factories[name]() if name in factories else _DEPENDENT[name](settings, suite.clients)
        suite.apps[name] = app
        suite.clients[name] = client_type(name, app=app, **options)
    return suite


def remote_clients(clients: dict[str, ServiceClient]) -> dict[str, ServiceClient]:
    """The clients that reach their service over HTTP (distributed topology)."""
    return {name: c for name, c in clients.items() if c.base_url is not None}


# What a dependent service calls when it runs on its own.
_NEEDS = {"qa": ("search", "embedding")}


def single_service_app(name: str, settings: Settings) -> FastAPI:
    """One service on its own (distributed topology): ``thuvien serve search`` and the like. A
    dependent service reaches the services it needs at their ``THUVIEN_<SERVICE>_URL``."""
    factories = _core_factories(settings)
    if name in factories:
        return factories[name]()
    if name not in _DEPENDENT:
        raise ValueError(f"unknown service {name!r}; one of: {', '.join([*factories, *_DEPENDENT])}")
    missing = [f"THUVIEN_{n.upper()}_URL" for n in _NEEDS.get(name, ()) if not getattr(settings, f"{n}_url")]
    if missing:
        raise ValueError(f"thuvien serve {name} needs {', '.join(missing)} (where those services run)")
    types = _client_types()
    options = client_options(settings)
    clients = {n: types[n](n, base_url=getattr(settings, f"{n}_url"), **options) for n in _NEEDS.get(name, ())}
    return _DEPENDENT[name](settings, clients)
