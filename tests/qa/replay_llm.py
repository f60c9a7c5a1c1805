"""A small real OpenAI-compatible chat server for tests: it replays fixed completions.

It listens on 127.0.0.1 (a free port), answers ``POST /v1/chat/completions`` by streaming the
configured completion as server-sent events in small pieces (or as one JSON body when the
request does not ask to stream), and records every request so tests can inspect the prompt.
Behaviours: ``"ok"`` (stream the text), ``"hang"`` (accept, then never answer), ``"error"``
(HTTP 500), ``"garbage"`` (200 with bytes that are not an event stream).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ReplayLLM:
    def __init__(self) -> None:
        self.completion = ""
        self.behaviour = "ok"
        self.requests: list[dict] = []
        self._stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append({"path": self.path, "body": body})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.behaviour == "hang":
                    outer._stop.wait(30)
                    return
                if outer.behaviour == "error":
                    data = b'{"error": "boom"}'
                    self.send_response(500)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if outer.behaviour == "garbage":
                    data = b"\x00\x01 this is not an event stream <html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if not body.get("stream"):
                    data = json.dumps(
                        {"choices": [{"message": {"role": "assistant", "content": outer.completion}}]}
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                text = outer.completion
                for i in range(0, len(text), 7):
                    chunk = {"choices": [{"index": 0, "delta": {"content": text[i : i + 7]}}]}
                    self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.001)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> ReplayLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
