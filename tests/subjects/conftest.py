"""Shared, session-scoped fixtures: small real subsets of the development data and trained models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from subjects import corpora
from subjects.project import ProjectConfig, ProjectStore

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("THUVIEN_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve()
LEXICAL = [{"backend": "linear"}, {"backend": "knn", "params": {"representation": "tfidf"}}]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"development data missing: {path} (set THUVIEN_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def vinabook_split() -> corpora.Split:
    return corpora.vinabook(_need(DATA / "vinabook" / "books.jsonl"))


@pytest.fixture(scope="session")
def vinabook_small(vinabook_split):
    """1,200 training and 300 test books, every topic represented (a stride through the files)."""
    sp = vinabook_split
    return sp.vocab, sp.train[::4][:1200], sp.test[::4][:300]


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, vinabook_small) -> ProjectStore:
    """A data dir with the vinabook vocabulary and a lexical ensemble project trained on 400 books."""
    vocab, train, _ = vinabook_small
    store = ProjectStore(tmp_path_factory.mktemp("subjects-data"))
    store.put_vocab(vocab)
    store.create(
        ProjectConfig("vinabook-vi", "vinabook", name="Vinabook topics", language="vi", params={"members": LEXICAL})
    )
    store.train("vinabook-vi", train[:400])
    return store
