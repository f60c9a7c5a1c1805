"""Load on the gateway: the embedded topology against the distributed one, on this machine.

The same data dir is served twice, one topology after the other:

* embedded (the anchor): one ``thuvien serve`` process holding every service;
* distributed: every service its own ``thuvien serve SERVICE`` process on a loopback port (nlp, catalog,
  embedding, search, qa, recommender, subjects and the gateway, which reaches them over HTTP).

A closed-loop load generator (asyncio + httpx, in this process) runs N concurrent users against the gateway;
each user sends a request, waits for the answer and sends the next one, for ``--duration`` seconds per step.
Steps: search (GET /api/v1/search) and ask (POST /api/v1/ask), at each of ``--users`` (default 8, 32, 64).
Recorded per step: throughput (answers per second), p50/p95/p99 latency and the error rate (anything but a
200, or no answer within the client timeout). Printed: a table per topology, the ratio of the distributed
search throughput to the embedded one (target >= 0.70) and whether there were zero errors at 32 users; the
last line is one JSON object with every figure.

Queries are real: XQuAD-vi questions as typed and without diacritics, and titles of records sampled from
the served catalogue. The served data dir is copied first (``--work``), so a shared data dir is only read;
``--in-place`` serves it as it is. No Redis (no shared result cache) and no rate limit in either topology.

    .venv/bin/python bench/load.py --data-dir var/bench/speed-100000 --duration 30
    .venv/bin/python bench/load.py --demo --duration 5          # the demo library, a quick end-to-end run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nlp.fold import fold  # noqa: E402

SHARED = Path(os.environ.get("THUVIEN_SHARED_DATA", REPO.parent / "shared" / "data"))
SERVICES = ("nlp", "catalog", "embedding", "search", "qa", "recommender", "subjects")
TARGET_RATIO = 0.70


# --------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    url: str
    popen: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def spawn(service: str | None, port: int, env: dict[str, str], logs: Path) -> Proc:
    """``thuvien serve [SERVICE] --host 127.0.0.1 --port PORT``; output in ``logs/<name>.log``."""
    name = service or "embedded"
    args = [sys.executable, "-m", "services.cli", "serve", *([service] if service else [])]
    log = logs / f"{name}.log"
    with open(log, "ab") as fh:
        popen = subprocess.Popen(
            [*args, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    return Proc(name, f"http://127.0.0.1:{port}", popen, log)


def wait_ready(procs: list[Proc], timeout: float) -> None:
    """Until every process answers /readyz with 200 (models loaded, stores reachable)."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        for p in list(pending):
            if p.popen.poll() is not None:
                raise SystemExit(f"{p.name} exited with {p.popen.returncode}; see {p.log}")
            try:
                if httpx.get(f"{p.url}/readyz", timeout=5).status_code == 200:
                    pending.remove(p)
            except httpx.HTTPError:
                pass
        if pending and time.monotonic() > deadline:
            raise SystemExit(f"not ready after {timeout:.0f} s: {', '.join(p.name for p in pending)}")
        time.sleep(0.5)


