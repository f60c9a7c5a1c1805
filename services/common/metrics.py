"""Prometheus metrics of every thuvien service (prometheus-client, the process-wide default registry).

* ``thuvien_http_requests_total{service, method, route, status}``: requests answered, per route template
  (``/api/v1/records/{library_id}/{record_id}``, never the raw path, so label values stay few);
* ``thuvien_http_request_duration_seconds{service, method, route, status}``: latency histogram;
* ``thuvien_http_requests_in_flight{service}``;
* ``thuvien_model_inference_seconds{service, model, kind}``: time spent inside a model call (the embedding
  service observes it around every encoder call), with ``thuvien_model_inference_items_total``;
* ``thuvien_client_requests_total{target, outcome}``, ``thuvien_client_retries_total{target}`` and
  ``thuvien_circuit_breaker_state{target}`` (0 closed, 1 open, 2 half-open) for calls between services.

In the embedded topology all services share one process, so the gateway's ``/metrics`` shows every service,
told apart by the ``service`` label; in the distributed topology each process shows its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "thuvien_http_requests",
    "HTTP requests answered, per service, method, route template and status.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "thuvien_http_request_duration_seconds",
    "Time to answer an HTTP request (until the last byte), per service, method, route template and status.",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
HTTP_IN_FLIGHT = Gauge("thuvien_http_requests_in_flight", "HTTP requests being answered.", ["service"])
MODEL_INFERENCE = Histogram(
    "thuvien_model_inference_seconds",
    "Time spent in one model call (e.g. one encoder batch), per service, model and kind.",
    ["service", "model", "kind"],
    buckets=INFERENCE_BUCKETS,
)
MODEL_ITEMS = Counter(
    "thuvien_model_inference_items", "Items (texts) passed through a model.", ["service", "model", "kind"]
)
CLIENT_REQUESTS = Counter(
    "thuvien_client_requests",
    "Calls to another service, by outcome: ok, http_error, transport_error, breaker_open, bad_url.",
    ["target", "outcome"],
)
CLIENT_RETRIES = Counter("thuvien_client_retries", "Retries of idempotent calls to another service.", ["target"])
BREAKER_STATE = Gauge(
    "thuvien_circuit_breaker_state", "Circuit breaker of calls to a service: 0 closed, 1 open, 2 half-open.", ["target"]
)


@contextmanager
def observe_inference(service: str, model: str, kind: str = "", items: int = 0) -> Iterator[None]:
    """Time a model call: ``with observe_inference("embedding", encoder.model_id, "query", len(texts)): ...``."""
    start = perf_counter()
    try:
        yield
    finally:
        MODEL_INFERENCE.labels(service, model, kind).observe(perf_counter() - start)
        if items:
            MODEL_ITEMS.labels(service, model, kind).inc(items)


def metrics_response() -> Response:
    """The Prometheus text exposition of every metric of this process."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
