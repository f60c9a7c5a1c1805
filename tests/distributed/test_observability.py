"""The suite as separate processes: probes, metrics, request ids, retries, circuit breaker, 503s.

One real nlp service (``thuvien serve nlp``) and one real gateway (``thuvien serve gateway``) on loopback.
The gateway keeps only the catalogue in process; nlp is the real process; recommender is a fault-injecting
server; embedding, search and qa point at a port where nothing listens; subjects at a wrong URL. So no
embedding model is loaded, and every fault is real: refused connections, dropped connections, bad URLs.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.distributed.conftest import FaultServer, ServiceProcess, free_port, start_service

COOLDOWN_S = 2.0
REC_BODY = {"items": [], "model": "fault-server", "warnings": []}


@pytest.fixture(scope="module")
def nlp(tmp_module) -> ServiceProcess:
    svc = start_service("nlp", tmp_module, {})
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def recommender() -> FaultServer:
    server = FaultServer(REC_BODY)
    yield server
    server.close()


@pytest.fixture(scope="module")
def gateway(tmp_module, nlp: ServiceProcess, recommender: FaultServer) -> ServiceProcess:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "THUVIEN_NLP_URL": nlp.url,
        "THUVIEN_RECOMMENDER_URL": recommender.url,
        "THUVIEN_EMBEDDING_URL": dead,
        "THUVIEN_SEARCH_URL": dead,
        "THUVIEN_QA_URL": dead,
        "THUVIEN_SUBJECTS_URL": "ftp://subjects.invalid",
        "THUVIEN_SERVICE_RETRIES": "2",
        "THUVIEN_SERVICE_RETRY_BACKOFF_S": "0.05",
        "THUVIEN_SERVICE_BREAKER_FAILURES": "5",
        "THUVIEN_SERVICE_BREAKER_COOLDOWN_S": str(COOLDOWN_S),
        "THUVIEN_SERVICE_TIMEOUT_S": "10",
    }
    svc = start_service("gateway", tmp_module, env)
    yield svc
    svc.stop()


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text exposition (0.0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', line[: line.rindex("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_ready(url: str, timeout: float = 90.0) -> tuple[httpx.Response, list[httpx.Response]]:
    """Poll /readyz until 200; returns the 200 and every 503 seen on the way."""
    not_ready = []
    deadline = time.monotonic() + timeout
    while True:
        resp = httpx.get(f"{url}/readyz", timeout=10)
        if resp.status_code == 200:
            return resp, not_ready
        assert resp.status_code == 503, resp.text
        not_ready.append(resp)
        assert time.monotonic() < deadline, f"not ready after {timeout} s: {resp.text}"
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------------ probes


def test_healthz_and_readyz_of_a_service_process(nlp: ServiceProcess) -> None:
    live = httpx.get(f"{nlp.url}/healthz")
    assert live.status_code == 200
    assert live.json() == {"status": "ok", "service": "nlp"}
    ready, not_ready = wait_ready(nlp.url)
    assert ready.json()["checks"] == {"models": "ok"}
    for resp in not_ready:  # while the language models load
        assert resp.headers["content-type"].startswith("application/problem+json")
        body = resp.json()
        assert body["service"] == "nlp" and body["not_ready"] == ["models"]
        assert "chưa sẵn sàng" in body["detail"]


def test_gateway_probes_and_old_health_route(gateway: ServiceProcess) -> None:
    assert httpx.get(f"{gateway.url}/healthz").json() == {"status": "ok", "service": "gateway"}
    ready, _ = wait_ready(gateway.url)
    assert ready.json()["checks"] == {"catalog": "ok"}  # the services in process: the catalogue store
    health = httpx.get(f"{gateway.url}/api/v1/health", timeout=30).json()
    assert health["status"] == "degraded"
    assert health["services"]["nlp"] == "ok" and health["services"]["catalog"] == "ok"
    assert health["services"]["embedding"] == "unavailable"


def test_readyz_names_what_is_not_ready_in_english_too() -> None:
    from fastapi.testclient import TestClient

    from services.common.app import make_app

    app = make_app("demo", readiness_checks={"store": lambda: "database is down", "models": lambda: True})
    with TestClient(app) as client:
        resp = client.get("/readyz", headers={"Accept-Language": "en"})
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["not_ready"] == ["store"] and body["checks"]["models"] == "ok"
    assert "store: database is down" in body["detail"] and "not ready" in body["detail"]


# ----------------------------------------------------------------------------------------------- metrics


def test_metrics_count_requests_per_route_template(nlp: ServiceProcess, gateway: ServiceProcess) -> None:
    labels = {"service": "nlp", "method": "POST", "route": "/v1/analyze", "status": "200"}
    before = metric(httpx.get(f"{nlp.url}/metrics").text, "thuvien_http_requests_total", **labels)
    resp = httpx.post(f"{nlp.url}/v1/analyze", json={"q": "truyện kiều"}, timeout=30)
    assert resp.status_code == 200
    text = httpx.get(f"{nlp.url}/metrics").text
    assert metric(text, "thuvien_http_requests_total", **labels) == before + 1
    assert metric(text, "thuvien_http_request_duration_seconds_count", **labels) == before + 1
    assert metric(text, "thuvien_http_request_duration_seconds_bucket", le="+Inf", **labels) == before + 1

    # The gateway labels by route template, never by raw path.
    httpx.get(f"{gateway.url}/api/v1/records/tv-x/khong-co")
    text = httpx.get(f"{gateway.url}/metrics").text
    route = "/api/v1/records/{library_id}/{record_id}"
    assert metric(text, "thuvien_http_requests_total", service="gateway", route=route, status="404") >= 1
    assert "khong-co" not in text


def test_inference_histogram_of_the_embedding_service() -> None:
    """The embedding service times every encoder call (in process: its model is too heavy to start here)."""
    import numpy as np
    from fastapi.testclient import TestClient

    from services.embedding.app import create_app

    class TinyEncoder:  # a real Encoder implementation, 4 dimensions
        model_id = "tiny-test-encoder"
        dim = 4

        def encode_queries(self, texts):
            return np.ones((len(texts), 4), dtype="float32")

        encode_passages = encode_queries

    with TestClient(create_app(TinyEncoder())) as client:
        assert client.post("/v1/embed", json={"texts": ["a", "b"], "kind": "query"}).status_code == 200
        text = client.get("/metrics").text
        assert client.get("/readyz").json()["checks"] == {"model": "ok"}
    labels = {"service": "embedding", "model": "tiny-test-encoder", "kind": "query"}
    assert metric(text, "thuvien_model_inference_seconds_count", **labels) >= 1
    assert metric(text, "thuvien_model_inference_items_total", **labels) >= 2


# ------------------------------------------------------------------------------------------- request ids


def test_request_id_round_trip_and_propagation(nlp: ServiceProcess, gateway: ServiceProcess) -> None:
    rid = f"test-{time.time_ns()}"
    resp = httpx.get(f"{gateway.url}/api/v1/search", params={"q": "truyen kieu"}, headers={"X-Request-ID": rid})
    assert resp.headers["x-request-id"] == rid
    # nlp answered (the query was analysed there, under the same id); embedding is down: 503 naming it.
    assert resp.status_code == 503 and resp.json()["service"] == "embedding"
    line = nlp.wait_log(lambda d: d.get("request_id") == rid and d.get("route") == "/v1/analyze")
    assert line["status"] == 200 and line["service"] == "nlp" and line["logger"] == "thuvien.access"
    assert isinstance(line["duration_ms"], (int, float)) and line["time"] and line["level"] == "INFO"
    gw = gateway.wait_log(lambda d: d.get("request_id") == rid and d.get("route") == "/api/v1/search")
    assert gw["status"] == 503 and gw["service"] == "gateway"

    generated = httpx.get(f"{gateway.url}/api/v1/libraries")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    unsafe = httpx.get(f"{gateway.url}/api/v1/libraries", headers={"X-Request-ID": "bad id\tinjected"})
    assert unsafe.headers["x-request-id"] != "bad id\tinjected"
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])


# ------------------------------------------------------------------- retries, breaker, 503 naming services


def test_retries_only_for_idempotent_calls(gateway: ServiceProcess, recommender: FaultServer) -> None:
    recommender.mode = "ok"  # start with a closed breaker and no failures counted (earlier tests probed it)
    assert httpx.get(f"{gateway.url}/api/v1/patrons/P1/recommendations", timeout=30).status_code == 200
    recommender.mode = "reset"
    rid = f"retry-{time.time_ns()}"
    post_before = recommender.count("POST", "/v1/recommendations")
    resp = httpx.post(
        f"{gateway.url}/api/v1/recommendations",
        json={"history": [{"record_id": "r1", "library_id": "l1"}], "k": 3},
        timeout=30,
    )
    assert resp.status_code == 503 and resp.json()["service"] == "recommender"
    assert recommender.count("POST", "/v1/recommendations") == post_before + 1  # never retried

    get_before = recommender.count("GET", "/v1/patrons/P1/recommendations")
    resp = httpx.get(f"{gateway.url}/api/v1/patrons/P1/recommendations", headers={"X-Request-ID": rid}, timeout=30)
    assert resp.status_code == 503 and resp.json()["service"] == "recommender"
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "recommender" in resp.json()["detail"]
    assert recommender.count("GET", "/v1/patrons/P1/recommendations") == get_before + 3  # 1 + 2 retries
    assert recommender.request_ids[-3:] == [rid, rid, rid]  # the id goes with every attempt

    recommender.mode = "ok"  # one success closes the count of consecutive failures again
    ok = httpx.get(f"{gateway.url}/api/v1/patrons/P1/recommendations", timeout=30)
    assert ok.status_code == 200 and ok.json()["model"] == "fault-server"


def test_breaker_opens_fails_fast_and_recovers(gateway: ServiceProcess, recommender: FaultServer) -> None:
    url = f"{gateway.url}/api/v1/patrons/P2/recommendations"
    recommender.mode = "ok"
    assert httpx.get(url, timeout=30).status_code == 200  # closed, no failures counted
    recommender.mode = "reset"
    start = recommender.count("GET", "/v1/patrons/P2")
    first = httpx.get(url, timeout=30)  # 3 attempts: 3 failures
    second = httpx.get(url, timeout=30)  # 2 more attempts: the 5th failure opens the breaker, no 3rd attempt
    assert first.status_code == second.status_code == 503
    assert recommender.count("GET", "/v1/patrons/P2") == start + 5
    text = httpx.get(f"{gateway.url}/metrics").text
    assert metric(text, "thuvien_circuit_breaker_state", target="recommender") == 1.0

    fast = httpx.get(url, headers={"Accept-Language": "en"}, timeout=30)
    assert fast.status_code == 503
    body = fast.json()
    assert body["service"] == "recommender" and body["circuit"] == "open"
    assert "recommender" in body["detail"] and "try again" in body["detail"]
    assert 1 <= int(fast.headers["retry-after"]) <= COOLDOWN_S + 1
    assert recommender.count("GET", "/v1/patrons/P2") == start + 5  # failed fast: nothing was sent

    recommender.mode = "ok"  # the service is back, but the breaker waits for its cool-down
    assert httpx.get(url, timeout=30).status_code == 503
    assert recommender.count("GET", "/v1/patrons/P2") == start + 5
    time.sleep(COOLDOWN_S + 0.3)
    recovered = httpx.get(url, timeout=30)  # half-open: the trial call goes through and closes it
    assert recovered.status_code == 200, recovered.text
    assert httpx.get(url, timeout=30).status_code == 200
    assert recommender.count("GET", "/v1/patrons/P2") == start + 7
    text = httpx.get(f"{gateway.url}/metrics").text
    assert metric(text, "thuvien_circuit_breaker_state", target="recommender") == 0.0
    gateway.wait_log(lambda d: "circuit breaker open" in d.get("message", "") and "recommender" in d["message"])
    gateway.wait_log(lambda d: "answers again" in d.get("message", "") and "recommender" in d["message"])


def test_missing_services_give_503_naming_them_while_the_rest_works(gateway: ServiceProcess) -> None:
    search = httpx.get(f"{gateway.url}/api/v1/search", params={"q": "lịch sử"}, timeout=30)
    assert search.status_code == 503
    assert search.headers["content-type"].startswith("application/problem+json")
    assert search.json()["service"] == "embedding" and "embedding" in search.json()["detail"]

    ask = httpx.post(f"{gateway.url}/api/v1/ask", json={"question": "Truyện Kiều do ai viết?"}, timeout=30)
    assert ask.status_code == 503 and ask.json()["service"] == "qa"

    wrong_url = httpx.get(f"{gateway.url}/api/v1/subjects/projects", headers={"Accept-Language": "en"}, timeout=30)
    assert wrong_url.status_code == 503 and wrong_url.json()["service"] == "subjects"
    assert "misconfigured" in wrong_url.json()["detail"]

    # The catalogue (in process) keeps working.
    assert httpx.get(f"{gateway.url}/api/v1/libraries").status_code == 200
    missing = httpx.get(f"{gateway.url}/api/v1/records/tv-x/khong-co")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200
    assert gateway.proc.poll() is None  # no crash

    # Clear start-up log lines naming the wrong or unreachable service and the setting to fix.
    bad = gateway.wait_log(lambda d: d.get("level") == "ERROR" and "THUVIEN_SUBJECTS_URL" in d.get("message", ""))
    assert "ftp://subjects.invalid" in bad["message"]
    down = gateway.wait_log(lambda d: d.get("level") == "ERROR" and "THUVIEN_EMBEDDING_URL" in d.get("message", ""))
    assert "does not answer" in down["message"]


def test_client_retries_calls_marked_idempotent_and_times_out() -> None:
    """ServiceClient against a real loopback server: a POST marked idempotent is retried, a plain POST is not;
    a service that does not answer in time is a 503 naming it."""
    import asyncio

    from services.common.client import ServiceClient
    from services.common.errors import Problem

    server = FaultServer({"ok": True}, mode="reset")

    async def scenario() -> None:
        client = ServiceClient(
            "probe-target", base_url=server.url, timeout=0.5, retries=2, retry_backoff_s=0.01, breaker_failures=100
        )
        try:
            with pytest.raises(Problem) as plain:
                await client.post_json("/v1/write", {"a": 1})
            assert server.count("POST", "/v1/write") == 1
            with pytest.raises(Problem):
                await client.post_json("/v1/read", {"a": 1}, idempotent=True)
            assert server.count("POST", "/v1/read") == 3
            assert plain.value.status == 503 and plain.value.extra["service"] == "probe-target"
            server.mode = "hang"
            started = time.monotonic()
            with pytest.raises(Problem) as slow:
                await client.post_json("/v1/slow", {})
            assert time.monotonic() - started < 2.5  # the per-call timeout, not the server's 3 s
            assert slow.value.status == 503 and "0.5" in slow.value.vi and "probe-target" in slow.value.en
            server.mode = "ok"
            assert await client.get_json("/v1/fine") == {"ok": True}
        finally:
            await client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.close()