def base_env(data_dir: Path, models_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THUVIEN_")}
    env.update(
        {
            "THUVIEN_DATA_DIR": str(data_dir),
            "THUVIEN_MODELS_DIR": str(models_dir),
            "THUVIEN_LOG_LEVEL": "WARNING",  # no access log line per request: the same in both topologies
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def start_embedded(env: dict[str, str], logs: Path, timeout: float) -> tuple[str, list[Proc]]:
    proc = spawn(None, free_port(), env, logs)
    try:
        wait_ready([proc], timeout)
    except BaseException:
        proc.stop()
        raise
    return proc.url, [proc]


def start_distributed(env: dict[str, str], logs: Path, timeout: float) -> tuple[str, list[Proc]]:
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    env = dict(env, **{f"THUVIEN_{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}" for n in SERVICES})
    procs: list[Proc] = []
    try:
        for name in SERVICES:
            procs.append(spawn(name, ports[name], env, logs))
        wait_ready(procs, timeout)
        procs.append(spawn("gateway", ports["gateway"], env, logs))
        wait_ready(procs[-1:], timeout)
    except BaseException:
        stop_all(procs)
        raise
    return procs[-1].url, procs


def stop_all(procs: list[Proc]) -> None:
    for p in reversed(procs):
        p.stop()


# ------------------------------------------------------------------------------------------------ queries


def catalogue_titles(data_dir: Path, n: int, seed: int) -> list[str]:
    """Titles of up to ``n`` records sampled from the served catalogue (SQLite of the data dir)."""
    import sqlite3

    db = data_dir / "catalog.sqlite3"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        total = int(conn.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0)
        rowids = random.Random(seed).sample(range(1, total + 1), min(n * 2, total)) if total else []
        rows = conn.execute(f"SELECT data FROM records WHERE rowid IN ({','.join(map(str, rowids)) or 'NULL'})")
        rows = rows.fetchall()
    finally:
        conn.close()
    titles = []
    for (data,) in rows:
        title = (json.loads(data).get("title") or "").strip()
        if title:
            titles.append(" ".join(title.split()[:10]))
    return titles[:n]


def build_queries(data_dir: Path, n: int, seed: int) -> tuple[list[str], list[str]]:
    """(search queries, ask questions): XQuAD-vi questions, the same without diacritics, catalogue titles."""
    xq = json.loads((SHARED / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    questions = [qa["question"] for art in xq["data"] for p in art["paragraphs"] for qa in p["qas"]]
    rng = random.Random(seed)
    rng.shuffle(questions)
    third = max(1, n // 3)
    titles = catalogue_titles(data_dir, third, seed)
    search = questions[:third] + [fold(q) for q in questions[third : 2 * third]] + titles
    rng.shuffle(search)
    ask = questions[2 * third : 2 * third + n]
    return search, ask


# ------------------------------------------------------------------------------------------- load driver


@dataclass
class Step:
    endpoint: str
    users: int
    duration_s: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        done = len(lat) + self.errors

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))], 1) if lat else None

        return {
            "users": self.users,
            "requests": done,
            "ok": len(lat),
            "errors": self.errors,
            "error_rate": round(self.errors / done, 4) if done else None,
            "throughput_rps": round(len(lat) / self.elapsed_s, 2) if self.elapsed_s else 0.0,
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "statuses": dict(sorted(self.statuses.items())),
        }


def request_for(endpoint: str, text: str) -> tuple[str, str, dict]:
    if endpoint == "search":
        return "GET", "/api/v1/search", {"params": {"q": text, "k": 10}}
    return "POST", "/api/v1/ask", {"json": {"question": text, "k": 5}}


async def run_step(url: str, step: Step, texts: list[str], timeout_s: float, seed: int) -> Step:
    """``step.users`` closed-loop users sending requests for ``step.duration_s``.

    A request sent before the end of the window is waited for and counted; the elapsed time runs to the last
    answer, so throughput is answers / elapsed (not cut short by the requests still in flight at the end)."""
    limits = httpx.Limits(max_connections=step.users, max_keepalive_connections=step.users)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:
        start = time.perf_counter()
        stop_at = start + step.duration_s
        last = start

        async def user(i: int) -> None:
            nonlocal last
            rng = random.Random(seed * 1000 + i)
            while time.perf_counter() < stop_at:
                method, path, kw = request_for(step.endpoint, rng.choice(texts))
                t0 = time.perf_counter()
                try:
                    resp = await client.request(method, path, **kw)
                    status = str(resp.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                t1 = time.perf_counter()
                last = max(last, t1)
                step.statuses[status] = step.statuses.get(status, 0) + 1
                if status == "200":
                    step.latencies_ms.append((t1 - t0) * 1000)
                else:
                    step.errors += 1

        await asyncio.gather(*(user(i) for i in range(step.users)))
        step.elapsed_s = last - start
    return step


def measure(url: str, args, search_qs: list[str], ask_qs: list[str]) -> dict[str, dict[str, dict]]:
    texts = {"search": search_qs, "ask": ask_qs}
    # Warm-up (not recorded): caches, lazily loaded parts, connection pools.
    for endpoint in ("search", "ask"):
        asyncio.run(run_step(url, Step(endpoint, 4, args.warmup), texts[endpoint], args.timeout, seed=99))
    out: dict[str, dict[str, dict]] = {"search": {}, "ask": {}}
    for users in args.users:
        for endpoint in ("search", "ask"):
            step = asyncio.run(run_step(url, Step(endpoint, users, args.duration), texts[endpoint], args.timeout, 7))
            s = step.summary()
            out[endpoint][str(users)] = s
            print(
                f"  {endpoint:<6} {users:>5} users  {s['throughput_rps']:>8.2f} req/s  p50 {s['p50_ms']} ms  "
                f"p95 {s['p95_ms']} ms  p99 {s['p99_ms']} ms  errors {s['errors']}/{s['requests']}",
                flush=True,
            )
    return out


# ----------------------------------------------------------------------------------------------- data dir


def prepare_data_dir(args) -> Path:
    """The data dir to serve: a copy under ``--work`` (default), the given one (``--in-place``), or the demo."""
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    if args.demo:
        data = work / "demo-data"
        if not (data / "catalog.sqlite3").exists():
            env = base_env(data, args.models_dir)
            for cmd in (
                ["ingest", str(REPO / "demo" / "records.jsonl"), str(REPO / "demo" / "documents.jsonl")]
                + ["--library", "tv-bacgiang"],
            ):
                subprocess.run([sys.executable, "-m", "services.cli", *cmd], cwd=REPO, env=env, check=True)
            shutil.copy(REPO / "demo" / "libraries.json", data / "libraries.json")
        return data
    if args.data_dir is None:
        raise SystemExit("give --data-dir DIR (an existing loaded data dir) or --demo")
    src = args.data_dir.resolve()
    if not (src / "catalog.sqlite3").exists():
        raise SystemExit(f"{src} is not a loaded data dir (no catalog.sqlite3)")
    if args.in_place:
        return src
    dst = work / f"copy-{src.name}"
    if dst.exists():
        shutil.rmtree(dst)
    skip = shutil.ignore_patterns(".writer.lock", "server.json", "cache")  # the embedding cache is not served
    print(f"copying {src} to {dst} …", flush=True)
    shutil.copytree(src, dst, ignore=skip, symlinks=True)
    return dst


def index_size(url: str) -> dict:
    try:
        return httpx.get(f"{url}/api/v1/stats", timeout=60).json()
    except (httpx.HTTPError, ValueError):
        return {}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, help="an existing loaded data dir (copied first unless --in-place)")
    ap.add_argument("--demo", action="store_true", help="serve the demo library (loaded into --work once)")
    ap.add_argument("--in-place", action="store_true", help="serve --data-dir itself instead of a copy")
    ap.add_argument("--work", type=Path, default=Path("/tmp/thuvien-load"), help="scratch dir: copies, logs")
    ap.add_argument("--models-dir", type=Path, default=None, help="model artefacts (default: var/models)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load per step")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of unrecorded load per endpoint first")
    ap.add_argument(
        "--users",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[8, 32, 64],
        help="concurrent users per step, comma-separated",
    )
    ap.add_argument("--queries", type=int, default=600, help="size of the search query pool")
    ap.add_argument("--timeout", type=float, default=60.0, help="client timeout of one request (s)")
    ap.add_argument("--start-timeout", type=float, default=600.0, help="seconds a topology may take to be ready")
    ap.add_argument(
        "--topologies", default="embedded,distributed", help="which to run, in order (default: both, embedded first)"
    )
    args = ap.parse_args()
    if args.models_dir is None:
        args.models_dir = REPO / "var" / "models"
    data_dir = prepare_data_dir(args)
    if (data_dir / "models" / "current.json").exists() and args.models_dir == REPO / "var" / "models":
        args.models_dir = data_dir / "models"
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    search_qs, ask_qs = build_queries(data_dir, args.queries, seed=1)
    print(f"data dir {data_dir}; {len(search_qs)} search queries, {len(ask_qs)} questions; users {args.users}")

    starters = {"embedded": start_embedded, "distributed": start_distributed}
    results: dict[str, dict] = {}
    stats: dict = {}
    for topo in [t.strip() for t in args.topologies.split(",") if t.strip()]:
        print(f"\n== {topo} ==", flush=True)
        t0 = time.monotonic()
        url, procs = starters[topo](base_env(data_dir, args.models_dir), logs, args.start_timeout)
        try:
            ready_s = round(time.monotonic() - t0, 1)
            stats = stats or index_size(url)
            print(f"  ready in {ready_s} s ({len(procs)} process{'es' if len(procs) > 1 else ''})", flush=True)
            results[topo] = {"processes": len(procs), "ready_s": ready_s, **measure(url, args, search_qs, ask_qs)}
            results[topo]["load_average_after"] = load_average()
        finally:
            stop_all(procs)

    ratios: dict[str, float | None] = {}
    if "embedded" in results and "distributed" in results:
        for users in args.users:
            e = results["embedded"]["search"][str(users)]["throughput_rps"]
            d = results["distributed"]["search"][str(users)]["throughput_rps"]
            ratios[str(users)] = round(d / e, 3) if e else None
    errors_at_32 = (
        sum(results[t][ep]["32"]["errors"] for t in results for ep in ("search", "ask")) if 32 in args.users else None
    )

    print(
        f"\n{'topology':<12} {'endpoint':<7} {'users':>5} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7}"
    )
    for topo, res in results.items():
        for endpoint in ("search", "ask"):
            for users in args.users:
                s = res[endpoint][str(users)]
                print(
                    f"{topo:<12} {endpoint:<7} {users:>5} {s['throughput_rps']:>8.2f} {s['p50_ms']!s:>8} "
                    f"{s['p95_ms']!s:>8} {s['p99_ms']!s:>8} {s['errors']:>7}"
                )
    worst = min((r for r in ratios.values() if r is not None), default=None)
    for users, r in ratios.items():
        print(f"distributed/embedded search throughput at {users} users: {r}")
    if worst is not None:
        print(
            f"target: distributed search throughput >= {TARGET_RATIO:.0%} of embedded at every level:",
            worst >= TARGET_RATIO,
            f"(lowest ratio {worst})",
        )
    if errors_at_32 is not None:
        print("target: zero errors at 32 users:", errors_at_32 == 0, f"({errors_at_32} errors)")
    catalog = stats.get("catalog", {}) if isinstance(stats, dict) else {}
    index = stats.get("index", {}) if isinstance(stats, dict) else {}
    print(
        json.dumps(
            {
                "bench": "load",
                "data_dir": str(args.data_dir or data_dir),
                "records": catalog.get("records"),
                "index_documents": index.get("documents"),
                "duration_s": args.duration,
                "users": args.users,
                "cores": os.cpu_count(),
                "results": results,
                "search_throughput_ratio": ratios,
                "search_throughput_ratio_min": worst,
                "target_ratio": TARGET_RATIO,
                "ratio_target_met": None if worst is None else worst >= TARGET_RATIO,
                "errors_at_32_users": errors_at_32,
                "zero_errors_at_32_users": None if errors_at_32 is None else errors_at_32 == 0,
                "load_average_end": load_average(),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
