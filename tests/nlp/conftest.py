"""Real Vietnamese text for the nlp tests (vntc news, from ../shared/data), sampled once per session."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from nlp.restore import DiacriticRestorer
from nlp.sentences import split_sentences

SEED = 20261125
TRAIN_DOCS = 1500
HELD_OUT_SENTENCES = 300


def _read(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


@pytest.fixture(scope="session")
def vntc_train(shared_data: Path) -> list[str]:
    docs = _read(shared_data / "vntc" / "train.jsonl.gz")
    random.Random(SEED).shuffle(docs)
    return docs[:TRAIN_DOCS]


@pytest.fixture(scope="session")
def vntc_test(shared_data: Path) -> list[str]:
    docs = _read(shared_data / "vntc" / "test.jsonl.gz")
    random.Random(SEED).shuffle(docs)
    return docs


@pytest.fixture(scope="session")
def held_out_sentences(vntc_test: list[str]) -> list[str]:
    """300 sentences of 5-25 words from the vntc test collection (a different source from train)."""
    sentences = [s for doc in vntc_test[:250] for s in split_sentences(doc) if 5 <= len(s.split()) <= 25]
    return random.Random(SEED).sample(sentences, HELD_OUT_SENTENCES)


@pytest.fixture(scope="session")
def restorer(vntc_train: list[str]) -> DiacriticRestorer:
    return DiacriticRestorer().fit(vntc_train)
