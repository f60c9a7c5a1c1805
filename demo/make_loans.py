"""Generate the SYNTHETIC loans file of the demo library (demo/loans.synthetic.csv).

No real patron and no real loan is behind this file. Patrons are simulated: each has a home
library and two or three reading interests (profiles defined on DDC classes, subjects and
language), borrows mostly at home, follows those interests with a popularity skew and some
random exploration, and sometimes leaves a 1-5 rating. Records published in the last two
years before the end date (new acquisitions) and digitized documents get no loans.

Standard library only; the output is fully determined by --seed.

    python demo/make_loans.py            # writes demo/loans.synthetic.csv
    python demo/make_loans.py --help
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIBRARIES = ("tv-bacgiang", "tv-lucngan", "tv-yenthe", "thpt-ngosilien")


def _has(rec: dict, *words: str) -> bool:
    text = " ".join(rec.get("subjects", [])).lower()
    return any(w.lower() in text for w in words)


def _ddc(rec: dict) -> str:
    return rec.get("ddc") or ""


# Interest profiles: name -> predicate over a record.
PROFILES: dict[str, Callable[[dict], bool]] = {
    "van-hoc-viet-nam": lambda r: _ddc(r).startswith("895.922") and r["language"] == "vi",
    "van-hoc-nuoc-ngoai": lambda r: (
        _ddc(r).startswith("8") and not _ddc(r).startswith("895.922") and r["language"] == "vi"
    ),
    "thieu-nhi": lambda r: _has(r, "thiếu nhi", "truyện tranh", "children", "picture books"),
    "lich-su-dia-chi": lambda r: _ddc(r).startswith("9") or _has(r, "lịch sử", "bắc giang", "địa chí"),
    "nong-nghiep": lambda r: _ddc(r).startswith(("63", "615.32")) or _has(r, "nông nghiệp", "nông thôn", "vải"),
    "phap-luat-chinh-tri": lambda r: _ddc(r).startswith(("32", "33", "34")) and not _ddc(r).startswith("332"),
    "khoa-hoc": lambda r: _ddc(r).startswith(("5", "61", "00", "303")),
    "ky-nang-song": lambda r: _ddc(r).startswith(("15", "332", "158")) or _has(r, "kỹ năng"),
    "tieng-anh": lambda r: r["language"] == "en",
    "van-hoa-ton-giao-nghe-thuat": lambda r: (
        _ddc(r).startswith(("1", "2", "306", "39", "7")) and not _ddc(r).startswith(("15", "741"))
    ),
    "hoc-duong": lambda r: (
        _has(r, "sách giáo khoa", "trong nhà trường", "trung học phổ thông", "thơ mới")
        or _ddc(r).startswith(("807", "510", "907", "912"))
    ),
}

# Which profiles patrons of each home library tend to have (relative weights).
PROFILE_MIX: dict[str, dict[str, float]] = {
    "tv-bacgiang": {
        "van-hoc-viet-nam": 5,
        "van-hoc-nuoc-ngoai": 4,
        "thieu-nhi": 3,
        "lich-su-dia-chi": 4,
        "nong-nghiep": 1,
        "phap-luat-chinh-tri": 2,
        "khoa-hoc": 2,
        "ky-nang-song": 3,
        "tieng-anh": 2,
        "van-hoa-ton-giao-nghe-thuat": 2,
    },
    "tv-lucngan": {
        "van-hoc-viet-nam": 3,
        "thieu-nhi": 3,
        "lich-su-dia-chi": 2,
        "nong-nghiep": 5,
        "phap-luat-chinh-tri": 3,
        "ky-nang-song": 2,
        "van-hoc-nuoc-ngoai": 1,
    },
    "tv-yenthe": {
        "van-hoc-viet-nam": 3,
        "thieu-nhi": 3,
        "lich-su-dia-chi": 4,
        "nong-nghiep": 4,
        "phap-luat-chinh-tri": 3,
        "ky-nang-song": 2,
        "van-hoc-nuoc-ngoai": 1,
    },
    "thpt-ngosilien": {
        "hoc-duong": 5,
        "van-hoc-viet-nam": 4,
        "khoa-hoc": 3,
        "tieng-anh": 3,
        "thieu-nhi": 2,
        "ky-nang-song": 3,
        "van-hoc-nuoc-ngoai": 2,
        "lich-su-dia-chi": 2,
    },
}
HOME_WEIGHTS = {"tv-bacgiang": 0.45, "tv-lucngan": 0.17, "tv-yenthe": 0.17, "thpt-ngosilien": 0.21}

# A fixed demo patron, so the web page can show "Gợi ý cho bạn" for a known reader.
DEMO_PATRON = ("P0001", "tv-bacgiang", ["van-hoc-viet-nam", "lich-su-dia-chi"])


@dataclass
class Patron:
    pid: str
    home: str
    profiles: list[str]
    weights: list[float]
    n_loans: int
    start: date
    end: date
    borrowed: set[str] = field(default_factory=set)


def load_records(path: Path) -> list[dict]:
    """Read the demo records (JSONL), keeping borrowable items (books and serials)."""
    out = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{n}: invalid JSON ({e})") from e
            if rec.get("type", "book") in ("book", "serial"):
                out.append(rec)
    return out


# Titles that circulate far more than the rest in Vietnamese public and school libraries.
BESTSELLERS = (
    "dế mèn",
    "đắc nhân tâm",
    "nhà giả kim",
    "harry potter",
    "conan",
    "doraemon",
    "hoàng tử bé",
    "số đỏ",
    "tắt đèn",
    "chí phèo",
    "truyện kiều",
    "tuổi trẻ đáng giá",
    "cà phê cùng tony",
    "sapiens",
    "đặng thùy trâm",
    "không gia đình",
    "totto-chan",
    "mười vạn câu hỏi",
    "atlat",
    "kính vạn hoa",
    "đất rừng phương nam",
    "vải",
    "english grammar",
)


def popularity(records: list[dict], rng: random.Random) -> dict[str, float]:
    """A latent, heavy-tailed popularity per work (same title+first author across libraries)."""
    works = sorted({work_key(r) for r in records})
    pop = {w: rng.paretovariate(1.5) for w in works}
    boosted = set()
    for r in records:
        k = work_key(r)
        if k in boosted:
            continue
        boosted.add(k)
        title = r["title"].lower()
        if any(b in title for b in BESTSELLERS) or "Nguyễn Nhật Ánh" in r.get("authors", []):
            pop[k] *= 4.0
        elif _has(r, "tuổi mới lớn", "thiếu nhi", "kỹ năng"):
            pop[k] *= 1.5
    return pop


def work_key(rec: dict) -> str:
    return rec["title"].lower() + "|" + (rec["authors"][0].lower() if rec.get("authors") else "")


def make_patrons(n: int, start: date, end: date, mean_loans: float, rng: random.Random) -> list[Patron]:
    patrons = []
    span = (end - start).days
    for i in range(1, n + 1):
        pid = f"P{i:04d}"
        if pid == DEMO_PATRON[0]:
            home, profiles = DEMO_PATRON[1], list(DEMO_PATRON[2])
        else:
            home = rng.choices(list(HOME_WEIGHTS), weights=list(HOME_WEIGHTS.values()))[0]
            mix = PROFILE_MIX[home]
            k = rng.choice((2, 2, 3))
            profiles = []
            while len(profiles) < k:
                p = rng.choices(list(mix), weights=list(mix.values()))[0]
                if p not in profiles:
                    profiles.append(p)
        weights = sorted((rng.uniform(0.5, 1.0) for _ in profiles), reverse=True)
        # heavy-tailed activity: a few avid readers, many occasional ones
        n_loans = max(2, round(rng.lognormvariate(math.log(mean_loans) - 0.45, 0.95)))
        if pid == DEMO_PATRON[0]:
            n_loans = 18
        a = rng.randint(0, span - 60)
        b = rng.randint(a + 60, span)
        patrons.append(Patron(pid, home, profiles, weights, n_loans, start + timedelta(a), start + timedelta(b)))
    return patrons


def generate(
    records: list[dict],
    n_patrons: int,
    target_loans: int,
    end: date,
    months: int,
    seed: int,
    rating_share: float,
) -> list[dict]:
    rng = random.Random(seed)
    start = date(end.year - months // 12, end.month, 1) if months % 12 == 0 else end - timedelta(days=30 * months)
    last = end - timedelta(days=1)
    new_cutoff = end.year - 1  # records from the last two calendar years are new acquisitions: no loans
    loanable = [r for r in records if r.get("year") is None or r["year"] < new_cutoff]
    by_lib: dict[str, list[dict]] = {lib: [r for r in loanable if r["library_id"] == lib] for lib in LIBRARIES}
    match = {p: {r["library_id"] + "/" + r["id"] for r in loanable if f(r)} for p, f in PROFILES.items()}
    pop = popularity(records, rng)
    patrons = make_patrons(n_patrons, start, last, target_loans / n_patrons, rng)
    scale = target_loans / sum(p.n_loans for p in patrons)  # hit the requested volume closely
    caps = [len(by_lib[p.home]) // 2 for p in patrons]
    for pat, cap in zip(patrons, caps, strict=True):
        pat.n_loans = min(max(1, round(pat.n_loans * scale)), cap)
    room = [i for i, p in enumerate(patrons) if p.n_loans < caps[i]]
    while room and sum(p.n_loans for p in patrons) < target_loans:  # top up readers below their cap
        i = rng.choice(room)
        patrons[i].n_loans += 1
        if patrons[i].n_loans >= caps[i]:
            room.remove(i)

    loans: list[dict] = []
    for pat in patrons:
        for _ in range(pat.n_loans):
            lib = pat.home
            if rng.random() > 0.85:  # occasionally borrow elsewhere, mostly at the provincial library
                others = [x for x in LIBRARIES if x != pat.home and x != "thpt-ngosilien"]
                lib = "tv-bacgiang" if "tv-bacgiang" in others and rng.random() < 0.7 else rng.choice(others)
            interested = rng.random() < 0.85
            profile = rng.choices(pat.profiles, weights=pat.weights)[0]
            # the chosen interest first, then the patron's other interests, then anything on the shelves
            order = [profile] + [p for p in pat.profiles if p != profile] if interested else []
            cands: list[dict] = []
            for p in [*order, None]:
                cands = [
                    r
                    for r in by_lib[lib]
                    if r["id"] not in pat.borrowed and (p is None or lib + "/" + r["id"] in match[p])
                ]
                if cands:
                    interested = p is not None
                    break
            if not cands:
                continue
            r = rng.choices(cands, weights=[pop[work_key(c)] for c in cands])[0]
            lo = max(pat.start, date(r["year"], 1, 1)) if r.get("year") else pat.start
            if lo > pat.end:
                continue
            d = lo + timedelta(days=rng.randint(0, (pat.end - lo).days))
            if d.weekday() == 6 and rng.random() < 0.7:  # fewer loans on Sundays
                d -= timedelta(days=1)
            d = max(d, lo)
            rating = ""
            if rng.random() < rating_share:
                w = [2, 5, 20, 40, 33] if interested else [10, 20, 35, 25, 10]
                rating = str(rng.choices([1, 2, 3, 4, 5], weights=w)[0])
            pat.borrowed.add(r["id"])
            loans.append(
                {"patron_id": pat.pid, "record_id": r["id"], "library_id": lib, "date": d.isoformat(), "rating": rating}
            )
    loans.sort(key=lambda x: (x["date"], x["patron_id"], x["library_id"], x["record_id"]))
    return loans


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description="Generate SYNTHETIC demo loans (no real patrons) from demo/records.jsonl.",
    )
    ap.add_argument("--records", type=Path, default=HERE / "records.jsonl", help="demo records (JSONL)")
    ap.add_argument("--out", type=Path, default=HERE / "loans.synthetic.csv", help="output CSV")
    ap.add_argument("--patrons", type=int, default=250, help="number of simulated patrons (default 250)")
    ap.add_argument("--loans", type=int, default=4000, help="approximate number of loans (default 4000)")
    ap.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1), help="end date, exclusive")
    ap.add_argument("--months", type=int, default=24, help="months of history before --end (default 24)")
    ap.add_argument("--rating-share", type=float, default=0.3, help="share of loans with a 1-5 rating")
    ap.add_argument("--seed", type=int, default=20261101, help="random seed (default 20261101)")
    args = ap.parse_args(argv)
    if args.patrons < 1 or args.loans < 1 or args.months < 1:
        ap.error("--patrons, --loans and --months must be positive")

    records = load_records(args.records)
    loans = generate(records, args.patrons, args.loans, args.end, args.months, args.seed, args.rating_share)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["patron_id", "record_id", "library_id", "date", "rating"])
        w.writeheader()
        w.writerows(loans)
    tmp.replace(args.out)

    per_lib = Counter(x["library_id"] for x in loans)
    borrowed = {(x["library_id"], x["record_id"]) for x in loans}
    never = [r for r in records if (r["library_id"], r["id"]) not in borrowed]
    new = [r for r in never if r.get("year") and r["year"] >= args.end.year - 1]
    print(
        f"{len(loans)} synthetic loans by {len({x['patron_id'] for x in loans})} patrons "
        f"over {len(borrowed)} records -> {args.out}"
    )
    print("per library:", dict(sorted(per_lib.items())))
    print(f"rated: {sum(1 for x in loans if x['rating'])}; never borrowed: {len(never)} (new acquisitions: {len(new)})")


if __name__ == "__main__":
    main()
