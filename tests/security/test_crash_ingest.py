"""Crash safety: ``thuvien ingest`` killed with SIGKILL at random points, then re-run, leaves what a clean run leaves.

A real subprocess imports a real corpus (Vinabook records and a few Wikipedia articles with their text). Each
killed run is stopped at a seeded random point of the import or of the indexing, chosen from the progress the
process itself prints (tqdm on stderr): part-way through the import, part-way through the embedding batches, or
right after the last batch (while the index, the restorer and the "indexed" marks are being saved). The same
data dir is then ingested to completion and compared with a clean run into another data dir: record count,
index size (documents and records), nothing left pending, and the hits of real queries.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.suite import build_suite
from tests.security.conftest import settings_for
from tests.services.test_cli_processes import REPO, THUVIEN, _run

LIBRARY = "tv-crash"
N_BOOKS = 210  # more than one import batch (200 records a transaction)
N_ARTICLES = 3
KILLS = 5
SEED = 20261126
# the import progress bar ("ingest corpus.jsonl: : 147 rec") and the indexing one ("indexing: 64record")
_IMPORT_RE = re.compile(r"ingest [^:\r\n]*: : (\d+) rec")
_INDEX_RE = re.compile(r"indexing: (\d+)\s?record")


def _corpus(shared: Path, out: Path) -> tuple[int, list[str], str]:
    """Vinabook books and Wikipedia articles as thuvien JSONL; returns (rows, book titles, an article title)."""
    rows, titles = [], []
    with (shared / "vinabook" / "books.jsonl").open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, N_BOOKS):
            b = json.loads(line)
            row = {
                "id": b["id"],
                "title": b["title"],
                "authors": b.get("authors") or [],
                "publisher": b.get("publisher"),
                "year": int(b["publish_date"][:4]) if b.get("publish_date") else None,
                "language": "vi",
                "summary": b.get("description"),
            }
            rows.append({k: v for k, v in row.items() if v not in (None, [])})
            titles.append(b["title"])
    with gzip.open(shared / "viwiki" / "articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        articles = [json.loads(line) for line in itertools.islice(fh, N_ARTICLES)]
    for a in articles:
        rows.append({"id": a["id"], "title": a["title"], "language": "vi", "type": "article", "text": a["text"]})
    out.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return len(rows), titles, articles[-1]["title"]


def _env(data_dir: Path) -> dict[str, str]:
    s = settings_for(data_dir)
    e = dict(os.environ)
    e["THUVIEN_DATA_DIR"] = str(data_dir)
    e["THUVIEN_EMBEDDING_BACKEND"] = s.embedding_backend
    e["THUVIEN_MODELS_DIR"] = str(s.models_dir)
    e["PYTHONPATH"] = str(REPO)
    return e


class _Progress:
    """The phase and count a running ingest last printed, read from its stderr as it comes."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.text = ""
        self.phase = "starting"
        self.count = 0
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := os.read(self.proc.stderr.fileno(), 4096):
            with self.changed:
                self.text += chunk.decode("utf-8", "replace")
                tail = self.text[-600:]
                if (m := list(_INDEX_RE.finditer(tail))) or "indexing:" in tail:
                    self.phase, self.count = "indexing", int(m[-1].group(1)) if m else 0
                elif m := list(_IMPORT_RE.finditer(tail)):
                    self.phase, self.count = "import", int(m[-1].group(1))
                self.changed.notify_all()
        with self.changed:
            self.phase = "exited"
            self.changed.notify_all()

    def wait_for(self, phase: str, count: int, timeout: float = 300) -> str:
        """Block until the process reports ``phase`` with at least ``count`` items (or exits); the phase seen."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (self.phase == phase and self.count >= count) and self.phase != "exited":
                if phase == "import" and self.phase == "indexing":
                    break  # the import finished before the threshold: kill as early in indexing as we can
                left = deadline - time.monotonic()
                assert left > 0, f"no progress to {phase} {count}: {self.text[-1500:]}"
                self.changed.wait(left)
            return self.phase


def _kill_plan(rng: random.Random, total: int) -> list[tuple[str, int, float]]:
    """(phase, threshold count, extra delay in seconds) per killed run: import first (only the first run imports
    anything), then points spread over the indexing batches, and one just after the last batch (the saves)."""
    plan = [("import", rng.randint(1, max(1, total // 3)), rng.uniform(0.0, 0.2))]
    # Not the last batch boundary: from there, with the embedding cache warm, the run could finish within the
    # delay, and a run that finishes is not a kill. The delays stay short for the same reason.
    batches = list(range(64, total, 64))[:-1]
    for _ in range(KILLS - 2):
        plan.append(("indexing", rng.choice([1, *batches]), rng.uniform(0.0, 0.25)))
    plan.append(("indexing", total, rng.uniform(0.0, 0.1)))
    return plan


def _answers(data_dir: Path, queries: list[str]) -> dict:
    settings = settings_for(data_dir)
    suite = build_suite(settings)
    with TestClient(create_app(suite.clients, settings)) as client:
        stats = client.get("/api/v1/stats").json()
        out: dict = {"stats": {"catalog": stats["catalog"], "index": stats["index"]}}
        for q in queries:
            r = client.get("/api/v1/search", params={"q": q, "k": 10, "library_id": LIBRARY})
            assert r.status_code == 200, r.text
            body = r.json()
            out[q] = {"total": body["total"], "hits": [(h["id"], round(h["score"], 4)) for h in body["hits"]]}
    return out


def test_ingest_killed_at_random_points_ends_like_a_clean_run(tmp_path: Path, shared_data: Path):
    src = tmp_path / "corpus.jsonl"
    total, titles, article = _corpus(shared_data, src)
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    # the clean run into its own data dir goes on beside the killed ones
    reference_log = (tmp_path / "clean.log").open("w")
    reference_run = subprocess.Popen(
        [*THUVIEN, "ingest", str(src), "--library", LIBRARY],
        env=_env(clean),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=reference_log,
    )
    rng = random.Random(SEED)
    kills: list[tuple[str, str, int]] = []  # (phase planned, phase seen at the kill, count seen)
    for phase, threshold, delay in _kill_plan(rng, total):
        proc = subprocess.Popen(
            [*THUVIEN, "ingest", str(src), "--library", LIBRARY],
            env=_env(crashed),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        progress = _Progress(proc)
        progress.wait_for(phase, threshold)
        time.sleep(delay)
        seen, seen_count = progress.phase, progress.count
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(timeout=60)
        progress.thread.join(timeout=10)
        # A run that finished before the kill would prove nothing: every planned run must die by the signal.
        assert rc == -signal.SIGKILL, f"the run planned to die in {phase} at {threshold} ended by itself ({rc})"
        kills.append((phase, seen, seen_count))
        print(f"run {len(kills)}: planned {phase} at {threshold} (+{delay:.2f} s), killed in {seen} at {seen_count}")
    phases = [seen for _, seen, _ in kills]
    assert len(kills) >= 5
    assert "import" in phases and phases.count("indexing") >= 3, kills  # both phases were hit

    done = _run(["ingest", str(src), "--library", LIBRARY], _env(crashed))
    assert done.returncode == 0, done.stderr[-2000:]
    again = _run(["ingest", str(src), "--library", LIBRARY], _env(crashed))
    assert again.returncode == 0, again.stderr[-2000:]
    # the re-run after completion finds every record unchanged: nothing imported, nothing updated, nothing failed
    assert re.search(rf"│\s*0\s*│\s*0\s*│\s*{total}\s*│\s*0\s*│", again.stderr), again.stderr[-1500:]

    reference_run.wait(timeout=900)
    reference_log.close()
    assert reference_run.returncode == 0, (tmp_path / "clean.log").read_text()[-2000:]

    queries = [titles[0], titles[len(titles) // 2], "sach day ve tranh phong canh", article, "lịch sử Việt Nam"]
    after_crashes = _answers(crashed, queries)
    reference = _answers(clean, queries)
    assert reference["stats"]["catalog"] == {
        "records": total,
        "chunks": reference["stats"]["catalog"]["chunks"],
        "pending": 0,
    }
    assert reference["stats"]["catalog"]["chunks"] > 0
    assert reference["stats"]["index"]["records"] == total
    assert reference["stats"]["index"]["documents"] == total + reference["stats"]["catalog"]["chunks"]
    assert after_crashes["stats"] == reference["stats"], kills
    assert any(reference[q]["hits"] for q in queries)
    for q in queries:
        assert after_crashes[q] == reference[q], (q, kills)
