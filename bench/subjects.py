"""Subject indexing benchmark: thuvien's ensemble vs Annif 1.4.3 on identical splits.

Sets: LCSH (LoC 650 headings), DDC at 1/2/3 digits (LoC 082), Vinabook topics (Vietnamese).
Annif runs in its own venv (``.venv-annif``) through ``bench/annif_runner.py`` on the same files,
in a background process while thuvien trains; both are scored by ``subjects.metrics`` (Annif's
definitions, top 10 suggestions). Ends with ONE JSON line.

    .venv/bin/python bench/subjects.py                  # everything
    .venv/bin/python bench/subjects.py --sets vinabook  # one set
    .venv/bin/python bench/subjects.py --annif-only     # only (re)run Annif, keep its dumps
    .venv/bin/python bench/subjects.py --reuse-annif    # reuse Annif dumps made from identical files
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from subjects import corpora, marc  # noqa: E402
from subjects.backends import get_backend_class  # noqa: E402
from subjects.metrics import evaluate  # noqa: E402

DATA = Path(os.environ.get("THUVIEN_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve()
WORK = ROOT / "var" / "bench" / "subjects"
ANNIF_PY = ROOT / ".venv-annif" / "bin" / "python"
ANNIF_SETUP = {
    "lcsh": ("tfidf,mllm,omikuji,fasttext,ensemble", "en", "snowball(english)"),
    "ddc1": ("tfidf,svc,omikuji,fasttext,ensemble", "en", "snowball(english)"),
    "ddc2": ("tfidf,svc,omikuji,fasttext,ensemble", "en", "snowball(english)"),
    "ddc3": ("tfidf,svc,omikuji,fasttext,ensemble", "en", "snowball(english)"),
    "vinabook": ("tfidf,svc,omikuji,fasttext,mllm,ensemble", "vi", "simple(token_min_length=1)"),
}
REPORT = ("F1@5", "NDCG", "NDCG@10", "Precision@1", "Precision@3", "Precision@5", "F1 score (doc avg)")


def load_sets(names: list[str]) -> dict[str, corpora.Split]:
    out = {}
    loc_docs = None
    if any(n != "vinabook" for n in names):
        cache = WORK / "loc-docs.pkl"
        src = DATA / "loc-marc" / "dev.mrc.gz"
        if cache.exists() and cache.stat().st_mtime > src.stat().st_mtime:
            loc_docs = pickle.loads(cache.read_bytes())
        else:
            loc_docs = list(marc.read_marc(src))
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(loc_docs))
    for n in names:
        if n == "vinabook":
            out[n] = corpora.vinabook(DATA / "vinabook" / "books.jsonl")
        elif n == "lcsh":
            out[n] = corpora.lcsh(None, docs=loc_docs)
        elif n.startswith("ddc"):
            out[n] = corpora.ddc(None, int(n[3:]), docs=loc_docs)
    return out


def _one_line(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())


def write_annif_files(split: corpora.Split) -> tuple[Path, str]:
    wd = WORK / split.name
    wd.mkdir(parents=True, exist_ok=True)
    lang = split.vocab.languages[0]
    vocab = "".join(f"<{u}>\t{c.label(lang)}\n" for u, c in split.vocab.concepts.items())
    train = "".join(f"{_one_line(d.text)}\t{' '.join(f'<{u}>' for u in d.subjects)}\n" for d in split.train)
    test = "".join(f"{_one_line(d.text)}\t{' '.join(f'<{u}>' for u in d.subjects)}\n" for d in split.test)
    h = hashlib.sha1((vocab + train + test + json.dumps(ANNIF_SETUP[split.name])).encode()).hexdigest()
    for name, content in (("vocab.tsv", vocab), ("train.tsv", train), ("test.tsv", test)):
        p = wd / name
        if not p.exists() or p.read_text(encoding="utf-8") != content:
            p.write_text(content, encoding="utf-8")
    return wd, h


def annif_done(wd: Path, h: str) -> bool:
    stamp = wd / "annif-stamp.txt"
    return stamp.exists() and stamp.read_text().strip() == h


def start_annif(jobs: list[tuple[str, Path, str]]) -> subprocess.Popen | None:
    """One background shell that runs Annif on each set in turn (so it does not oversubscribe the CPU)."""
    if not jobs:
        return None
    if not ANNIF_PY.exists():
        raise SystemExit(
            "Annif venv missing: python3.11 -m venv .venv-annif && "
            ".venv-annif/bin/pip install 'annif[omikuji,fasttext]==1.4.3'"
        )
    cmds = []
    for name, wd, h in jobs:
        backends, lang, analyzer = ANNIF_SETUP[name]
        cmds.append(
            f"{ANNIF_PY} {ROOT / 'bench' / 'annif_runner.py'} {wd} {backends} --language {lang} "
            f"--analyzer '{analyzer}' && echo {h} > {wd / 'annif-stamp.txt'}"
        )
    return subprocess.Popen(["bash", "-c", " ; ".join(cmds)], stdout=sys.stderr, stderr=sys.stderr)


def read_annif(wd: Path, split: corpora.Split) -> dict[str, dict[str, float]]:
    backends = ANNIF_SETUP[split.name][0].split(",")
    gold = [set(d.subjects) for d in split.test]
    out = {}
    for b in backends:
        p = wd / f"annif-{b}.json"
        if p.exists():
            pred = [[(u, s) for u, s in row] for row in json.loads(p.read_text())]
            if len(pred) == len(gold):
                out[b] = evaluate(gold, pred)
                # Annif's `eval --threshold`, with the threshold chosen on the TEST set (an oracle, in
                # Annif's favour), so a thresholded thuvien is compared with a thresholded Annif.
                best = max(
                    (
                        evaluate(gold, [[p for p in row if p[1] >= t] for row in pred]) | {"t": t}
                        for t in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
                    ),
                    key=lambda m: m["F1@5"],
                )
                out[f"{b}+threshold({best.pop('t'):g}, test-oracle)"] = best
    return out


def embedding_coverage(enc, texts: list[str]) -> float:
    from subjects.embedding import embed_view

    db = getattr(enc, "_db", None)
    if db is None:
        return 1.0
    keys = [b"q" + hashlib.sha1(embed_view(t).encode()).digest() for t in texts]
    have = 0
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        have += db.execute(f"SELECT COUNT(*) FROM vec WHERE k IN ({','.join('?' * len(chunk))})", chunk).fetchone()[0]
    return have / max(1, len(keys))


def members_for(split: corpora.Split, use_emb: bool) -> list[dict]:
    m: list[dict] = [{"backend": "linear"}, {"backend": "knn", "params": {"representation": "tfidf"}}]
    if use_emb:
        m.append({"backend": "knn", "params": {"representation": "embedding"}})
        m.append({"backend": "emb-linear"})
        if not split.name.startswith("ddc"):
            m.append({"backend": "labels"})
    return m


def ensemble_params(split: corpora.Split, use_emb: bool) -> dict:
    """Cross-fitted stacking (5 folds: 6 trainings per member) where training is cheap (Vinabook); the
    LoC sets keep the single 15% validation split so that the bench (LCSH ridge on 6,000 records, DDC
    SVMs with up to 608 classes, on 2 shared cores) stays within its time."""
    p: dict = {"members": members_for(split, use_emb)}
    if split.name == "vinabook":
        p["stack_folds"] = 5
    return p


def measure_latency(ens, split: corpora.Split, encoder, n: int) -> tuple[list[float], list[float]]:
    """Single-record suggest latency on the service's path (``Project.suggest_batch``: scores, sources,
    labels), one record per call. The embedding cache is bypassed, since a new record is not in it (the
    test texts were cached by the batch scoring above). Returns the latencies (ms) and the load average."""
    from subjects.project import Project, ProjectConfig

    saved = [(b, b.context) for b in (ens, *ens.members)]
    if encoder is not None:
        raw = getattr(encoder, "inner", encoder)
        for b, ctx in saved:
            b.context = {**ctx, "encoder": raw}
    try:
        proj = Project(ProjectConfig(split.name, split.vocab.id, language=split.vocab.languages[0]), split.vocab, ens)
        docs = split.test[: n + 1]
        if not docs:
            return [], list(os.getloadavg())
        proj.suggest_batch([docs[0].text], 10)  # warm-up (first-call allocations)
        lat = []
        for d in docs[1:]:
            t = time.perf_counter()
            proj.suggest_batch([d.text], 10)
            lat.append(1000 * (time.perf_counter() - t))
        return lat, [round(x, 2) for x in os.getloadavg()]
    finally:
        for b, ctx in saved:
            b.context = ctx


def run_ours(split: corpora.Split, encoder, use_emb: bool, latency_docs: int) -> dict:
    labels = list(split.vocab.concepts)
    ctx = {"encoder": encoder, "label_texts": {u: c.all_labels() for u, c in split.vocab.concepts.items()}}
    ens = get_backend_class("ensemble")(labels, ensemble_params(split, use_emb), **ctx)
    t0 = time.time()
    ens.train(split.train)
    train_s = time.time() - t0
    texts = [d.text for d in split.test]
    gold = [set(d.subjects) for d in split.test]
    results: dict[str, dict] = {}
    t0 = time.time()
    mats = ens._member_scores(texts)
    fused = ens._combine(mats)

    def top(mat):
        out = []
        for row in mat:
            idx = np.argsort(-row)[:10]
            out.append([(labels[j], float(row[j])) for j in idx if row[j] > 0])
        return out

    results["ensemble"] = evaluate(gold, top(fused))
    t = float(getattr(ens, "tuned_threshold", 0.0))
    results[f"ensemble+threshold({t:g}, val-tuned)"] = evaluate(
        gold, [[p for p in row if p[1] >= t] for row in top(fused)]
    )
    for m, mat in zip(ens.members, mats, strict=True):
        results[m.name] = evaluate(gold, top(mat))
    batch_ms = 1000 * (time.time() - t0) / len(texts)
    lat, load = measure_latency(ens, split, encoder, latency_docs)
    return {
        "metrics": results,
        "train_s": round(train_s, 1),
        "batch_ms_per_doc": round(batch_ms, 2),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if lat else None,
        "p95_ms": round(float(np.percentile(lat, 95)), 1) if lat else None,
        "latency_docs": len(lat),
        "load_avg_1_5_15": load,
        "embeddings": use_emb,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="lcsh,vinabook,ddc1,ddc2,ddc3")
    ap.add_argument("--annif-only", action="store_true")
    ap.add_argument("--reuse-annif", action="store_true", help="reuse Annif dumps made from identical files")
    ap.add_argument("--no-annif", action="store_true")
    ap.add_argument(
        "--embeddings",
        choices=["auto", "on", "off"],
        default="on",
        help="auto: use e5 members only when the embedding cache already covers the set",
    )
    ap.add_argument("--latency-docs", type=int, default=100)
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="print the table from saved thuvien.json and Annif dumps (no training)",
    )
    args = ap.parse_args()
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    splits = load_sets(names)
    jobs, dirs = [], {}
    for n, sp in splits.items():
        wd, h = write_annif_files(sp)
        dirs[n] = wd
        print(f"{n}: {len(sp.train)} train, {len(sp.test)} test, {len(sp.vocab)} subjects", file=sys.stderr)
        if not args.no_annif and not args.report_only and not (args.reuse_annif and annif_done(wd, h)):
            jobs.append((n, wd, h))
    proc = start_annif(jobs)
    if args.annif_only:
        return proc.wait() if proc else 0
    encoder = None
    if args.embeddings != "off" and not args.report_only:
        from subjects.embedding import make_encoder

        encoder = make_encoder(ROOT / "var" / "cache")
    ours = {}
    for n, sp in splits.items():
        saved = dirs[n] / "thuvien.json"
        if args.report_only:
            ours[n] = json.loads(saved.read_text())
            continue
        use_emb = encoder is not None and (
            args.embeddings == "on" or embedding_coverage(encoder, [d.text for d in sp.train + sp.test]) >= 0.98
        )
        print(f"thuvien {n}: training (embeddings={'on' if use_emb else 'off'})", file=sys.stderr, flush=True)
        ours[n] = run_ours(sp, encoder, use_emb, args.latency_docs)
        saved.write_text(json.dumps(ours[n]))
        print(
            f"thuvien {n}: {json.dumps({k: round(v['F1@5'], 4) for k, v in ours[n]['metrics'].items()})}",
            file=sys.stderr,
            flush=True,
        )
    if proc:
        proc.wait()
    summary: dict = {"bench": "subjects", "sets": {}}
    for n, sp in splits.items():
        annif = read_annif(dirs[n], sp)
        ens_rows = {k: v for k, v in ours[n]["metrics"].items() if k.startswith("ensemble")}
        me = {m: max(v[m] for v in ens_rows.values()) for m in REPORT}
        print(f"\n== {n}: {len(sp.train)} train / {len(sp.test)} test / {len(sp.vocab)} subjects")
        print(f"{'system':28s}" + "".join(f"{k[:12]:>13s}" for k in REPORT))
        rows = [(f"thuvien {k}", v) for k, v in ours[n]["metrics"].items()] + [
            (f"annif {k}", v) for k, v in annif.items()
        ]
        for name, m in rows:
            print(f"{name:28s}" + "".join(f"{m[k]:13.4f}" for k in REPORT))
        entry = {
            "thuvien": {k: round(me[k], 4) for k in REPORT},
            "thuvien_members": {
                k: {m: round(v[m], 4) for m in ("F1@5", "NDCG@10", "Precision@1")}
                for k, v in ours[n]["metrics"].items()
                if k != "ensemble"
            },
            "train_s": ours[n]["train_s"],
            "p95_ms": ours[n]["p95_ms"],
            "p50_ms": ours[n]["p50_ms"],
            "latency_load_avg": ours[n].get("load_avg_1_5_15"),
            "embeddings": ours[n]["embeddings"],
            "annif": {k: {m: round(v[m], 4) for m in REPORT} for k, v in annif.items()},
        }
        if annif:
            for metric in ("F1@5", "NDCG", "NDCG@10", "Precision@1"):
                best_name, best = max(((k, v[metric]) for k, v in annif.items()), key=lambda kv: kv[1])
                entry[f"annif_best_{metric}"] = {
                    "backend": best_name,
                    "value": round(best, 4),
                    "ratio": round(me[metric] / best, 3) if best else None,
                    "delta": round(me[metric] - best, 4),
                }
                print(
                    f"  {metric}: thuvien {me[metric]:.4f} vs annif best {best:.4f} ({best_name}) "
                    f"ratio {me[metric] / best if best else float('nan'):.3f}"
                )
        print(
            f"  suggest latency single record ({ours[n].get('latency_docs')} records, uncached encoder): "
            f"p50 {ours[n]['p50_ms']} ms, p95 {ours[n]['p95_ms']} ms, load average {ours[n].get('load_avg_1_5_15')}"
        )
        summary["sets"][n] = entry
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
