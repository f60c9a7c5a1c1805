"""One contract, four vector backends: FAISS flat, FAISS HNSW, Qdrant ``:memory:``, Qdrant ``path=``.

These are unit tests of index MECHANICS (nearest neighbours, removal, masks, filters, persistence,
model checks, bad input), so RANDOM unit vectors stand in for embeddings here and the expected
answer is a numpy brute force over the same vectors; no model quality is asserted anywhere.
Qdrant runs through qdrant-client in local mode (no server, no download).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

import search.qdrant_backend as qb
from catalog.model import Record
from search.dense import DenseIndex
from search.documents import IndexDoc, docs_for_record
from search.filters import Filters
from search.index import SearchIndex
from search.qdrant_backend import QdrantVectors, collection_name, snapshot_collection
from search.results import QueryInput
from search.store import DocStore
from search.vectors import ModelMismatchError, VectorBackend, VectorConfig, doc_payload

DIM = 12
N = 60
MODEL = "test-model"


def unit(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute(vecs: dict[int, np.ndarray], q: np.ndarray, k: int, allowed: np.ndarray | None = None):
    slots = np.array(sorted(s for s in vecs if allowed is None or (s < len(allowed) and allowed[s])), dtype=np.int64)
    if not len(slots):
        return slots, np.zeros(0, np.float32)
    sims = np.stack([vecs[int(s)] for s in slots]) @ q
    top = np.argsort(-sims, kind="stable")[:k]
    return slots[top], sims[top]


def assert_same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    assert got[0].tolist() == want[0].tolist()
    np.testing.assert_allclose(got[1], want[1], atol=1e-4)


@dataclass
class Case:
    name: str
    make: Callable[[str, int], VectorBackend]  # (model_id, dim) -> a fresh backend
    reopen: Callable[[VectorBackend, Path, str, int], VectorBackend]  # after save + commit


def _faiss_case(name: str, threshold: int) -> Callable[[Path], Case]:
    def build(tmp: Path) -> Case:
        return Case(
            name,
            lambda m, d: DenseIndex(m, d, hnsw_threshold=threshold),
            lambda b, directory, m, d: DenseIndex.load(directory, m, d, hnsw_threshold=threshold),
        )

    return build


def _qdrant_memory(tmp: Path) -> Case:
    client = QdrantClient(location=":memory:")

    def make(m: str, d: int) -> VectorBackend:
        return QdrantVectors(client, m, d, batch_size=16)

    def reopen(b: VectorBackend, directory: Path, m: str, d: int) -> VectorBackend:
        # the store lives as long as the client: a new backend object on the same client
        return QdrantVectors.load(client, directory, m, d, batch_size=16)

    return Case("qdrant-memory", make, reopen)


def _qdrant_path(tmp: Path) -> Case:
    config = VectorConfig(backend="qdrant", qdrant_path=str(tmp / "qdrant"), batch_size=16)

    def make(m: str, d: int) -> VectorBackend:
        return QdrantVectors.from_config(config, m, d)

    def reopen(b: VectorBackend, directory: Path, m: str, d: int) -> VectorBackend:
        b.close()  # the last user closes the client: the reopen reads the storage from disk
        assert str((tmp / "qdrant").resolve()) not in qb._clients
        return QdrantVectors.load_config(config, directory, m, d)

    return Case("qdrant-path", make, reopen)


CASES = {
    "faiss-flat": _faiss_case("faiss-flat", 50_000),
    "faiss-hnsw": _faiss_case("faiss-hnsw", 40),  # N = 60 > 40: the index is HNSW
    "qdrant-memory": _qdrant_memory,
    "qdrant-path": _qdrant_path,
}


@pytest.fixture(params=list(CASES))
def case(request, tmp_path) -> Case:
    return CASES[request.param](tmp_path)


@pytest.fixture()
def filled(case):
    backend = case.make(MODEL, DIM)
    vecs = unit(N, 1)
    backend.add(np.arange(N), vecs)
    yield backend, {i: vecs[i] for i in range(N)}
    backend.close()


def test_backends_satisfy_the_protocol(filled, case):
    backend, _ = filled
    assert isinstance(backend, VectorBackend)
    assert backend.size == N
    if case.name == "faiss-hnsw":
        assert backend.kind == "hnsw"


def test_search_returns_the_exact_nearest_neighbours(filled):
    backend, vecs = filled
    for seed in range(8):
        q = unit(1, 100 + seed)[0]
        assert_same(backend.search(q, 10), brute(vecs, q, 10))
    # a stored vector finds itself first with cosine 1
    slots, scores = backend.search(vecs[17], 1)
    assert slots.tolist() == [17] and scores[0] == pytest.approx(1.0, abs=1e-4)
    # k larger than the collection, k = 0
    assert len(backend.search(vecs[0], N + 50)[0]) == N
    assert len(backend.search(vecs[0], 0)[0]) == 0


def test_empty_backend_answers_nothing(case):
    backend = case.make(MODEL, DIM)
    slots, scores = backend.search(unit(1, 0)[0], 5)
    assert len(slots) == 0 and len(scores) == 0 and backend.size == 0
    backend.add([], np.zeros((0, DIM), np.float32))
    assert backend.size == 0
    backend.close()


def test_remove_hides_slots_at_once(filled):
    backend, vecs = filled
    q = vecs[5]
    gone = [5] + list(range(20, 40))
    backend.remove(gone)
    for s in gone:
        del vecs[s]
    assert backend.size == N - len(gone)
    assert_same(backend.search(q, 10), brute(vecs, q, 10))
    backend.remove([5, 999, 10_000])  # already removed and unknown slots are ignored
    assert backend.size == N - len(gone)


def test_adding_an_existing_slot_replaces_its_vector(filled):
    backend, vecs = filled
    new = unit(1, 55)[0]
    backend.add([3], new[None, :])
    vecs[3] = new
    assert backend.size == N
    assert_same(backend.search(new, 5), brute(vecs, new, 5))
    # a removed slot can come back
    backend.remove([4])
    backend.add([4], vecs[4][None, :])
    assert backend.size == N and backend.search(vecs[4], 1)[0].tolist() == [4]


@pytest.mark.parametrize("has_id_max", [10_000, 5], ids=["has-id", "post-filter"])
def test_allowed_mask_is_applied_before_top_k(filled, monkeypatch, has_id_max):
    """With has_id_max=5 Qdrant cannot list the allowed ids: it excludes ids or over-fetches."""
    monkeypatch.setattr(qb, "HAS_ID_MAX", has_id_max)
    backend, vecs = filled
    rng = np.random.default_rng(7)
    for frac in (0.03, 0.3, 0.95):
        mask = rng.random(N) < frac
        q = unit(1, int(frac * 100))[0]
        assert_same(backend.search(q, 10, allowed=mask), brute(vecs, q, 10, mask))
    # slots past the end of the mask are not allowed
    short = np.ones(30, dtype=bool)  # of 60 slots
    got = backend.search(vecs[50], 10, allowed=short)
    assert got[0].max() < 30
    assert_same(got, brute(vecs, vecs[50], 10, short))
    assert len(backend.search(vecs[0], 10, allowed=np.zeros(N, dtype=bool))[0]) == 0


def _docs() -> list[IndexDoc]:
    libs, langs, types = ["tinh", "huyen", "truong"], ["vi", "en", "VI "], ["book", "document", "book"]
    subjects = [["Việt Nam -- Lịch sử"], ["Hà Nội (Việt Nam) -- Địa lý"], [], ["Thơ Việt Nam"]]
    docs = []
    for i in range(N):
        docs.append(
            IndexDoc(
                doc_id=f"{libs[i % 3]}/{i}",
                record_key=f"{libs[i % 3]}/{i}",
                library_id=libs[i % 3],
                record_id=str(i),
                kind="record",
                text=f"tài liệu {i}",
                year=None if i % 7 == 0 else 1950 + i % 60,
                language=langs[i % 5 % 3],
                type=types[i % 4 % 3],
                subjects=subjects[i % 4],
            )
        )
    return docs


FILTERS = [
    Filters(library_id="tinh"),
    Filters(library_id=["huyen", "truong"], language="vi"),
    Filters(language="EN"),
    Filters(year_from=1970, year_to=1990),
    Filters(year_to=1960),
    Filters(type="document", year_from=1955),
    Filters(subject="Việt Nam"),
    Filters(subject="việt nam -- lịch sử", library_id="tinh"),
]


@pytest.mark.parametrize("has_id_max", [10_000, 5], ids=["has-id", "post-filter"])
def test_filters_match_the_docstore_mask(case, monkeypatch, has_id_max):
    """The filters a backend pushes down (Qdrant payload conditions) select what DocStore.mask selects."""
    monkeypatch.setattr(qb, "HAS_ID_MAX", has_id_max)
    docs = _docs()
    store = DocStore()
    for d in docs:
        store.add(d)
    backend = case.make(MODEL, DIM)
    vecs = unit(N, 3)
    backend.add(np.arange(N), vecs, [doc_payload(d) for d in docs])
    by_slot = {i: vecs[i] for i in range(N)}
    everything = np.ones(N, dtype=bool)
    for i, f in enumerate(FILTERS):
        mask = store.mask(f)
        assert 0 < mask.sum() < N, f
        q = unit(1, 200 + i)[0]
        want = brute(by_slot, q, 15, mask)
        assert_same(backend.search(q, 15, allowed=mask, filters=f), want)
        if backend.uses_payloads:  # the pushed-down filter alone selects the same documents
            assert_same(backend.search(q, 15, allowed=everything, filters=f), want)
    backend.close()


def test_save_commit_reopen_keeps_the_same_answers(case, tmp_path):
    backend = case.make(MODEL, DIM)
    vecs = unit(N, 4)
    backend.add(np.arange(N), vecs)
    backend.remove(range(0, N, 3))
    queries = unit(5, 9)
    before = [backend.search(q, 10) for q in queries]
    gen = tmp_path / "gen-000001"
    gen.mkdir()
    backend.save(gen)
    backend.commit()
    again = case.reopen(backend, gen, MODEL, DIM)
    assert again.size == backend.size == N - len(range(0, N, 3))
    for q, b in zip(queries, before, strict=True):
        assert_same(again.search(q, 10), b)
    # the reopened backend keeps taking vectors
    extra = unit(1, 77)
    again.add([N + 5], extra)
    assert again.search(extra[0], 1)[0].tolist() == [N + 5]
    again.close()


def test_reconcile_drops_slots_the_generation_does_not_hold(filled):
    backend, vecs = filled
    alive = np.ones(N - 20, dtype=bool)  # the last 20 slots were added after the generation was saved
    alive[:10] = False  # and 0..9 were removed in it
    report = backend.reconcile(alive)
    assert report == {"removed": 30, "missing": 0}
    assert backend.size == N - 30
    kept = {s: v for s, v in vecs.items() if 10 <= s < N - 20}
    assert_same(backend.search(vecs[N - 5], 10), brute(kept, vecs[N - 5], 10))
    longer = np.ones(N + 5, dtype=bool)
    longer[: N - 20] = alive
    assert backend.reconcile(longer)["missing"] == 25  # 20 dropped + 5 never added


def test_model_mismatch_is_refused(case, tmp_path):
    backend = case.make(MODEL, DIM)
    backend.add(np.arange(5), unit(5, 5))
    with pytest.raises(ModelMismatchError, match="re-index"):
        backend.check_vectors(unit(1, 9), 1, model_id="another-model")
    with pytest.raises(ModelMismatchError, match="dimension 12"):
        backend.add([9], np.ones((1, DIM + 1), np.float32))
    with pytest.raises(ModelMismatchError, match="dimension 12"):
        backend.search(np.ones(DIM - 1, np.float32), 3)
    gen = tmp_path / "gen-000001"
    gen.mkdir()
    backend.save(gen)
    backend.commit()
    with pytest.raises(ModelMismatchError, match="re-index"):
        case.reopen(backend, gen, "another-model", DIM)
    backend.close()


def test_qdrant_collection_of_a_model_with_another_dimension_is_refused():
    client = QdrantClient(location=":memory:")
    QdrantVectors(client, MODEL, DIM).add([1], unit(1, 1))
    with pytest.raises(ModelMismatchError, match="dimension"):
        QdrantVectors(client, MODEL, DIM * 2)
    # another model gets its own collection
    other = QdrantVectors(client, "other-model", DIM * 2)
    assert other.collection != collection_name(MODEL) and other.size == 0


@pytest.mark.parametrize(
    ("row", "value", "message"),
    [
        (3, np.nan, r"vector 3 contains NaN or infinity \(at component 2\)"),
        (0, np.inf, r"vector 0 contains NaN or infinity"),
        (4, 0.0, r"vector 4 is all zeros"),
    ],
)
def test_bad_vectors_raise_a_clear_error_and_change_nothing(filled, row, value, message):
    backend, vecs = filled
    bad = unit(6, 8)
    if value == 0.0:
        bad[row] = 0.0
    else:
        bad[row, 2] = value
    with pytest.raises(ValueError, match=message):
        backend.add(np.arange(N, N + 6), bad)
    assert backend.size == N
    q = unit(1, 1)[0]
    assert_same(backend.search(q, 5), brute(vecs, q, 5))
    with pytest.raises(ValueError, match="NaN"):
        backend.search(np.full(DIM, np.nan, np.float32), 3)


def test_bad_slots_raise_a_clear_error(filled):
    backend, _ = filled
    with pytest.raises(ValueError, match="3 vectors for 2 documents"):
        backend.add([N, N + 1], unit(3, 1))
    with pytest.raises(ValueError, match="slot -1 at position 1 is negative"):
        backend.add([N, -1], unit(2, 1))
    with pytest.raises(ValueError, match=f"slot {N} appears twice"):
        backend.add([N, N], unit(2, 1))
    assert backend.size == N


# ---- SearchIndex on each backend: crash safety ------------------------------------------------------
def q(text: str) -> QueryInput:
    from nlp.fold import fold, has_diacritics
    from nlp.normalize import normalize

    return QueryInput(original=text, normalized=normalize(text), folded=fold(text), has_diacritics=has_diacritics(text))


def _records() -> list[Record]:
    return [
        Record(id=str(i), library_id="tinh", title=t, year=1990 + i, language="vi")
        for i, t in enumerate(["Lịch sử Bắc Giang", "Địa lý Việt Nam", "Truyện Kiều", "Ca dao xứ Kinh Bắc"])
    ]


VECTOR_CONFIGS = {
    "faiss": lambda tmp: VectorConfig(),
    "qdrant-path": lambda tmp: VectorConfig(backend="qdrant", qdrant_path=str(tmp / "qdrant"), batch_size=2),
}


@pytest.mark.parametrize("backend", list(VECTOR_CONFIGS))
def test_search_index_after_a_crash_matches_the_last_saved_generation(tmp_path, backend):
    cfg = VECTOR_CONFIGS[backend](tmp_path)
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    vec_of: dict[str, np.ndarray] = {}
    for i, r in enumerate(_records()):
        docs = docs_for_record(r)
        vec_of[r.key] = unit(1, 300 + i)
        idx.upsert(docs, vec_of[r.key])
    idx.save()
    # after the save: one record removed, one added, one re-imported ... then the process dies
    idx.delete_records(["tinh/0"])
    idx.upsert(docs_for_record(Record(id="9", library_id="tinh", title="Chèo cổ")), unit(1, 999))
    idx.upsert(docs_for_record(_records()[1]), unit(1, 998))
    assert idx.search(q("chèo"), None).total == 1
    idx.close()  # no save: as after a crash

    again = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    assert again.record_count() == 4 and again.dense.size == again.count() == 4
    assert again.search(q("chèo"), None).total == 0
    for key, v in vec_of.items():  # every record of the generation is found by its own vector
        hit = again.search(q("zzz"), v[0], k=1).hits[0]
        assert hit.record_key == key and hit.score > 0
    if backend == "qdrant-path":
        assert again.dense_report["removed"] == 2  # the two vectors upserted after the save
        client = again.dense.client
        assert client.count(again.dense.collection).count == 4
    again.delete_records(["tinh/2"])
    again.save()  # the removal reaches Qdrant only once the generation holding it is current
    if backend == "qdrant-path":
        assert again.dense.client.count(again.dense.collection).count == 3
    assert again.stats()["dense_vectors"] == 3
    again.close()


def test_search_index_filters_reach_qdrant(tmp_path, monkeypatch):
    monkeypatch.setattr(qb, "HAS_ID_MAX", 1)  # force the pushed-down filter + post-filter path
    cfg = VectorConfig(backend="qdrant", qdrant_path=":memory:")
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    recs = _records() + [Record(id="5", library_id="huyen", title="Quan họ", year=2001, language="vi")]
    for i, r in enumerate(recs):
        idx.upsert(docs_for_record(r), unit(1, 400 + i))
    seen = []
    real = idx.dense.search

    def spy(qvec, k, allowed=None, filters=None):
        seen.append(filters)
        return real(qvec, k, allowed=allowed, filters=filters)

    monkeypatch.setattr(idx.dense, "search", spy)
    res = idx.search(q("zzz"), unit(1, 400)[0], k=5, filters=Filters(library_id="huyen"))
    assert [h.record_key for h in res.hits] == ["huyen/5"]
    assert seen[-1] == Filters(library_id="huyen")
    idx.close()


def test_a_faiss_generation_is_copied_into_qdrant_on_open(tmp_path):
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM)
    for i, r in enumerate(_records()):
        idx.upsert(docs_for_record(r), unit(1, 500 + i))
    idx.save()
    cfg = VectorConfig(backend="qdrant", qdrant_path=str(tmp_path / "qdrant"))
    moved = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    assert moved.dense.size == 4 and moved.stats()["dense_missing"] == 0
    assert moved.search(q("zzz"), unit(1, 502)[0], k=1).hits[0].record_key == "tinh/2"
    moved.close()


def test_local_snapshot_is_a_storage_directory_qdrant_opens(tmp_path):
    cfg = VectorConfig(backend="qdrant", qdrant_path=str(tmp_path / "qdrant"))
    backend = QdrantVectors.from_config(cfg, MODEL, DIM)
    vecs = unit(30, 6)
    backend.add(np.arange(30), vecs)
    snap = snapshot_collection(cfg, MODEL, tmp_path / "backup")  # while the client holds the lock
    backend.close()
    copy = QdrantClient(path=str(snap))
    try:
        assert copy.count(collection_name(MODEL)).count == 30
        restored = QdrantVectors(copy, MODEL, DIM)
        assert restored.search(vecs[7], 1)[0].tolist() == [7]
    finally:
        copy.close()
    with pytest.raises(ValueError, match="nothing to back up"):
        snapshot_collection(VectorConfig(backend="qdrant", qdrant_path=":memory:"), MODEL, tmp_path / "b2")


def test_settings_select_the_backend(tmp_path):
    from services.common.settings import Settings
    from services.suite import vector_config

    default = vector_config(Settings(data_dir=tmp_path))
    assert default.backend == "faiss"
    local = vector_config(Settings(data_dir=tmp_path, vector_backend="qdrant"))
    assert local.backend == "qdrant" and local.qdrant_path == str(tmp_path / "qdrant") and local.qdrant_url is None
    remote = vector_config(Settings(data_dir=tmp_path, vector_backend="qdrant", qdrant_url="http://qdrant:6333"))
    assert remote.qdrant_url == "http://qdrant:6333" and remote.qdrant_path is None


def test_a_qdrant_generation_opened_with_faiss_says_what_to_set(tmp_path):
    cfg = VectorConfig(backend="qdrant", qdrant_path=str(tmp_path / "qdrant"))
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    idx.upsert(docs_for_record(_records()[0]), unit(1, 1))
    idx.save()
    idx.close()
    with pytest.raises(ValueError, match="THUVIEN_VECTOR_BACKEND=qdrant"):
        SearchIndex.open(tmp_path / "idx", MODEL, DIM)


def test_a_failed_upsert_leaves_the_index_as_it_was(tmp_path, monkeypatch):
    from qdrant_client.http.exceptions import ResponseHandlingException

    from search.vectors import VectorStoreUnavailable

    cfg = VectorConfig(backend="qdrant", qdrant_path=":memory:", batch_size=1)
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    recs = _records()
    idx.upsert(docs_for_record(recs[0]), unit(1, 600))
    real = idx.dense.client.upsert
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second batch of the next upsert fails after the first was written
            raise ResponseHandlingException(ConnectionError("connection refused"))
        return real(*args, **kwargs)

    monkeypatch.setattr(idx.dense.client, "upsert", flaky)
    two = docs_for_record(recs[1]) + docs_for_record(recs[2])
    with pytest.raises(VectorStoreUnavailable, match="upsert"):
        idx.upsert(two, unit(2, 601))
    assert idx.count() == 1 and idx.dense.size == 1  # nothing of the failed upsert is visible
    assert idx.search(q("Địa lý"), None).total == 0
    assert [h.record_key for h in idx.search(q("zzz"), unit(1, 601)[0], k=5).hits] == ["tinh/0"]
    idx.upsert(two, unit(2, 601))  # the store answers again: the same upsert goes through
    assert idx.count() == 3 and idx.dense.size == 3
    assert idx.search(q("zzz"), unit(2, 601)[1], k=1).hits[0].record_key == "tinh/2"
    idx.save()
    assert idx.dense.client.count(idx.dense.collection).count == 3
    idx.close()


def test_an_unreachable_qdrant_server_is_a_clear_error():
    from search.vectors import VectorStoreUnavailable

    cfg = VectorConfig(backend="qdrant", qdrant_url="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(VectorStoreUnavailable, match="Qdrant opening collection"):
        QdrantVectors.from_config(cfg, MODEL, DIM)


def test_search_service_on_qdrant_answers_503_when_the_store_is_down_and_422_for_bad_vectors(tmp_path, monkeypatch):
    import base64

    from fastapi.testclient import TestClient
    from qdrant_client.http.exceptions import ResponseHandlingException

    from services.search.app import create_app
    from services.suite import vector_store_errors_as_503

    cfg = VectorConfig(backend="qdrant", qdrant_path=":memory:")
    idx = SearchIndex.open(tmp_path / "idx", MODEL, DIM, vectors=cfg)
    idx.upsert(docs_for_record(_records()[0]), unit(1, 1))
    analysis = q("Bắc Giang").model_dump()
    with TestClient(vector_store_errors_as_503(create_app(idx))) as http:
        bad = unit(2, 2)
        bad[1, 5] = np.nan
        docs = [d.model_dump(mode="json") for d in docs_for_record(_records()[1]) + docs_for_record(_records()[2])]
        r = http.post("/v1/upsert", json={"docs": docs, "vectors": base64.b64encode(bad.tobytes()).decode()})
        assert r.status_code == 422 and "vector 1 contains NaN" in r.json()["detail"]

        def down(*args, **kwargs):
            raise ResponseHandlingException(ConnectionError("connection refused"))

        monkeypatch.setattr(idx.dense.client, "query_points", down)
        r = http.post("/v1/search", json={"analysis": analysis, "vector": unit(1, 1)[0].tolist()})
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["service"] == "search" and "Qdrant" in r.json()["detail"]
        r = http.post("/v1/search", json={"analysis": analysis})  # lexical search needs no vector store
        assert r.status_code == 200 and r.json()["hits"][0]["record_key"] == "tinh/0"
    idx.close()
