"""Fuzz the catalogue importers (MARC21, MARCXML, CSV, JSONL) for a bounded time with Hypothesis.

    .venv/bin/python bench/fuzz.py [--seconds 120] [--targets marc,csv,marcxml,jsonl] [--seed N]

Each target gets ``--seconds`` of generated inputs: arbitrary bytes, and valid sample files with bytes flipped,
cut, inserted, or gzipped (the strategies of tests/security/test_importer_properties.py), written to a file and
read with the reader and with ``read_any`` (the sniffing entry point ingest and the import API use).

A *crash* is any exception escaping a reader instead of a per-record error item, or an item that breaks the
reader contract (no position, an empty error, a record that fails its model). Each distinct crash (exception type
and the line it was raised from) is printed once with a reproducer (hex of the smallest input seen).

Anchor, side by side on the same inputs: the library each reader is built on, used directly (pymarc's
``MARCReader`` / ``parse_xml_to_array``, the ``csv`` and ``json`` modules); its "crashes" are the exceptions it
lets escape (for pymarc's ``MARCReader``: the ``None`` it yields for a bad record, on which a plain loop crashes),
which our readers must turn into per-record errors. Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pymarc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from catalog.importers.detect import read_any  # noqa: E402
from catalog.importers.marc import read_marc, read_marcxml  # noqa: E402
from catalog.importers.tabular import read_csv, read_jsonl  # noqa: E402
from tests.security.test_importer_properties import CSV, JSONL, MARC, MARCXML, _check, mutated  # noqa: E402

ROUND = 200  # examples per Hypothesis run; the clock is checked between runs


def _anchor_marc(data: bytes) -> None:
    reader = pymarc.MARCReader(io.BytesIO(data), to_unicode=True, force_utf8=True)
    for rec in reader:
        if rec is None:  # pymarc yields None for a bad record: a plain loop over it crashes on rec.title
            raise ValueError(reader.current_exception)
        _ = rec.title


def _anchor_marcxml(data: bytes) -> None:
    pymarc.parse_xml_to_array(io.BytesIO(data))


def _anchor_csv(data: bytes) -> None:
    for _ in csv.DictReader(io.StringIO(data.decode("utf-8"))):
        pass


def _anchor_jsonl(data: bytes) -> None:
    for line in data.decode("utf-8").splitlines():
        if line.strip():
            json.loads(line)


@dataclass
class Target:
    name: str
    reader: Callable[..., Iterator]
    filename: str
    sample: bytes
    anchor: Callable[[bytes], None]
    extra: tuple = ()

    def strategy(self) -> st.SearchStrategy[bytes]:
        return st.one_of(st.binary(max_size=600), mutated(self.sample), *self.extra)


TARGETS = {
    "marc": Target("marc", read_marc, "fuzz.mrc", MARC, _anchor_marc),
    "marcxml": Target("marcxml", read_marcxml, "fuzz.xml", MARCXML, _anchor_marcxml),
    "csv": Target("csv", read_csv, "fuzz.csv", CSV, _anchor_csv, (st.text(max_size=300).map(str.encode),)),
    "jsonl": Target("jsonl", read_jsonl, "fuzz.jsonl", JSONL, _anchor_jsonl, (st.text(max_size=300).map(str.encode),)),
}


@dataclass
class Result:
    target: str
    executions: int = 0
    records: int = 0
    record_errors: int = 0
    crashes: int = 0
    anchor_crashes: int = 0
    seconds: float = 0.0
    distinct: dict[str, dict] = field(default_factory=dict)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    last = frames[-1] if frames else None
    loc = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {loc}"


def _one(target: Target, data: bytes, path: Path, res: Result) -> None:
    path.write_bytes(data)
    res.executions += 1
    try:
        for reader in (lambda p: target.reader(p, "tv-fuzz"), lambda p: read_any(p, "tv-fuzz")):
            items = list(reader(path))
            _check(items)
        res.records += sum(1 for i in items if i.ok)
        res.record_errors += sum(1 for i in items if i.error is not None)
    except Exception as exc:  # noqa: BLE001 - counting exactly these is the point
        res.crashes += 1
        key = _where(exc)
        seen = res.distinct.get(key)
        if seen is None or len(data) < seen["size"]:
            res.distinct[key] = {"error": f"{type(exc).__name__}: {exc}"[:300], "size": len(data), "hex": data.hex()}
    try:
        target.anchor(data)
    except Exception:  # noqa: BLE001
        res.anchor_crashes += 1


def fuzz(target: Target, seconds: float, base_seed: int) -> Result:
    res = Result(target.name)
    target.strategy().example()  # Hypothesis builds its tables once here, not on the fuzzing clock
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="thuvien-fuzz-") as tmp:
        path = Path(tmp) / target.filename
        run = 0
        while time.monotonic() - start < seconds:
            # a different seed per round: each round explores new inputs, and the whole run is reproducible
            @seed(base_seed * 1000 + run)
            @settings(
                max_examples=ROUND,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(target.strategy())
            def body(data: bytes) -> None:
                if time.monotonic() - start < seconds:
                    _one(target, data, path, res)

            body()
            run += 1
    res.seconds = time.monotonic() - start
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="fuzzing time per target (default 120)")
    ap.add_argument("--targets", default="marc,marcxml,csv,jsonl", help="comma-separated: marc, marcxml, csv, jsonl")
    ap.add_argument("--seed", type=int, default=20261126, help="random seed (runs are reproducible)")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # pymarc and pypdf log a warning per damaged input otherwise
    warnings.simplefilter("ignore")  # (and pymarc warns about bad subfield codes)
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {unknown}; choose from {', '.join(TARGETS)}")
    results = []
    for name in names:
        print(f"fuzzing {name} for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
        res = fuzz(TARGETS[name], args.seconds, args.seed)
        results.append(res)
        ratio = res.anchor_crashes / res.executions if res.executions else 0.0
        print(
            f"{name:8s} executions={res.executions:7d} ({res.executions / max(res.seconds, 1e-9):6.0f}/s)  "
            f"records={res.records:7d} record_errors={res.record_errors:7d}  crashes={res.crashes}  "
            f"anchor({'pymarc' if name.startswith('marc') else name} alone) crashes={res.anchor_crashes} "
            f"({ratio:.1%} of inputs)",
            flush=True,
        )
        for where, info in res.distinct.items():
            print(f"  CRASH {where}: {info['error']}\n    reproducer ({info['size']} bytes): {info['hex'][:400]}")
    summary = {
        "bench": "fuzz",
        "seconds_per_target": args.seconds,
        "seed": args.seed,
        "targets": {
            r.target: {
                "executions": r.executions,
                "crashes": r.crashes,
                "distinct_crashes": len(r.distinct),
                "records": r.records,
                "record_errors": r.record_errors,
                "anchor_crashes": r.anchor_crashes,
                "seconds": round(r.seconds, 1),
            }
            for r in results
        },
        "executions": sum(r.executions for r in results),
        "crashes": sum(r.crashes for r in results),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if summary["crashes"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
