"""Recommender serving latency and training time on the full Book-Crossing data (issue 8).

Run: ``.venv/bin/python bench/recsys_latency.py`` (``--help`` for options).

1. **Training time.** Every Book-Crossing rating (implicit 0s and explicit 1–10, all users: the
   whole ``ratings.csv.gz``) goes into a loans store (SQLite, library ``bx``), every book of
   ``books.csv.gz`` into the catalogue records, and :func:`recommender.training.train` runs as
   ``thuvien recommender train`` does: validation split, component fits, fusion-weight tuning, refit
   on all loans, versioned model written. Its wall time is the figure for "a training run on 1M
   interactions takes at most 5 minutes". Book-Crossing holds only 708,008 ratings, so
   ``--interactions 1000000`` builds the 1M set from real data: every real rating, then whole
   rating histories of real users drawn uniformly with replacement (``numpy.random.default_rng``
   seeded 20261125, over the user ids in ascending string order), each copied under a new
   pseudonymous patron id ``resampled-NNNNNN``, until exactly 1,000,000 (the last copy is cut
   short). The bench prints how many copies were made. Without the flag, only the real ratings are
   used and the time scaled linearly to 1M is printed, marked as an extrapolation.
   ``--embeddings`` is ``thuvien recommender train --embeddings``: ``auto`` (the default) uses no
   encoder for a catalogue over 2,000 records, as the command does; ``on`` embeds every record
   with the default encoder through the embedding cache in ``--cache-dir``.
2. **Latency.** That model is served by the recommender service app behind the gateway's public
   route ``POST /api/v1/recommendations`` (gateway router -> ``RecommenderClient`` -> service app,
   in process through ``httpx.ASGITransport``: the embedded topology), with the full Book-Crossing
   item set loaded. Requests are the histories of randomly drawn Book-Crossing users (fixed seed),
   k = 20, one at a time; wall p50/p95 and process CPU per request are reported with the load
   average, since the machine is shared.

Prints ratios to the targets and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gzip
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 20261125
LATENCY_TARGET_MS = 30.0
TRAIN_TARGET_S = 300.0
MAX_HISTORY = 2000  # RecommendRequest.history max_length


@dataclass
class BookRecord:
    """What training reads of a catalogue record (a lightweight stand-in for ``catalog.model.Record``)."""

    id: str
    title: str
    authors: list[str]
    library_id: str = "bx"
    subjects: list[str] = field(default_factory=list)
    available: int = 1


def shared_data() -> Path:
    env = os.environ.get("THUVIEN_SHARED_DATA")
    return Path(env) if env else ROOT / ".." / "shared" / "data"


def load(data: Path):
    with gzip.open(data / "bookcrossing" / "books.csv.gz", "rt", encoding="utf-8") as f:
        books = [
            BookRecord(r["isbn"], r["title"] or r["isbn"], [r["author"]] if r["author"] else [])
            for r in csv.DictReader(f)
        ]
    with gzip.open(data / "bookcrossing" / "ratings.csv.gz", "rt", encoding="utf-8") as f:
        ratings = [(r["user_id"], r["isbn"], float(r["rating"])) for r in csv.DictReader(f)]
    return books, ratings


def upsample(ratings: list, target: int, seed: int = SEED) -> tuple[list, int]:
    """All real ratings, then copies of whole real histories under new pseudonymous ids until ``target``."""
    by_user: dict[str, list] = defaultdict(list)
    for u, i, r in ratings:
        by_user[u].append((i, r))
    users = sorted(by_user)
    rng = np.random.default_rng(seed)
    out, copies = list(ratings), 0
    while len(out) < target:
        u = users[int(rng.integers(len(users)))]
        pid = f"resampled-{copies:06d}"
        out.extend((pid, i, r) for i, r in by_user[u][: target - len(out)])
        copies += 1
    return out, copies


def fill_store(url: str, ratings) -> tuple[object, float]:
    from recommender.loans_store import Loan, LoansStore

    store = LoansStore(url)
    if store.count() >= len(ratings):
        return store, 0.0
    t = time.perf_counter()
    batch = 50_000
    for s in range(0, len(ratings), batch):
        store.add(
            Loan.model_construct(patron_id=u, record_id=i, library_id="bx", date=None, rating=r)
            for u, i, r in ratings[s : s + batch]
        )
    return store, time.perf_counter() - t


def time_requests(data_dir: Path, histories: list[list[str]], k: int) -> dict:
    import httpx

    from services.common.app import make_app
    from services.gateway.routes_recommender import router
    from services.recommender import create_app
    from services.recommender.client import RecommenderClient

    service = create_app(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    app = make_app("gateway-bench", [router])  # the gateway's public route, the service behind its client
    app.state.clients = {"recommender": RecommenderClient("recommender", app=service)}

    def body(h):
        return {"history": [{"record_id": i, "library_id": "bx"} for i in h], "k": k}

    async def run():
        wall, cpu, load_s = [], [], 0.0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rec") as client:
            t = time.perf_counter()
            r = await client.post("/api/v1/recommendations", json=body(histories[0]))  # first call loads the model
            load_s = time.perf_counter() - t
            r.raise_for_status()
            for h in histories[:5]:  # warm-up, not timed
                (await client.post("/api/v1/recommendations", json=body(h))).raise_for_status()
            for h in histories:
                t0, c0 = time.perf_counter(), time.process_time()
                r = await client.post("/api/v1/recommendations", json=body(h))
                wall.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
                r.raise_for_status()
                if len(r.json()["items"]) != k:
                    raise RuntimeError(f"expected {k} items, got {len(r.json()['items'])}")
        return np.array(wall), np.array(cpu), load_s

    wall, cpu, load_s = asyncio.run(run())
    return {
        "requests": len(wall),
        "p50_ms": round(float(np.percentile(wall, 50)), 2),
        "p95_ms": round(float(np.percentile(wall, 95)), 2),
        "max_ms": round(float(wall.max()), 2),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
        "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
        "model_load_s": round(load_s, 2),
        "path": "POST /api/v1/recommendations: gateway router -> RecommenderClient -> service app (ASGI)",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=None, help="data dir (loans store, models); temp dir by default")
    ap.add_argument("--skip-train", action="store_true", help="serve the newest model already in --data-dir")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--ease-items", type=int, default=10_000, help="as `thuvien recommender train --ease-items`")
    ap.add_argument(
        "--interactions",
        type=int,
        default=None,
        help="train on this many interactions: the real ratings plus resampled real histories under new ids",
    )
    ap.add_argument(
        "--embeddings",
        choices=("auto", "on", "off"),
        default="auto",
        help="as `thuvien recommender train --embeddings` (auto: none above 2,000 records)",
    )
    ap.add_argument("--backend", default="onnx-int8", help="embedding backend with --embeddings on")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "var" / "models")
    ap.add_argument("--cache-dir", type=Path, default=None, help="embedding cache (default <data-dir>/cache)")
    args = ap.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="thuvien-recsys-lat-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    books, ratings = load(shared_data())
    n_explicit = sum(1 for _, _, r in ratings if r > 0)
    print(
        f"{len(ratings)} ratings ({n_explicit} explicit, {len(ratings) - n_explicit} implicit), "
        f"{len({u for u, _, _ in ratings})} users, {len(books)} books; read in {time.perf_counter() - t:.0f}s",
        file=sys.stderr,
    )
    real_ratings, copies = ratings, 0
    if args.interactions and args.interactions > len(ratings):
        ratings, copies = upsample(real_ratings, args.interactions)
        print(
            f"{len(ratings)} interactions: {len(real_ratings)} real ratings + {len(ratings) - len(real_ratings)} "
            f"from {copies} resampled real users under new pseudonymous ids",
            file=sys.stderr,
        )
    url = f"sqlite:///{data_dir / 'catalog.sqlite3'}"
    store, fill_s = fill_store(url, ratings)
    print(f"loans store: {store.count()} loans (filled in {fill_s:.0f}s)", file=sys.stderr)

    train_info = None
    if not args.skip_train:
        from recommender.training import train

        encoder = None
        if args.embeddings == "on" or (args.embeddings == "auto" and len(books) <= 2000):
            from embeddings.cache import CachedEncoder
            from embeddings.factory import get_encoder

            encoder = CachedEncoder(
                get_encoder(args.backend, args.models_dir), args.cache_dir or data_dir / "cache", progress=True
            )
        t, c = time.perf_counter(), time.process_time()
        version, meta = train(
            store, data_dir / "recommender", records=books, ease_items=args.ease_items, encoder=encoder
        )
        wall_s, cpu_s = time.perf_counter() - t, time.process_time() - c
        n = int(meta["loans"])
        train_info = {
            "version": version,
            "interactions": n,
            "patrons": int(meta["patrons"]),
            "items": int(meta["items"]),
            "wall_s": round(wall_s, 1),
            "cpu_s": round(cpu_s, 1),
            "wall_s_per_1M_linear_extrapolation": round(wall_s * 1_000_000 / n, 1),
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "weights_tuned": bool(meta.get("weights_tuned")),
            "encoder": meta.get("encoder"),
            "step_seconds": meta.get("step_seconds"),
            "real_ratings": len(real_ratings),
            "resampled_users": copies,
            "resampled_interactions": len(ratings) - len(real_ratings),
            "how": "all real ratings + whole histories of real users drawn uniformly with replacement "
            f"(default_rng({SEED}), user ids in ascending order) under new pseudonymous ids, last copy cut"
            if copies
            else "real ratings only",
        }
        print(
            f"training run: {wall_s:.0f}s wall ({cpu_s:.0f}s CPU) on {n} interactions, {meta['patrons']} patrons, "
            f"{meta['items']} items; load {os.getloadavg()[0]:.2f}",
            file=sys.stderr,
        )

    users: dict[str, list[str]] = defaultdict(list)
    for u, i, _ in real_ratings:  # real patrons only
        users[u].append(i)
    # the protocol's users (at least 5 interactions); a history longer than the API's limit is cut to it
    ids = sorted(u for u, h in users.items() if len(h) >= 5)
    rng = np.random.default_rng(SEED)
    picked = rng.choice(len(ids), size=min(args.requests, len(ids)), replace=False)
    histories = [users[ids[j]][:MAX_HISTORY] for j in picked]
    lat = time_requests(data_dir, histories, args.k)
    load_avg = [round(x, 2) for x in os.getloadavg()]
    print(
        f"latency over {lat['requests']} requests: p50 {lat['p50_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms "
        f"(CPU p50 {lat['cpu_p50_ms']:.1f}, p95 {lat['cpu_p95_ms']:.1f} ms); load average {load_avg}"
    )
    print(f"latency p95 / target ({LATENCY_TARGET_MS:.0f} ms): {lat['p95_ms'] / LATENCY_TARGET_MS:.3f} (≤ 1 passes)")
    if train_info:
        print(
            f"training {train_info['wall_s']:.0f}s on {train_info['interactions']} interactions "
            f"({train_info['real_ratings']} real + {train_info['resampled_interactions']} resampled; "
            f"encoder {train_info['encoder']}); / target ({TRAIN_TARGET_S:.0f} s): "
            f"{train_info['wall_s'] / TRAIN_TARGET_S:.3f}; linear extrapolation to 1M: "
            f"{train_info['wall_s_per_1M_linear_extrapolation']:.0f}s"
        )
    print(
        json.dumps(
            {
                "bench": "recsys-latency",
                "dataset": "bookcrossing (all ratings)",
                "ratings": len(ratings),
                "books": len(books),
                "latency": lat,
                "latency_p95_ratio_to_target": round(lat["p95_ms"] / LATENCY_TARGET_MS, 3),
                "train": train_info,
                "train_ratio_to_target": round(train_info["wall_s"] / TRAIN_TARGET_S, 3) if train_info else None,
                "load_avg": load_avg,
                "cpus": os.cpu_count(),
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
