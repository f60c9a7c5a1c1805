import os
from pathlib import Path

import pytest

from nlp.fold import fold
from nlp.normalize import normalize
from nlp.restore import DiacriticRestorer
from nlp.tokenize import TOKEN_RE

# Measured on this split (fit on 1,500 vntc train docs, 300 held-out sentences of the vntc test
# collection): 0.9145 syllable accuracy; the folded input itself scores 0.159 (syllables without marks),
# and the most frequent accented form of each syllable about 0.72 (bench/nlp_quality.py).
ACCURACY_FLOOR = 0.89

SMALL_CORPUS = [
    "Lịch sử Bắc Giang qua các thời kỳ.",
    "Tỉnh Bắc Giang có nhiều di tích lịch sử và văn hóa.",
    "Thư viện tỉnh Bắc Giang mở cửa từ thứ hai đến thứ bảy.",
    "Địa chí Bắc Giang: lịch sử, văn hóa, con người.",
    "Bạn đọc có thể mượn sách tại thư viện.",
]


def syllable_accuracy(restorer: DiacriticRestorer, sentences: list[str]) -> tuple[float, float]:
    total = correct = baseline = 0
    for sentence in sentences:
        gold = TOKEN_RE.findall(normalize(sentence).lower())
        query = fold(sentence)
        pred = TOKEN_RE.findall(restorer.restore(query).lower())
        assert len(pred) == len(gold)
        for g, p, q in zip(gold, pred, TOKEN_RE.findall(query), strict=True):
            if g.isalpha():
                total += 1
                correct += g == p
                baseline += g == q
    return correct / total, baseline / total


def test_restoration_accuracy_on_held_out_text(restorer: DiacriticRestorer, held_out_sentences: list[str]) -> None:
    accuracy, baseline = syllable_accuracy(restorer, held_out_sentences)
    print(f"\nrestoration syllable accuracy {accuracy:.4f} (folded input: {baseline:.4f})")
    assert accuracy >= ACCURACY_FLOOR
    assert accuracy > baseline + 0.5


def test_small_corpus_example_and_capitalisation() -> None:
    r = DiacriticRestorer().fit(SMALL_CORPUS)
    assert r.restore("lich su bac giang") == "lịch sử Bắc Giang"
    assert r.restore("Lich su Bac Giang") == "Lịch sử Bắc Giang"
    assert r.restore("LICH SU") == "LỊCH SỬ"
    assert r.suggestion("lich su bac giang") == "lịch sử Bắc Giang"


def test_keeps_accented_and_unknown_tokens() -> None:
    r = DiacriticRestorer().fit(SMALL_CORPUS)
    assert r.restore("lịch su bac giang") == "lịch sử Bắc Giang"
    assert r.restore("lich su xyzzy 2024, bac giang!") == "lịch sử xyzzy 2024, Bắc Giang!"
    assert r.restore("") == ""


def test_suggestion_none_cases() -> None:
    r = DiacriticRestorer().fit(SMALL_CORPUS)
    assert r.suggestion("lịch sử Bắc Giang") is None  # already has diacritics
    assert r.suggestion("quantum chromodynamics") is None  # unknown to the collection
    assert r.suggestion("") is None
    assert DiacriticRestorer().suggestion("lich su") is None  # learnt nothing yet


def test_text_without_diacritics_teaches_nothing() -> None:
    r = DiacriticRestorer().fit(["lich su bac giang", "The history of the world"])
    assert len(r) == 0
    assert r.stats()["lines_skipped"] == 2


def test_update_equals_fit_on_everything(vntc_train: list[str]) -> None:
    a, b = vntc_train[:40], vntc_train[40:80]
    whole = DiacriticRestorer().fit(a + b)
    incremental = DiacriticRestorer().fit(a)
    for doc in b:  # one record at a time, as new records arrive
        incremental.update([doc])
    assert incremental.stats() == whole.stats()
    for doc in b[:10]:
        q = fold(doc.split("\n")[0])
        assert incremental.restore(q) == whole.restore(q)


def test_save_load_roundtrip(tmp_path: Path, restorer: DiacriticRestorer, held_out_sentences: list[str]) -> None:
    path = tmp_path / "sub" / "restorer.pkl.gz"
    restorer.save(path)
    assert path.is_file()
    assert os.listdir(path.parent) == ["restorer.pkl.gz"]  # no temporary file left behind
    loaded = DiacriticRestorer.load(path)
    assert loaded.stats() == restorer.stats()
    for sentence in held_out_sentences[:30]:
        q = fold(sentence)
        assert loaded.restore(q) == restorer.restore(q)
    loaded.update(["Thư viện mở cửa lúc bảy giờ sáng."])
    loaded.save(path)
    assert DiacriticRestorer.load(path).stats() == loaded.stats()


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a restorer")
    with pytest.raises(ValueError):
        DiacriticRestorer.load(bad)
    with pytest.raises(ValueError):
        DiacriticRestorer.load(tmp_path / "missing.npz")


def test_failed_save_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.npz"
    r = DiacriticRestorer().fit(SMALL_CORPUS)
    r.save(path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    r.update(["Văn học Việt Nam hiện đại."])
    with pytest.raises(OSError):
        r.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["r.npz"]


def test_pruning_bounds_memory(vntc_train: list[str]) -> None:
    r = DiacriticRestorer(max_bigrams=5_000, max_trigrams=8_000).fit(vntc_train[:100])
    stats = r.stats()
    assert stats["bigrams"] <= 5_000
    assert stats["trigrams"] <= 8_000
    assert r.restore("lich su viet nam")  # still works


def test_empty_restorer_save_load(tmp_path: Path) -> None:
    path = tmp_path / "empty.npz"
    DiacriticRestorer().save(path)
    loaded = DiacriticRestorer.load(path)
    assert len(loaded) == 0
    assert loaded.restore("lich su") == "lich su"
    assert loaded.suggestion("lich su") is None


def test_unaccented_runs_inside_accented_lines_are_not_learnt():
    from nlp.restore import UNK, drop_unaccented_runs

    lowers = ["ví", "dụ", "lich", "su", "bac", "giang", "là", "ta", "ba"]
    ids = [5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert drop_unaccented_runs(lowers, ids) == [5, 6, UNK, UNK, UNK, UNK, 11, 12, 13]  # a pair ("ta ba") stays


def test_the_demo_guide_does_not_teach_its_unaccented_example():
    """The demo's digital-library guide shows "lich su bac giang" typed without diacritics; learning the
    whole demo library must still restore that query (it did not before unaccented runs were dropped)."""
    import json
    from pathlib import Path

    from nlp.restore import DiacriticRestorer

    demo = Path(__file__).resolve().parents[2] / "demo"
    texts = []
    for name in ("records.jsonl", "documents.jsonl"):
        for line in (demo / name).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            texts.append(
                "\n".join(
                    [
                        d["title"],
                        ", ".join(d.get("authors", [])),
                        " ".join(d.get("subjects", [])),
                        d.get("summary") or "",
                    ]
                )
            )
            texts.append(d.get("text") or "")
    assert DiacriticRestorer().fit(texts).restore("lich su bac giang").lower() == "lịch sử bắc giang"
