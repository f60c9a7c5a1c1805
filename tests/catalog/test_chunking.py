"""chunk_text: paragraph then sentence boundaries, about 200 words, locations, chunk ids."""

from __future__ import annotations

from catalog.chunking import chunk_pages, chunk_text, make_chunks, split_sentences


def _sentences(n: int, words: int = 12) -> list[str]:
    return [f"Câu{i} " + " ".join([f"từ{i}"] * (words - 2)) + f" cuối{i}." for i in range(n)]


def test_paragraph_and_sentence_boundaries():
    paras = ["Ngắn. Đoạn đầu.", " ".join(_sentences(60)), "Đoạn cuối cùng có vài chữ."]
    text = "\n\n".join(paras)
    chunks = chunk_text(text)
    assert " ".join(t for t, _ in chunks).split() == text.split()
    sentences = set(split_sentences(paras[1]))
    for t, _ in chunks:
        assert t.rstrip().endswith(".")
        for piece in t.split("\n\n"):
            assert piece in paras or piece in sentences  # whole paragraphs or whole sentences
    sizes = [len(t.split()) for t, _ in chunks]
    assert all(120 <= s <= 260 for s in sizes[:-1]), sizes
    assert [loc for _, loc in chunks] == [f"đoạn {i}" for i in range(1, len(chunks) + 1)]


def test_lowercase_sentences_still_split_at_punctuation():
    text = " ".join(f"câu số {i} không viết hoa nhưng vẫn kết thúc bằng dấu chấm." for i in range(100))
    chunks = chunk_text(text)
    assert len(chunks) > 3 and all(t.endswith(".") for t, _ in chunks)


def test_sentence_split_keeps_abbreviations():
    s = split_sentences("Xem tr. 12 và v.v. nữa. Sau đó “Chương hai” bắt đầu! 3 người đến.")
    assert s == ["Xem tr. 12 và v.v. nữa.", "Sau đó “Chương hai” bắt đầu!", "3 người đến."]


def test_huge_sentence_is_cut_by_words():
    text = " ".join(f"w{i}" for i in range(1000))  # no punctuation at all
    chunks = chunk_text(text, target_words=200)
    assert [len(t.split()) for t, _ in chunks] == [200] * 5


def test_prefix_locations_and_single_chunk():
    assert chunk_text("Một câu thôi.", location_prefix="tr. 3") == [("Một câu thôi.", "tr. 3")]
    long = " ".join(_sentences(50))
    locs = [loc for _, loc in chunk_text(long, location_prefix="Chương 3 — Về quê")]
    assert locs[0] == "Chương 3 — Về quê, đoạn 1" and len(locs) > 1
    assert chunk_text("") == [] and chunk_text("  \n\n ") == []


def test_pages_and_chunk_ids():
    pages = [" ".join(_sentences(5)), " ".join(_sentences(30)), "Hết."]
    out = chunk_pages(pages)
    assert out[0][1] in ("tr. 1", "tr. 1–2") and out[-1][1].endswith("3")
    chunks = make_chunks("tinh-bg", "BG 01", [*out, ("  ", "tr. 9")])
    assert [c.chunk_id for c in chunks] == [f"tinh-bg/BG 01#{i}" for i in range(len(out))]
    assert all(c.record_key == "tinh-bg/BG 01" for c in chunks)


def test_section_headings_start_passages_and_name_the_location():
    body = " ".join(_sentences(20))  # ~240 words
    text = f"Mở đầu ngắn.\n\n== Lịch sử ==\n{body}\n\n== Địa lý ==\n{body}\n\n== Tham khảo ==\n"
    chunks = chunk_text(text)
    locs = [loc for _, loc in chunks]
    assert any(loc.startswith("Địa lý") for loc in locs)
    geo = next(t for t, loc in chunks if loc.startswith("Địa lý"))
    assert geo.startswith("Địa lý\n\n") and "==" not in geo
    assert "Tham khảo" not in " ".join(t for t, _ in chunks)  # an empty section is dropped
    assert all(len(t.split()) >= 3 for t, _ in chunks)
    md = chunk_text(f"## Giới thiệu\n{body}", location_prefix="Chương 2")
    assert md[0][1].startswith("Chương 2 — Giới thiệu")
