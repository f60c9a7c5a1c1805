"""Real processes on loopback: ``thuvien serve SERVICE`` as subprocesses, and a tiny fault-injecting HTTP
server (a thread in the test process) that stands in for a service that drops connections or answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceProcess:
    name: str
    url: str
    proc: subprocess.Popen
    log_path: Path

    def log_lines(self) -> list[dict]:
        """The JSON log lines written so far (anything else, such as a traceback, is skipped)."""
        out = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                out.append(data)
        return out

    def wait_log(self, predicate, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_lines():
                if predicate(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no such log line from {self.name}; last lines: {self.log_lines()[-10:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_service(
    name: str, tmp: Path, env: dict[str, str], *, timeout: float = 90.0, port: int | None = None
) -> ServiceProcess:
    """``thuvien serve NAME --port P`` with JSON logs in ``tmp/NAME.log``; returns once /healthz answers.

    ``port``: a given one (a restart on the port the others already point at), else a free one. A restart
    appends to the same log file and reuses the data dir ``tmp/data-NAME``."""
    port = port or free_port()
    data_dir = tmp / f"data-{name}"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp / f"{name}.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("THUVIEN_")}
    full_env.update({"THUVIEN_DATA_DIR": str(data_dir), "THUVIEN_LOG_JSON": "true", "PYTHONUNBUFFERED": "1"})
    full_env.update(env)
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", name, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    svc = ServiceProcess(name, f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{svc.url}/healthz", timeout=2).status_code == 200:
                return svc
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            svc.stop()
            raise AssertionError(f"{name} did not start within {timeout} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)


@dataclass
class FaultServer:
    """HTTP/1.1 on loopback. Mode "reset": read the request, close without answering (the client sees a
    dropped connection); "hang": say nothing for 3 s (the client times out); "ok": answer 200 with ``body``
    as JSON. Counts requests by (method, path)."""

    body: dict
    mode: str = "reset"
    requests: Counter = field(default_factory=Counter)
    request_ids: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def count(self, method: str, path_prefix: str) -> int:
        with self.lock:
            return sum(n for (m, p), n in self.requests.items() if m == method and p.startswith(path_prefix))

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
                length = int(headers.get("content-length", "0") or 0)
                while len(rest) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                with self.lock:
                    self.requests[(method, path.split("?")[0])] += 1
                    self.request_ids.append(headers.get("x-request-id"))
                if self.mode == "hang":
                    time.sleep(3)
                    return
                if self.mode == "reset":
                    return  # close without a response
                payload = json.dumps(self.body).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture(scope="module")
def tmp_module(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("distributed")
