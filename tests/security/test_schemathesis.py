"""Schemathesis against the gateway's own OpenAPI spec: no 5xx, and every response matches what the spec says.

The gateway runs in process (ASGI) over a private copy of the security suite's data dir (the demo library plus the
hostile records), so the generated writes (imports, deletions, loans, subject feedback) touch no other test's data.
Every operation of the spec gets a bounded number of generated requests (valid and invalid ones): the checks are
"no server error", "the response body matches the schema documented for its status", "the content type is the one
documented (or problem+json, the error format of every service)" and "the status code is documented, or an error
status of the API's problem+json contract (4xx)". 401 and 403 are accepted where the spec documents them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from services.gateway.app import create_app
from services.suite import build_suite
from tests.security.conftest import DEMO, settings_for
from tests.security.test_crash_ingest import _env
from tests.services.test_cli_processes import _run

PROBLEM_JSON = "application/problem+json"


POSITIVE_EXAMPLES = 10
NEGATIVE_EXAMPLES = 6
MODES = ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES), (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES))


@pytest.fixture(scope="module")
def gateway_schema(sec_settings, sec_loaded, tmp_path_factory):
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    shutil.copytree(sec_settings.data_dir, data, ignore=shutil.ignore_patterns(".writer.lock", "server.json"))
    env = _env(data)
    # the rest of `make demo`, so that every feature can answer (no 503 for an untrained recommender)
    for args in (["ingest-loans", str(DEMO / "loans.synthetic.csv")], ["recommender", "train", "--embeddings", "off"]):
        r = _run(args, env)
        assert r.returncode == 0, r.stderr[-2000:]
    settings = settings_for(Path(data))
    suite = build_suite(settings)
    app = create_app(suite.clients, settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Credentials are not generated: made-up keys get the 401 every route gives bad credentials (tested with real
    # keys in tests/security/test_auth*); calls are anonymous, which the embedded topology allows (auth off).
    schema.config.generation.update(with_security_parameters=False)
    return schema


def _documented(case, status: int) -> bool:
    responses = case.operation.definition.raw.get("responses", {})
    return str(status) in responses or f"{status // 100}XX" in responses or "default" in responses


def _check(case) -> None:
    response = case.call(timeout=600)  # the machine may be busy: a slow answer is not what this test is about
    # problem+json is the error format the API promises everywhere (services/common/errors.py)
    is_problem = response.headers.get("content-type", [""])[0].startswith(PROBLEM_JSON)
    checks = [not_a_server_error, response_schema_conformance]
    if not is_problem:
        checks.append(content_type_conformance)
    case.validate_response(response, checks=checks)
    status = response.status_code
    if status in (401, 403):
        assert _documented(case, status), f"{status} on {case.operation.label} but the spec does not document it"
    else:
        assert _documented(case, status) or (400 <= status < 500 and is_problem), (
            f"{case.operation.label} answered {status} ({response.headers.get('content-type')}), "
            f"which the spec does not document: {response.text[:300]}"
        )


def _fuzz(operation, mode: GenerationMode, examples: int) -> None:
    # (schemathesis' pytest plugin, ``schema.parametrize``, does not run under pytest 9: it sets Node._nodeid)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        _check(case)

    run()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "\n  ".join(_describe(e) for e in exc.exceptions)
    notes = "\n".join(getattr(exc, "__notes__", []))  # Hypothesis puts the falsifying example here
    return f"{type(exc).__name__}: {str(exc)[:1200]} {notes[:1200]}"


def test_gateway_conforms_to_its_openapi_spec(gateway_schema):
    failures: list[str] = []
    operations = []
    for result in gateway_schema.get_all_operations():
        operation = result.ok()  # an operation schemathesis cannot read is itself a failure
        operations.append(operation.label)
        for mode, examples in MODES:
            try:
                _fuzz(operation, mode, examples)
            except Unsatisfiable:
                # nothing invalid can be sent to an operation without parameters or body (GET /health…)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation is fuzzed, all reported
                failures.append(f"{operation.label} ({mode.value}): {_describe(exc)}")
    assert len(operations) >= 20, operations  # the whole public API, not a subset
    assert not failures, "\n\n".join(failures)
