"""`thuvien serve SERVICE` builds any one service on its own (distributed topology)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from embeddings.factory import describe, get_encoder
from services.common.settings import Settings
from services.suite import single_service_app


def test_search_alone_opens_its_index_with_the_model_of_the_embedding_service(suite_settings: Settings, tmp_path):
    """With THUVIEN_EMBEDDING_URL set, the search service loads no weights: the model manifest names
    the model id its index must hold (the same id the embedding service's encoder carries)."""
    settings = suite_settings.model_copy(update={"data_dir": tmp_path, "embedding_url": "http://127.0.0.1:9"})
    app = single_service_app("search", settings)
    with TestClient(app) as client:
        stats = client.get("/v1/stats").json()
    encoder = get_encoder(settings.embedding_backend, settings.models_dir)
    assert stats["model_id"] == encoder.model_id == describe(settings.embedding_backend, settings.models_dir)[0]
    assert stats["dim"] == encoder.dim


def test_subjects_alone_starts(tmp_path):
    app = single_service_app("subjects", Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200


def test_qa_alone_names_the_services_it_needs(tmp_path):
    with pytest.raises(ValueError, match="THUVIEN_SEARCH_URL.*THUVIEN_EMBEDDING_URL"):
        single_service_app("qa", Settings(data_dir=tmp_path))


def test_unknown_service_is_named():
    with pytest.raises(ValueError, match="unknown service 'lending'"):
        single_service_app("lending", Settings())
