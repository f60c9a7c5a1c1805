"""`thuvien ingest` and `thuvien serve` as real processes on loopback."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
THUVIEN = [sys.executable, "-m", "services.cli"]


def _rows(prefix: str, n: int, library: str = "tv-yenthe") -> str:
    return "\n".join(
        json.dumps(
            {
                "id": f"{prefix}-{i:04d}",
                "library_id": library,
                "title": f"Tập ghi chép {prefix} số {i}",
                "year": 2000 + i % 25,
                "language": "vi",
                "subjects": ["Thử nghiệm"],
                "summary": f"Ghi chép về làng nghề thứ {i} ở Yên Thế.",
            },
            ensure_ascii=False,
        )
        for i in range(n)
    )


@pytest.fixture
def env(tmp_path: Path, suite_settings) -> dict[str, str]:
    e = dict(os.environ)
    e["THUVIEN_DATA_DIR"] = str(tmp_path / "data")
    # Reuse the session's model artefacts (if built) so every process loads the same encoder.
    e["THUVIEN_EMBEDDING_BACKEND"] = suite_settings.embedding_backend
    e["THUVIEN_MODELS_DIR"] = str(suite_settings.models_dir)
    e["PYTHONPATH"] = str(REPO)
    return e


def _run(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(THUVIEN + args, env=env, cwd=REPO, capture_output=True, text=True, timeout=600, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _search_ids(url: str, q: str, library_id: str, timeout: float = 60) -> set[str]:
    r = httpx.get(f"{url}/api/v1/search", params={"q": q, "k": 100, "library_id": library_id}, timeout=timeout)
    return {h["id"] for h in r.json()["hits"]}


def test_ingest_is_idempotent_and_survives_sigkill(tmp_path: Path, env: dict[str, str]):
    src = tmp_path / "batch.jsonl"
    src.write_text(_rows("kill", 300), encoding="utf-8")
    # Kill the first run part-way, then run again to completion.
    proc = subprocess.Popen(
        THUVIEN + ["ingest", str(src), "--library", "tv-yenthe"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _run(["ingest", str(src), "--library", "tv-yenthe"], env)
    assert done.returncode == 0, done.stderr[-2000:]
    again = _run(["ingest", str(src), "--library", "tv-yenthe"], env)
    assert again.returncode == 0
    assert re.search(r"│\s*0\s*│\s*0\s*│\s*300\s*│\s*0\s*│", again.stderr), again.stderr[-1500:]  # all skipped
    with _serving(env) as url:
        stats = httpx.get(f"{url}/api/v1/stats", timeout=30).json()
        # The killed run and its re-run leave exactly what one clean run leaves: no duplicates, nothing pending.
        assert stats["catalog"]["records"] == 300 and stats["catalog"]["pending"] == 0
        assert stats["index"]["records"] == 300 and stats["index"]["documents"] == 300
        ids = _search_ids(url, "tap ghi chep lang nghe", "tv-yenthe")
        assert len(ids) == 100 and all(i.startswith("kill-") for i in ids)
        # Ingest while the server runs: the CLI hands the file to the server; searchable without restart.
        more = tmp_path / "more.jsonl"
        more.write_text(_rows("live", 5, library="tv-lucngan"), encoding="utf-8")
        r = _run(["ingest", str(more), "--library", "tv-lucngan"], env)
        assert r.returncode == 0, r.stderr[-2000:]
        assert _search_ids(url, "tap ghi chep lang nghe", "tv-lucngan") == {f"live-{i:04d}" for i in range(5)}


@contextmanager
def _serving(env: dict[str, str]) -> Iterator[str]:
    """`thuvien serve` on a free loopback port until the block ends; yields its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        THUVIEN + ["serve", "--port", str(port)], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("server did not become ready")


def test_cli_help_everywhere(env: dict[str, str]):
    top = _run(["--help"], env)
    assert top.returncode == 0
    for cmd in ("serve", "ingest"):
        assert cmd in top.stdout
        assert _run([cmd, "--help"], env).returncode == 0


def test_ingest_missing_file_is_a_clear_error(env: dict[str, str]):
    r = _run(["ingest", "/no/such/file.mrc", "--library", "x"], env)
    assert r.returncode != 0
    assert "file not found" in (r.stderr + r.stdout)


def test_ingest_through_a_server_that_enforces_roles_needs_a_librarian_key(tmp_path: Path, env: dict[str, str]):
    """Without a key the server refuses the hand-over (a per-file error naming THUVIEN_API_KEY, nothing
    written); with THUVIEN_API_KEY set to a librarian key of the library the records arrive. The CLI's
    own import (no server) is in the audit log as actor ``cli``."""
    first = tmp_path / "first.jsonl"
    first.write_text(_rows("cli", 3), encoding="utf-8")
    assert _run(["ingest", str(first), "--library", "tv-yenthe"], env).returncode == 0
    made = _run(["keys", "create", "--role", "librarian", "--library", "tv-lucngan", "--json"], env)
    assert made.returncode == 0, made.stderr[-2000:]
    key = json.loads(made.stdout.strip().splitlines()[-1])["key"]
    env = dict(env, THUVIEN_AUTH_ENABLED="true")
    with _serving(env) as url:
        more = tmp_path / "more.jsonl"
        more.write_text(_rows("live", 4, library="tv-lucngan"), encoding="utf-8")
        refused = _run(["ingest", str(more), "--library", "tv-lucngan"], env)
        assert refused.returncode == 1 and "THUVIEN_API_KEY" in refused.stdout + refused.stderr
        # the server's first query loads the query-side models: generous on a loaded machine
        assert _search_ids(url, "tap ghi chep lang nghe", "tv-yenthe", timeout=300) == {
            f"cli-{i:04d}" for i in range(3)
        }
        done = _run(["ingest", str(more), "--library", "tv-lucngan"], dict(env, THUVIEN_API_KEY=key))
        assert done.returncode == 0, done.stderr[-2000:]
        assert _search_ids(url, "tap ghi chep lang nghe", "tv-lucngan") == {f"live-{i:04d}" for i in range(4)}
    events = _run(["audit", "--json", "--actor", "cli"], env)
    assert events.returncode == 0, events.stderr[-2000:]
    rows = [json.loads(line) for line in events.stdout.splitlines() if line.strip()]
    assert any(r["action"] == "records.import" and r["library_id"] == "tv-yenthe" for r in rows), rows
