"""The whole suite as separate processes (issue #2, item 5), with PostgreSQL and Redis.

Every service runs as its own ``thuvien serve SERVICE`` process on a loopback port, each with its own data
dir: nothing is shared through files except the (read-only) model artefacts. The catalogue and the loans
live in a fresh PostgreSQL database made for this run (dropped after); Redis is one numbered database
(flushed after). Through the gateway: import the demo library, search, ask, loans in, recommend (after
``thuvien recommender train``), suggest subjects (after ``thuvien subjects train-catalog``). Then the
search process is killed: search answers 503 naming it while record lookup and the rest keep working;
restarted on the same port, everything recovers.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.distributed.conftest import REPO, ServiceProcess, free_port, start_service
from tests.distributed.test_observability import wait_ready

PG_ADMIN_URL = os.environ.get("THUVIEN_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_BASE_URL = os.environ.get("THUVIEN_TEST_REDIS_BASE_URL", "redis://127.0.0.1:6379")
REDIS_DB = int(os.environ.get("THUVIEN_TEST_REDIS_DB", "13"))
MODELS = REPO / "var" / "models"
DEMO = REPO / "demo"
LIBRARY = "tv-bacgiang"
SERVICES = ("nlp", "catalog", "embedding", "search", "qa", "recommender", "subjects", "gateway")
COOLDOWN_S = 2.0
PROBLEM = "application/problem+json"


# ------------------------------------------------------------------------------------------- the stores


@pytest.fixture(scope="module")
def pg_url() -> str:
    """A fresh PostgreSQL database for this run, dropped afterwards (open connections included)."""
    from sqlalchemy import create_engine, text

    name = f"thuvien_it_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the house rule: PostgreSQL is part of this machine; its absence is a failure
        admin.dispose()
        pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is needed for the multi-process test: {exc}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def redis_url() -> str:
    import redis

    url = f"{REDIS_BASE_URL}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is needed for the multi-process test: {exc}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def pg_count(pg_url: str, table: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------- topology


@dataclass
class Topology:
    tmp: Path
    env: dict[str, str]
    ports: dict[str, int]
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return self.procs["gateway"].url

    def start(self, name: str) -> ServiceProcess:
        svc = start_service(name, self.tmp, self.env, port=self.ports[name], timeout=180)
        self.procs[name] = svc
        return svc

    def data_dir(self, name: str) -> Path:
        return self.tmp / f"data-{name}"

    def cli(self, service: str, *args: str) -> subprocess.CompletedProcess:
        """``thuvien ARGS`` as the operator runs it next to SERVICE: its data dir, the same stores."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("THUVIEN_")}
        env.update(self.env)
        env["THUVIEN_DATA_DIR"] = str(self.data_dir(service))
        env["THUVIEN_LOG_JSON"] = "false"
        return subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )

    def get(self, path: str, *, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
        return httpx.get(f"{self.gateway}{path}", headers={**self.headers, **(headers or {})}, timeout=120, **kw)

    def post(self, path: str, *, headers: dict[str, str] | None = None, **kw) -> httpx.Response:
        return httpx.post(f"{self.gateway}{path}", headers={**self.headers, **(headers or {})}, timeout=300, **kw)

    def stop(self) -> None:
        for svc in reversed(list(self.procs.values())):
            svc.stop()


@pytest.fixture(scope="module")
def topology(tmp_module: Path, pg_url: str, redis_url: str) -> Topology:
    if not (MODELS / "current.json").is_file():
        pytest.fail(f"no model artefacts at {MODELS}; run `thuvien models build` (make models) first")
    ports = {name: free_port() for name in SERVICES}
    urls = {f"THUVIEN_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}" for name in SERVICES if name != "gateway"}
    env = {
        **urls,
        "THUVIEN_DATABASE_URL": pg_url,
        "THUVIEN_REDIS_URL": redis_url,
        "THUVIEN_MODELS_DIR": str(MODELS),
        # As deployed (k8s/base/config.yaml): roles enforced, the per-IP limit shared by the replicas in Redis.
        "THUVIEN_AUTH_ENABLED": "true",
        "THUVIEN_RATE_LIMIT_PER_MINUTE": "100000",
        "THUVIEN_SERVICE_TIMEOUT_S": "120",  # an import embeds the whole demo library in one request
        "THUVIEN_SERVICE_RETRIES": "1",
        "THUVIEN_SERVICE_RETRY_BACKOFF_S": "0.05",
        "THUVIEN_SERVICE_BREAKER_FAILURES": "3",
        "THUVIEN_SERVICE_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
    }
    topo = Topology(tmp_module, env, ports)
    # The deploy steps (the Kubernetes Job before the pods start): the schema, then an admin key.
    upgraded = topo.cli("gateway", "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr[-2000:]
    created = topo.cli("gateway", "keys", "create", "--role", "admin", "--name", "full-topology-test", "--json")
    assert created.returncode == 0, created.stderr[-2000:]
    topo.headers = {"X-API-Key": json.loads(created.stdout)["key"]}
    try:
        # All at once: each one finds the others at their URLs once they answer (2 cores, so this mostly
        # overlaps the imports and model loads).
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            list(pool.map(topo.start, SERVICES))
        for name in SERVICES:
            wait_ready(topo.procs[name].url, timeout=180)
        yield topo
    finally:
        topo.stop()


# ------------------------------------------------------------------------------------------------ helpers


def demo_rows() -> list[dict]:
    rows = []
    for name in ("records.jsonl", "documents.jsonl"):
        for line in (DEMO / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    return rows


def demo_loans() -> list[dict]:
    with open(DEMO / "loans.synthetic.csv", encoding="utf-8", newline="") as fh:
        return [
            {
                "patron_id": r["patron_id"],
                "record_id": r["record_id"],
                "library_id": r["library_id"],
                "date": r["date"] or None,
                "rating": float(r["rating"]) if r["rating"] else None,
            }
            for r in csv.DictReader(fh)
        ]


def assert_problem(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["detail"]
    return body


def hit_ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text[:500]
    return [f"{h['library_id']}/{h['id']}" for h in resp.json()["hits"]]


# -------------------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def imported(topology: Topology) -> dict:
    """The demo library (catalogue records and digitized documents) in through the gateway, as JSONL."""
    rows = demo_rows()
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode("utf-8")
    resp = topology.post(
        "/api/v1/records",
        params={"library_id": LIBRARY},
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 200, resp.text[:1000]
    summary = resp.json()
    assert not summary["errors"], summary["errors"][:3]
    assert summary["imported"] + summary["updated"] + summary["skipped"] == len(rows)
    return {"summary": summary, "rows": rows}


def test_every_service_is_its_own_live_and_ready_process(topology: Topology) -> None:
    pids = {svc.proc.pid for svc in topology.procs.values()}
    assert len(pids) == len(SERVICES)
    for name, svc in topology.procs.items():
        assert svc.proc.poll() is None, name
        assert httpx.get(f"{svc.url}/healthz", timeout=10).json() == {"status": "ok", "service": name}
        assert httpx.get(f"{svc.url}/readyz", timeout=10).status_code == 200
    health = topology.get("/api/v1/health").json()
    assert health == {"status": "ok", "services": dict.fromkeys(SERVICES[:-1], "ok")}, health


def test_import_through_the_gateway_lands_in_postgresql_and_the_search_process(
    topology: Topology, imported: dict, pg_url: str
) -> None:
    n = len(imported["rows"])
    anonymous = httpx.post(
        f"{topology.gateway}/api/v1/records",
        content=b'{"id": "anon-1", "title": "Kh\xc3\xb4ng \xc4\x91\xc6\xb0\xe1\xbb\xa3c ghi"}',
        params={"library_id": LIBRARY},
        headers={"Content-Type": "application/x-ndjson"},
        timeout=60,
    )
    assert_problem(anonymous, 401)  # roles are enforced: no key, no write
    stats = topology.get("/api/v1/stats").json()
    assert stats["catalog"]["records"] == n and stats["catalog"]["pending"] == 0
    assert stats["index"]["records"] == n
    # The catalogue is in PostgreSQL (the database made for this run), not in a file of a data dir; so are the
    # API keys and the audit log (the import above is in it), under the migrations' schema version.
    assert pg_count(pg_url, "records") == n
    assert pg_count(pg_url, "thuvien_api_keys") == 1
    assert pg_count(pg_url, "thuvien_audit_log") >= 2  # the key's creation and the import
    assert pg_count(pg_url, "alembic_version") == 1
    assert not list(topology.data_dir("catalog").glob("*.sqlite3"))
    assert not list(topology.data_dir("gateway").glob("*.sqlite3"))
    # The index lives with the search process.
    assert any(topology.data_dir("search").joinpath("index").iterdir())
    libs = {lib["id"] for lib in topology.get("/api/v1/libraries").json()}
    assert {row["library_id"] for row in imported["rows"]} <= libs


def test_search_through_every_hop(topology: Topology, imported: dict) -> None:
    accented = topology.get("/api/v1/search", params={"q": "Tắt đèn Ngô Tất Tố", "k": 5})
    plain = topology.get("/api/v1/search", params={"q": "tat den ngo tat to", "k": 5})
    assert hit_ids(accented) and hit_ids(plain)
    assert plain.json()["hits"][0]["title"] == accented.json()["hits"][0]["title"]
    assert plain.json()["did_you_mean"]  # the diacritics restored by the nlp process
    top = accented.json()["hits"][0]
    record = topology.get(f"/api/v1/records/{top['library_id']}/{top['id']}")
    assert record.status_code == 200 and record.json()["title"] == top["title"]
    passages = topology.get("/api/v1/search", params={"q": "giờ mở cửa thư viện thứ Bảy"}).json()
    assert any(h["passages"] for h in passages["hits"]), "digitized documents give passages"
    bad = topology.get("/api/v1/search", params={"q": "x" * 5000})
    assert_problem(bad, 422)


def test_ask_through_the_qa_process(topology: Topology, imported: dict) -> None:
    resp = topology.post("/api/v1/ask", json={"question": "Ai là tác giả Tắt đèn?"})
    assert resp.status_code == 200, resp.text[:500]
    body = resp.json()
    assert not body["refused"] and body["answer"]
    assert body["citations"]
    for cited in body["citations"]:  # every citation is a record the catalogue holds
        assert topology.get(f"/api/v1/records/{cited['library_id']}/{cited['record_id']}").status_code == 200
    assert_problem(topology.post("/api/v1/ask", json={"question": ""}), 422)


@pytest.fixture(scope="module")
def trained_recommender(topology: Topology, imported: dict, pg_url: str) -> dict:
    loans = demo_loans()
    resp = topology.post("/api/v1/loans", json={"loans": loans})
    assert resp.status_code == 200, resp.text[:500]
    assert resp.json()["imported"] == len({(x["patron_id"], x["record_id"], x["library_id"], x["date"]) for x in loans})
    done = topology.cli("recommender", "recommender", "train")
    assert done.returncode == 0, done.stderr[-2000:]
    # The recommender process picks up the new model version without a restart.
    deadline = time.monotonic() + 60
    while True:
        resp = topology.get("/api/v1/patrons/P0163/recommendations", params={"k": 5})
        if resp.status_code == 200 and resp.json()["model"]:
            return {"loans": loans, "first": resp.json()}
        assert time.monotonic() < deadline, f"no trained model was picked up: {resp.status_code} {resp.text[:300]}"
        time.sleep(0.5)


def test_loans_in_postgresql_and_recommendations(topology: Topology, trained_recommender: dict, pg_url: str) -> None:
    loans = trained_recommender["loans"]
    assert not list(topology.data_dir("recommender").glob("*.sqlite3"))  # loans only in PostgreSQL
    assert pg_count(pg_url, "rec_loans") == len(
        {(x["patron_id"], x["record_id"], x["library_id"], x["date"]) for x in loans}
    )
    items = trained_recommender["first"]["items"]
    assert len(items) == 5 and all(i["title"] and i["reason"] for i in items)
    borrowed = {(x["library_id"], x["record_id"]) for x in loans if x["patron_id"] == "P0163"}
    assert not borrowed & {(i["library_id"], i["record_id"]) for i in items}  # nothing already borrowed
    for item in items:  # recommended records exist in the catalogue
        assert topology.get(f"/api/v1/records/{item['library_id']}/{item['record_id']}").status_code == 200
    anonymous = topology.post(
        "/api/v1/recommendations", json={"history": [{"record_id": "bg-000001", "library_id": LIBRARY}], "k": 3}
    )
    assert anonymous.status_code == 200 and len(anonymous.json()["items"]) == 3


@pytest.fixture(scope="module")
def trained_subjects(topology: Topology, imported: dict) -> None:
    done = topology.cli("subjects", "subjects", "train-catalog", "--data-dir", str(topology.data_dir("subjects")))
    assert done.returncode == 0, done.stderr[-2000:]


def test_suggest_subjects_through_the_subjects_process(topology: Topology, trained_subjects: None) -> None:
    text = "Tiểu thuyết về người nông dân nghèo ở làng quê Bắc Bộ bị dồn đến đường cùng vì sưu thuế trước Cách mạng."
    resp = topology.post("/api/v1/subjects/suggest", json={"text": text, "vocab": "chu-de", "limit": 5})
    assert resp.status_code == 200, resp.text[:500]
    results = resp.json()["results"]
    assert 1 <= len(results) <= 5
    assert all(r["uri"].startswith("http://thuvien.local/chu-de/") and r["label"] for r in results)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    ddc = topology.post("/api/v1/subjects/suggest", json={"text": text, "vocab": "ddc", "limit": 3})
    assert ddc.status_code == 200 and ddc.json()["results"]


def redis_keys(redis_url: str, pattern: str) -> list[str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return [k.decode() for k in client.scan_iter(match=pattern)]
    finally:
        client.close()


def drop_cached_results(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = [k for k in redis_keys(redis_url, "thuvien:search:*") if k != "thuvien:search:gen"]
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def test_redis_holds_the_shared_search_cache_and_rate_limits(
    topology: Topology, imported: dict, redis_url: str
) -> None:
    params = {"q": "Truyện Kiều Nguyễn Du", "k": 7}
    first = topology.get("/api/v1/search", params=params)
    second = topology.get("/api/v1/search", params=params)
    assert hit_ids(first) == hit_ids(second) and hit_ids(first)
    assert redis_keys(redis_url, "thuvien:search:gen")  # bumped by the import's index change
    assert len(redis_keys(redis_url, "thuvien:search:*")) >= 2  # the generation and the cached results
    assert redis_keys(redis_url, "thuvien:ratelimit:*")  # the per-IP buckets, shared by gateway replicas


def test_search_down_is_503_naming_it_while_the_rest_works_then_recovers(
    topology: Topology, imported: dict, trained_recommender: dict, trained_subjects: None
) -> None:
    params = {"q": "tat den ngo tat to", "k": 5}
    before = hit_ids(topology.get("/api/v1/search", params=params))
    fresh = {"q": "lich su Bac Giang", "k": 5}  # never asked before, so not in the shared cache
    asked = topology.post("/api/v1/ask", json={"question": "Ai là tác giả Tắt đèn?"})
    assert asked.status_code == 200

    search = topology.procs["search"]
    search.proc.kill()  # SIGKILL: no goodbye
    search.proc.wait(timeout=10)

    for lang in ("vi", "en"):
        down = topology.get("/api/v1/search", params=fresh, headers={"Accept-Language": lang})
        body = assert_problem(down, 503)
        assert body["service"] == "search" and "search" in body["detail"]
    # A result already in the shared cache is still served (the cache is of results, not of the service).
    assert hit_ids(topology.get("/api/v1/search", params=params)) == before
    # Ask needs search too (through the qa process): a 503, never a 500 nor a hang.
    assert_problem(topology.post("/api/v1/ask", json={"question": "Ai là tác giả Tắt đèn?"}), 503)
    # Everything that does not need search keeps working.
    record = topology.get(f"/api/v1/records/{LIBRARY}/bg-000001")
    assert record.status_code == 200 and record.json()["title"] == "Tắt đèn"
    assert topology.get("/api/v1/libraries").status_code == 200
    assert topology.get("/api/v1/patrons/P0163/recommendations", params={"k": 5}).status_code == 200
    suggest = topology.post("/api/v1/subjects/suggest", json={"text": "Truyện Kiều", "vocab": "chu-de", "limit": 3})
    assert suggest.status_code == 200
    health = topology.get("/api/v1/health").json()
    assert health["status"] == "degraded" and health["services"]["search"] == "unavailable"
    assert health["services"]["catalog"] == "ok"
    gateway = topology.procs["gateway"]
    assert gateway.proc.poll() is None and topology.procs["qa"].proc.poll() is None  # no crash anywhere

    topology.start("search")  # the same port and data dir: its saved index
    wait_ready(topology.procs["search"].url, timeout=120)
    time.sleep(COOLDOWN_S + 0.5)  # the gateway's and qa's circuit breakers let a trial call through
    deadline = time.monotonic() + 30
    while (resp := topology.get("/api/v1/search", params=fresh)).status_code != 200:
        assert time.monotonic() < deadline, resp.text[:500]
        time.sleep(0.5)
    assert hit_ids(resp)
    drop_cached_results(topology.env["THUVIEN_REDIS_URL"])  # so the next answer comes from the restarted process
    assert hit_ids(topology.get("/api/v1/search", params=params)) == before
    deadline = time.monotonic() + 30
    while (asked := topology.post("/api/v1/ask", json={"question": "Ai là tác giả Tắt đèn?"})).status_code != 200:
        assert time.monotonic() < deadline, asked.text[:500]
        time.sleep(0.5)
    assert asked.json()["citations"]
    assert topology.get("/api/v1/health").json()["status"] == "ok"
    gateway.wait_log(lambda d: "answers again" in d.get("message", "") and "search" in d["message"])
