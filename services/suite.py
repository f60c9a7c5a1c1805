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
from services.common.client import ServiceClient
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


def _core_factories(settings: Settings) -> dict[str, Callable[[], FastAPI]]:
    """Builders of the in-process service apps, imported lazily so a remote service costs nothing."""

    def nlp() -> FastAPI:
        from services.nlp.app import create_app

        return create_app(restorer_path=settings.data_dir / "nlp" / "restorer.npz")

    def catalog() -> FastAPI:
        from catalog.store import CatalogStore
        from services.catalog.app import create_app

        return create_app(CatalogStore(settings.db_url))

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

        enc = _encoder() if settings.embedding_url is None else None
        if enc is None:
            raise RuntimeError("the embedded search service needs the embedding model id; run embedding in process")
        index = SearchIndex.open(
            settings.index_dir, enc.model_id, enc.dim, hnsw_threshold=settings.dense_hnsw_threshold
        )
        return create_app(index)

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

    return create_app_from_settings(settings)


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
    for name, client_type in types.items():
        url = getattr(settings, f"{name}_url")
        if url:
            suite.clients[name] = client_type(name, base_url=url, timeout=settings.service_timeout_s)
            continue
        app = factories[name]() if name in factories else _DEPENDENT[name](settings, suite.clients)
        suite.apps[name] = app
        suite.clients[name] = client_type(name, app=app, timeout=settings.service_timeout_s)
    return suite


def single_service_app(name: str, settings: Settings) -> FastAPI:
    """One service on its own (distributed topology): ``thuvien serve search`` and the like."""
    factories = _core_factories(settings)
    if name not in factories:
        from importlib import import_module

        module = import_module(f"services.{name}.app")
        return module.create_app_from_settings(settings)
    return factories[name]()
