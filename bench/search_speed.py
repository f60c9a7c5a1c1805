"""Search speed: ingest throughput, search latency in process and over HTTP, and peak RSS.

Corpora are real: LoC MARC records, then the viwiki articles as digitized text (chunked as ingest
chunks them; LoC + viwiki make about 51k documents), then Vinabook catalogue records (Vietnamese,
the shop's description as summary), VNTC news and ALQAC law articles as digitized text, until the
index holds the asked number of documents (records + passages). For each size the collection is
ingested with `thuvien ingest` in a subprocess (records/s, and its peak RSS), served with `thuvien
serve` (peak RSS), and queried over HTTP and in process with the same queries: XQuAD-vi questions
as typed, the same questions without diacritics, and LoC titles (many English).

    .venv/bin/python bench/search_speed.py --sizes 10000,100000

Embeddings are cached in THUVIEN_CACHE_DIR (default var/cache), so a second run does not re-embed;
ingest throughput is reported with the number of vectors the ingest had to embed
(``vectors_embedded_by_ingest``; the rest came from the cache). Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog.chunking import chunk_text  # noqa: E402
from catalog.importers.detect import read_any  # noqa: E402
from nlp.fold import fold  # noqa: E402

SHARED = Path(os.environ.get("THUVIEN_SHARED_DATA", REPO.parent / "shared" / "data"))


def _loc_rows(tmp: Path):
    marc = tmp / "loc.mrc"
    if not marc.exists():
        with gzip.open(SHARED / "loc-marc" / "dev.mrc.gz", "rb") as fh:
            marc.write_bytes(fh.read())
    for item in read_any(marc, "loc", fmt="marc"):
        if item.record is not None:
            yield item.record.model_dump(mode="json", exclude_none=True)


def _vinabook_rows():
    with (SHARED / "vinabook" / "books.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            b = json.loads(line)
            row = {
                "id": b["id"],
                "library_id": "vinabook",
                "title": b["title"],
                "authors": b.get("authors") or [],
                "publisher": b.get("publisher"),
                "year": int(b["publish_date"][:4]) if b.get("publish_date") else None,
                "isbn": [b["isbn"]] if b.get("isbn") else [],
                "language": "vi",
                "summary": b.get("description"),
            }
            yield {k: v for k, v in row.items() if v not in (None, [])}


def _viwiki_rows():
    with gzip.open(SHARED / "viwiki" / "articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            a = json.loads(line)
            yield {
                "id": a["id"],
                "library_id": "viwiki",
                "title": a["title"],
                "language": "vi",
                "type": "article",
                "text": a["text"],
            }


def _text_rows():
    for part in ("train", "test"):
        with gzip.open(SHARED / "vntc" / f"{part}.jsonl.gz", "rt", encoding="utf-8") as fh:
            for line in fh:
                d = json.loads(line)
                title = d["text"].strip().split("\n", 1)[0][:200] or d["id"]
                yield {
                    "id": d["id"].replace("/", "-"),
                    "library_id": "vntc",
                    "title": title,
                    "language": "vi",
                    "type": "article",
                    "subjects": [d["topic"]],
                    "text": d["text"],
                }
    for law in json.loads((SHARED / "alqac2023" / "law.json").read_text(encoding="utf-8")):
        for art in law["articles"]:
            yield {
                "id": f"{law['id']}-{art['id']}".replace("/", "-"),
                "library_id": "alqac",
                "title": f"{law['id']} Điều {art['id']}",
                "language": "vi",
                "type": "document",
                "text": art["text"],
            }


def build_corpus(size: int, out: Path, tmp: Path) -> dict[str, int]:
    """Write a JSONL collection whose index holds about ``size`` documents."""
    docs = records = 0
    with out.open("w", encoding="utf-8") as fh:
        for source in (_loc_rows(tmp), _viwiki_rows(), _vinabook_rows(), _text_rows()):
            for row in source:
                n = 1 + (len(chunk_text(row["text"])) if row.get("text") else 0)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                docs += n
                records += 1
                if docs >= size:
                    return {"records": records, "documents": docs}
    return {"records": records, "documents": docs}


def queries(n: int, tmp: Path) -> list[str]:
    xq = json.loads((SHARED / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    qs = [qa["question"] for art in xq["data"] for p in art["paragraphs"] for qa in p["qas"]]
    third = max(1, n // 3)
    titles = []
    for row in _loc_rows(tmp):
        titles.append(row["title"][:120])
        if len(titles) >= third:
            break
    return qs[:third] + [fold(q) for q in qs[third : 2 * third]] + titles


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _cached_vectors(env: dict[str, str]) -> int:
    """Vectors in the embedding cache (all models): the difference over an ingest is what it embedded."""
    import sqlite3

    n = 0
    for db in Path(env["THUVIEN_CACHE_DIR"]).glob("embeddings-*.sqlite3"):
        with sqlite3.connect(db) as conn:
            n += conn.execute("SELECT COUNT(*) FROM vec").fetchone()[0]
    return n


def run_size(size: int, qs: list[str], env: dict[str, str], work: Path) -> dict:
    data_dir = work / f"speed-{size}"
    corpus = work / f"corpus-{size}.jsonl"
    env = dict(env, THUVIEN_DATA_DIR=str(data_dir))
    counts = build_corpus(size, corpus, work)
    print(f"[{size}] corpus: {counts}", flush=True)
    fresh = not (data_dir / "catalog.sqlite3").exists()
    cached_before = _cached_vectors(env)
    t0 = time.perf_counter()
    ingest = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "ingest", str(corpus), "--library", "bench"], env=env, cwd=REPO
    )
    _, status, rusage = os.wait4(ingest.pid, 0)
    ingest_s = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"ingest failed with status {status}")
    ingest_rss = rusage.ru_maxrss / 1024
    embedded = _cached_vectors(env) - cached_before
    return {
        "size": size,
        **counts,
        "fresh_ingest": fresh,
        "vectors_embedded_by_ingest": embedded,
        "ingest_s": round(ingest_s, 1),
        "ingest_records_per_s": round(counts["records"] / ingest_s, 1),
        "ingest_peak_rss_mb": round(ingest_rss),
        **measure(qs, data_dir, env),
    }


def measure(qs: list[str], data_dir: Path, env: dict[str, str]) -> dict:
    """Serve ``data_dir`` with `thuvien serve` and time the queries over HTTP, then in process."""
    env = dict(env, THUVIEN_DATA_DIR=str(data_dir))
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        http_ms, errors = [], 0
        with httpx.Client(base_url=url, timeout=60) as client:
            index = client.get("/api/v1/stats").json()["index"]
            for q in qs[:20]:  # warm-up
                client.get("/api/v1/search", params={"q": q, "k": 10})
            for q in qs:
                t = time.perf_counter()
                r = client.get("/api/v1/search", params={"q": q, "k": 10})
                http_ms.append((time.perf_counter() - t) * 1000)
                errors += r.status_code != 200
        server_rss = _peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    inproc_ms = in_process_latency(qs, data_dir, env)
    return {
        "index_documents": index["documents"],
        "index_records": index["records"],
        "dense_kind": index.get("dense_kind"),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "http_p50_ms": round(statistics.median(http_ms), 1),
        "http_p95_ms": round(_pct(http_ms, 95), 1),
        "http_errors": errors,
        "inproc_p50_ms": round(statistics.median(inproc_ms), 1),
        "inproc_p95_ms": round(_pct(inproc_ms, 95), 1),
        "server_peak_rss_mb": round(server_rss),
    }


def in_process_latency(qs: list[str], data_dir: Path, env: dict[str, str]) -> list[float]:
    """The same search path without HTTP: analyse, embed the query, search the index."""
    code = f"""
