"""thuvien models finetune: one real training step on a tiny pairs file -> a new checked version."""

from __future__ import annotations

import json

import pytest

from models.finetune import FinetuneError, finetune, read_pairs
from models.manifest import read_current, write_current
from models.parity_data import xquad


def _pairs_file(path, n=8):
    rs = xquad()
    seen, lines = set(), []
    for q, g in zip(rs.queries, rs.gold, strict=True):
        if g not in seen:
            seen.add(g)
            lines.append(json.dumps({"query": q, "passage": rs.passages[g][:400]}, ensure_ascii=False))
        if len(lines) == n:
            break
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_pairs_files_are_named(tmp_path):
    with pytest.raises(FinetuneError, match="does not exist"):
        read_pairs(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "a", "passage": "b"}\n{"query": "", "passage": "c"}\nnot json\n', encoding="utf-8")
    with pytest.raises(FinetuneError, match="line 2.*line 3"):
        read_pairs(bad)
    one = tmp_path / "one.tsv"
    one.write_text("câu hỏi\tđoạn văn\n", encoding="utf-8")
    with pytest.raises(FinetuneError, match="at least 2 pairs"):
        read_pairs(one)


def test_one_step_makes_a_new_version_that_passes_its_own_checks(built, tmp_path, shared_data, monkeypatch):
    # work in a linked copy so a reused data dir is never written to
    from tests.models.test_factory import _linked_copy

    mdir, _ = _linked_copy(built, tmp_path)
    before = read_current(mdir)
    pairs = _pairs_file(tmp_path / "pairs.jsonl")
    result = finetune(pairs, mdir, epochs=1, batch_size=4, max_steps=1, n_texts=24, mrr=False, progress=False)
    m = result.manifest
    assert m.parent == built.manifest.model_version
    assert m.model_version != m.parent and m.model_version.startswith(m.parent + "-ft-")
    assert m.model_id("onnx-int8") != built.manifest.model_id("onnx-int8")
    for name in ("onnx-fp32", "onnx-int8"):
        assert m.backends[name].parity.passed, m.backends[name].parity.failures
        assert m.backends[name].parity.reference.endswith("(torch)")
    assert (result.folder / "onnx" / "model-int8.onnx").is_file()
    assert read_current(mdir) == before  # never made the default by itself
    write_current(mdir, before)