import json, sys, time
from pathlib import Path
from services.common.settings import Settings
from embeddings.factory import get_encoder
from nlp.analyze import analyze_query
from nlp.restore import DiacriticRestorer
from search import SearchIndex
s = Settings(data_dir=Path({str(data_dir)!r}))
enc = get_encoder(s.embedding_backend, s.models_dir)
idx = SearchIndex.open(s.index_dir, enc.model_id, enc.dim)
p = s.data_dir / "nlp" / "restorer.npz"
rest = DiacriticRestorer.load(p) if p.exists() else None
qs = json.loads(sys.stdin.read())
out = []
for i, q in enumerate(qs[:20] + qs):
    t = time.perf_counter()
    a = analyze_query(q, rest)
    v = enc.encode_queries([a.dense_query])[0]
    idx.search(a, v, k=10)
    if i >= 20:
        out.append((time.perf_counter() - t) * 1000)
print(json.dumps(out))
"""
    env = {k: v for k, v in env.items() if k != "THUVIEN_DATA_DIR"}
    r = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(qs),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="index sizes in documents, comma-separated")
    ap.add_argument("--queries", type=int, default=300, help="number of timed queries per size")
    ap.add_argument("--work", type=Path, default=REPO / "var" / "bench", help="where the bench data dirs go")
    ap.add_argument(
        "--data-dir",
        type=Path,
        action="append",
        default=[],
        help="also measure this existing data dir as it is, without ingesting (repeatable)",
    )
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("THUVIEN_CACHE_DIR", str(REPO / "var" / "cache"))
    env.setdefault("THUVIEN_MODELS_DIR", str(REPO / "var" / "models"))
    env["PYTHONPATH"] = str(REPO)
    qs = queries(args.queries, args.work)
    results = [run_size(int(s), qs, env, args.work) for s in args.sizes.split(",") if s.strip()]
    results += [{"data_dir": str(d), **measure(qs, d, env)} for d in args.data_dir]
    print(
        f"\n{'docs':>8} {'records':>8} {'ingest rec/s':>12} {'http p50':>9} {'http p95':>9} "
        f"{'inproc p50':>10} {'inproc p95':>10} {'server RSS MB':>13}"
    )
    for r in results:
        print(
            f"{r['index_documents']:>8} {r['index_records']:>8} {r.get('ingest_records_per_s', '-'):>12} "
            f"{r['http_p50_ms']:>9} {r['http_p95_ms']:>9} {r['inproc_p50_ms']:>10} {r['inproc_p95_ms']:>10} "
            f"{r['server_peak_rss_mb']:>13}"
        )
    big = max(results, key=lambda r: r["index_documents"])
    print(
        f"targets at the largest size ({big['index_documents']} documents): p95 over HTTP <= 60 ms:",
        big["http_p95_ms"] <= 60,
        "| peak RSS <= 2 GB:",
        max(big["server_peak_rss_mb"], big.get("ingest_peak_rss_mb", 0)) <= 2048,
    )
    print(json.dumps({"bench": "search_speed", "results": results}))


if __name__ == "__main__":
    main()
