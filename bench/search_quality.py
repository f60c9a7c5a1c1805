"""Search quality: BM25 (plain syllables) and dense e5-small anchors vs thuvien hybrid.

Datasets (read-only, from ../shared/data or THUVIEN_SHARED_DATA):

* XQuAD-vi: 240 paragraphs (one record each, title = the article title) indexed together with the
  2,000 viwiki articles as distractors, all chunked with ``catalog.chunking.chunk_text`` (~200
  words); 1,190 questions, gold = the question's paragraph (record).
* ALQAC 2023: 2,131 law articles (one record each: title "Điều N. <heading>", subject = the law),
  chunked the same way; the 202 queries of train + private_test whose relevant articles are all in
  law.json.

Every figure is computed with the queries as given and with the queries stripped of diacritics
(``nlp.fold``). Metrics are record-level: R@1, R@10, MRR@10.

Run ``--warm`` first (in the background) to fill the shared embedding cache.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog.chunking import chunk_text, make_chunks  # noqa: E402
from catalog.model import Chunk, Record  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from search.documents import IndexDoc, docs_for_record  # noqa: E402

CACHE_DIR = Path(os.environ.get("THUVIEN_CACHE_DIR", ROOT / "var" / "cache"))


def shared_data() -> Path:
    env = os.environ.get("THUVIEN_SHARED_DATA")
    return Path(env) if env else ROOT / ".." / "shared" / "data"


@dataclass
class Query:
    qid: str
    text: str
    gold: set[str]  # record keys


@dataclass
class Dataset:
    name: str
    records: list[tuple[Record, list[Chunk]]] = field(default_factory=list)
    queries: list[Query] = field(default_factory=list)

    def docs(self) -> list[IndexDoc]:
        out: list[IndexDoc] = []
        for rec, chunks in self.records:
            out.extend(docs_for_record(rec, chunks))
        return out


def _record_with_chunks(library_id: str, rid: str, title: str, text: str, **meta) -> tuple[Record, list[Chunk]]:
    rec = Record(id=rid, library_id=library_id, title=normalize(title), **meta)
    passages = chunk_text(normalize(text), target_words=200)
    return rec, make_chunks(library_id, rid, passages)


def load_xquad(data: Path, distractors: int = 2000, limit: int | None = None) -> Dataset:
    ds = Dataset("xquad-vi")
    raw = json.loads((data / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    pi = 0
    for art in raw["data"]:
        title = art["title"].replace("_", " ")
        for para in art["paragraphs"]:
            rid = f"p{pi:03d}"
            pi += 1
            ds.records.append(_record_with_chunks("xquad", rid, title, para["context"], language="vi", type="article"))
            for qa in para["qas"]:
                ds.queries.append(Query(qa["id"], qa["question"], {f"xquad/{rid}"}))
    if distractors:
        for i, art in enumerate(iter_viwiki(data)):
            if i >= distractors:
                break
            ds.records.append(
                _record_with_chunks("viwiki", art["id"], art["title"], art["text"], language="vi", type="article")
            )
    if limit:
        ds.queries = ds.queries[:limit]
    return ds


def iter_viwiki(data: Path) -> Iterator[dict]:
    with gzip.open(data / "viwiki" / "articles.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_alqac(data: Path, limit: int | None = None) -> Dataset:
    ds = Dataset("alqac2023")
    base = data / "alqac2023"
    laws = json.loads((base / "law.json").read_text(encoding="utf-8"))
    known: set[tuple[str, str]] = set()
    for li, law in enumerate(laws):
        for art in law["articles"]:
            known.add((law["id"], art["id"]))
            text = art["text"]
            heading = text.strip().split("\n", 1)[0].strip()
            rid = f"{li:02d}-{art['id']}"
            rec, chunks = _record_with_chunks(
                "alqac",
                rid,
                f"Điều {art['id']}. {heading}"[:300],
                text,
                language="vi",
                type="document",
                subjects=[normalize(law["id"])],
            )
            ds.records.append(rec)
            ds.records[-1] = (rec, chunks)
    law_index = {law["id"]: li for li, law in enumerate(laws)}
    for fname in ("train.json", "private_test.json"):
        for q in json.loads((base / fname).read_text(encoding="utf-8")):
            rel = [(r["law_id"], r["article_id"]) for r in q["relevant_articles"]]
            if not rel or not all(r in known for r in rel):
                continue
            gold = {f"alqac/{law_index[lid]:02d}-{aid}" for lid, aid in rel}
            ds.queries.append(Query(f"{fname.split('.')[0]}:{q['question_id']}", q["text"], gold))
    if limit:
        ds.queries = ds.queries[:limit]
    return ds


def alqac_law_order(ds: Dataset) -> list[str]:
    """Law indexes ("00", "01", …) by labelled queries per passage, densest first."""
    from collections import Counter

    docs = Counter(d.record_id.split("-")[0] for d in ds.docs())
    queries = Counter(next(iter(q.gold)).split("/")[1].split("-")[0] for q in ds.queries)
    return sorted(docs, key=lambda law: (-queries[law] / docs[law], law))


def restrict_alqac(ds: Dataset, laws: set[str]) -> Dataset:
    """Only the articles of ``laws`` and the queries whose relevant articles are all in them."""
    out = Dataset(ds.name)
    out.records = [(r, c) for r, c in ds.records if r.id.split("-")[0] in laws]
    out.queries = [q for q in ds.queries if all(g.split("/")[1].split("-")[0] in laws for g in q.gold)]
    return out


def get_bench_encoder():
    """The one encoder the bench uses for dense (anchor and hybrid alike): the suite's default
    backend (``THUVIEN_EMBEDDING_BACKEND``, else the fastest one that passed parity), through the
    shared cache."""
    from embeddings.cache import CachedEncoder
    from embeddings.factory import get_encoder

    backend = os.environ.get("THUVIEN_EMBEDDING_BACKEND", "auto")
    models = Path(os.environ.get("THUVIEN_MODELS_DIR", ROOT / "var" / "models"))
    return CachedEncoder(get_encoder(backend, models), CACHE_DIR, progress=True)


def warm(args: argparse.Namespace) -> None:
    """Embed every passage the bench will embed (cheap ones first), in small batches, so a killed
    run keeps what it did."""
    from tqdm import tqdm

    data = shared_data()
    enc = get_bench_encoder()
    enc.progress = False
    xq = load_xquad(data, distractors=0)
    al = load_alqac(data)
    groups = [("xquad paragraphs", [d.embed_text for d in xq.docs()])]
    # ALQAC law by law, the laws with the most labelled queries per passage first, so that a
    # partially warmed cache still covers whole laws (see --alqac-laws cached)
    for law in alqac_law_order(al):
        groups.append((f"alqac law {law}", [d.embed_text for d in al.docs() if d.record_id.split("-")[0] == law]))
    for ds in (xq, al):  # the queries as given and stripped of diacritics (anchors; hybrid when unchanged)
        texts = [q.text for q in ds.queries] + [strip_diacritics(q.text) for q in ds.queries]
        for i in tqdm(range(0, len(texts), 64), desc=f"warm {ds.name} queries ({len(texts)})", unit="batch"):
            enc.encode_queries(texts[i : i + 64])
    wiki = load_xquad(data, distractors=args.distractors)
    wdocs = [d for d in wiki.docs() if d.library_id == "viwiki"]
    groups.append(("viwiki records", [d.embed_text for d in wdocs if d.kind == "record"]))
    groups.append(("viwiki chunks", [d.embed_text for d in wdocs if d.kind == "chunk"]))
    for name, texts in groups:
        step = 64
        for i in tqdm(range(0, len(texts), step), desc=f"warm {name} ({len(texts)})", unit="batch"):
            enc.encode_passages(texts[i : i + step])


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
SEED = 20261125


def strip_diacritics(text: str) -> str:
    """The query as typed without diacritics (case kept, đ → d)."""
    import unicodedata

    text = normalize(text).replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    )


def split_dev(queries: list[Query]) -> tuple[list[Query], list[Query]]:
    """Deterministic dev/test halves (by a seeded hash of the query id)."""
    import hashlib

    dev, test = [], []
    for q in queries:
        h = int(hashlib.sha1(f"{SEED}:{q.qid}".encode()).hexdigest(), 16)
        (dev if h % 2 == 0 else test).append(q)
    return dev, test


def cached_flags(enc, texts: list[str]) -> list[bool]:
    """Which passages are already in the embedding cache (no embedding is done)."""
    import hashlib

    out = []
    keys = [b"p" + hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        rows = {k for (k,) in enc._db.execute(f"SELECT k FROM vec WHERE k IN ({','.join('?' * len(chunk))})", chunk)}
        out.extend(k in rows for k in chunk)
    return out


def metrics(ranked: list[list[str]], queries: list[Query]) -> dict[str, float]:
    r1 = r10 = mrr = 0.0
    for keys, q in zip(ranked, queries, strict=True):
        top = keys[:10]
        r1 += len(q.gold & set(top[:1])) / len(q.gold)
        r10 += len(q.gold & set(top)) / len(q.gold)
        for rank, key in enumerate(top, start=1):
            if key in q.gold:
                mrr += 1.0 / rank
                break
    n = max(len(queries), 1)
    return {"R@1": r1 / n, "R@10": r10 / n, "MRR@10": mrr / n}


def records_of(idx, slots, k: int = 10) -> list[str]:
    """The first ``k`` distinct record keys of a ranked list of slots."""
    seen: dict[str, None] = {}
    for s in slots:
        seen.setdefault(idx.store.docs[int(s)].record_key, None)
        if len(seen) >= k:
            break
    return list(seen)


class Run:
    """One dataset indexed once; per query the three candidate lists in both conditions."""

    def __init__(self, ds: Dataset, enc, bigrams: bool, workdir: Path) -> None:
        import numpy as np
        from tqdm import tqdm

        from nlp.restore import DiacriticRestorer
        from search.fusion import FusionConfig
        from search.index import SearchIndex
        from search.lexical import BM25Field

        self.ds = ds
        docs = ds.docs()
        print(
            f"[{ds.name}] {len(ds.records)} records, {len(docs)} documents, {len(ds.queries)} queries", file=sys.stderr
        )
        vecs = enc.encode_passages([d.embed_text for d in docs])
        self.idx = SearchIndex.open(workdir / ds.name, enc.model_id, enc.dim, fusion=FusionConfig(bigrams=bigrams))
        # upsert replaces every document of the records it touches: batch on record boundaries
        starts = [i for i, d in enumerate(docs) if d.kind == "record"] + [len(docs)]
        bounds = [0] + [b for j, b in enumerate(starts[1:-1], 1) if j % 500 == 0] + [len(docs)]
        pairs = list(zip(bounds, bounds[1:], strict=False))
        for a, b in tqdm(pairs, desc=f"index {ds.name}", unit="batch", file=sys.stderr):
            self.idx.upsert(docs[a:b], vecs[a:b])
        # anchor 1: BM25 over plain syllables (lower-cased, no folding) = a standard analyzer
        self.plain = BM25Field()
        from nlp.tokenize import syllables

        for slot, d in self.idx.store.docs.items():
            self.plain.add(slot, syllables(d.lexical_text()))
        self.plain.merge(self.idx.store.alive[: self.idx.store.next_slot])
        # restoration learnt from the indexed collection's own text
        self.restorer = DiacriticRestorer().fit(d.text for d in docs)
        self.enc = enc
        self.np = np

    def analysis(self, q: str):
        try:
            from nlp.analyze import analyze_query

            return analyze_query(q, self.restorer)
        except ImportError:
            from nlp.fold import fold, has_diacritics
            from search.results import QueryInput

            acc = has_diacritics(q)
            return QueryInput(
                original=q,
                normalized=normalize(q),
                folded=fold(q),
                has_diacritics=acc,
                restored=None if acc else self.restorer.restore(q),
            )

    def evaluate(self, queries: list[Query], stripped: bool, depth: int = 100):
        """Candidate lists for every query: anchors (record keys) and the hybrid's three lists."""
        from search.fusion import top_slots

        texts = [strip_diacritics(q.text) if stripped else q.text for q in queries]
        analyses = [self.analysis(t) for t in texts]
        anchor_vecs = self.enc.encode_queries(texts)
        dense_texts = [a.restored or a.normalized for a in analyses]
        hyb_vecs = self.enc.encode_queries(dense_texts)
        from nlp.tokenize import syllables

        n = self.idx.store.next_slot
        mask = self.idx.store.alive[:n]
        out = {"bm25": [], "dense": [], "lists": [], "analyses": analyses, "restored": dense_texts}
        for t, a, av, hv in zip(texts, analyses, anchor_vecs, hyb_vecs, strict=True):
            slots, _ = top_slots(self.plain.scores(syllables(t), n), mask, depth)
            out["bm25"].append(records_of(self.idx, slots))
            dslots, _ = self.idx.dense.search(av, depth)
            out["dense"].append(records_of(self.idx, dslots))
            lists, _ = self.idx._retrieve(a, hv, mask, depth, filtered=False)
            out["lists"].append((a.has_diacritics, lists, (slots, dslots)))
        return out


def fused_ranking(run: Run, cand, weights_acc, weights_plain, config) -> list[list[str]]:
    from search.fusion import fuse

    ranked = []
    for has_d, lists, _ in cand["lists"]:
        fused = fuse(lists, weights_acc if has_d else weights_plain, config)
        ranked.append(records_of(run.idx, [s for s, _ in sorted(fused.items(), key=lambda x: -x[1])]))
    return ranked


def plain_rrf(run: Run, cand) -> list[list[str]]:
    """Reference floor: plain RRF (k=60) of the BM25 anchor and the dense anchor."""
    from search.fusion import Ranked, rrf

    ranked = []
    for _, _, (bslots, dslots) in cand["lists"]:
        import numpy as np

        lists = [
            Ranked(name="b", slots=np.asarray(bslots), scores=np.zeros(len(bslots))),
            Ranked(name="d", slots=np.asarray(dslots), scores=np.zeros(len(dslots))),
        ]
        fused = rrf(lists, {"b": 1.0, "d": 1.0})
        ranked.append(records_of(run.idx, [s for s, _ in sorted(fused.items(), key=lambda x: -x[1])]))
    return ranked


def tune(runs: list[Run], cands: dict, grid_methods=("rrf", "score")):
    """Pick fusion weights on the dev halves (mean MRR@10 over datasets), per query condition."""
    import itertools

    from search.fusion import FusionConfig, Weights

    vals = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]  # both methods are scale-invariant: dense weight fixed at 1
    best_cfg, best = None, -1.0
    results = []
    for method in grid_methods:
        cfg = FusionConfig(method=method, rrf_k=60.0)
        # accented condition (queries as given) and plain condition (stripped) tuned separately
        best_w = {}
        for cond, stripped in (("accented", False), ("plain", True)):
            top_score, top_w = -1.0, None
            for wa, wf, wd in itertools.product(vals, vals, [1.0]):
                w = Weights(acc=wa, fold=wf, dense=wd)
                score = 0.0
                for run in runs:
                    cand, qs = cands[(run.ds.name, stripped, "dev")]
                    score += metrics(fused_ranking(run, cand, w, w, cfg), qs)["MRR@10"]
                score /= len(runs)
                if score > top_score + 1e-9:
                    top_score, top_w = score, w
            best_w[cond] = (top_w, top_score)
        total = best_w["accented"][1] + best_w["plain"][1]
        results.append((method, best_w))
        if total > best:
            best = total
            best_cfg = FusionConfig(method=method, rrf_k=60.0, accented=best_w["accented"][0], plain=best_w["plain"][0])
    return best_cfg, results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warm", action="store_true", help="only fill the embedding cache for all passages, then exit")
    p.add_argument("--limit", type=int, default=None, help="use only the first N queries of each set")
    p.add_argument(
        "--distractors",
        default="2000",
        help="viwiki articles added to XQuAD (default 2000); 'cached' = the longest prefix "
        "of articles whose passages are all in the embedding cache",
    )
    p.add_argument("--sets", default="xquad,alqac", help="comma-separated: xquad, alqac")
    p.add_argument(
        "--alqac-laws",
        default="all",
        help="'all' (default), 'cached' = only the laws whose passages are all in the embedding "
        "cache (and the queries whose relevant articles are in them), or comma-separated "
        "law indexes (00-15)",
    )
    p.add_argument("--tune", action="store_true", help="grid-search fusion weights on the dev halves and print them")
    p.add_argument("--bigrams", action="store_true", help="index syllable bigrams too")
    args = p.parse_args(argv)
    if args.warm:
        args.distractors = 2000 if args.distractors == "cached" else int(args.distractors)
        warm(args)
        return
    run_bench(args)


def _pick_distractors(data: Path, enc, requested: str) -> int:
    if requested != "cached":
        return int(requested)
    full = load_xquad(data, distractors=2000)
    n_ok = 0
    by_article: dict[str, list[str]] = {}
    for rec, chunks in full.records:
        if rec.library_id == "viwiki":
            by_article[rec.id] = [d.embed_text for d in docs_for_record(rec, chunks)]
    for texts in by_article.values():
        if not all(cached_flags(enc, texts)):
            break
        n_ok += 1
    return n_ok


def run_bench(args: argparse.Namespace) -> None:
    import tempfile

    from search.index import DEFAULT_FUSION

    data = shared_data()
    enc = get_bench_encoder()
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    n_distr = _pick_distractors(data, enc, args.distractors) if "xquad" in sets else 0
    datasets = []
    if "xquad" in sets:
        datasets.append(load_xquad(data, distractors=n_distr, limit=args.limit))
    alqac_laws = "all"
    if "alqac" in sets:
        al = load_alqac(data)
        if args.alqac_laws != "all":
            if args.alqac_laws == "cached":
                laws = set()
                for law in alqac_law_order(al):
                    texts = [d.embed_text for d in al.docs() if d.record_id.split("-")[0] == law]
                    if all(cached_flags(enc, texts)):
                        laws.add(law)
            else:
                laws = {x.strip() for x in args.alqac_laws.split(",")}
            al = restrict_alqac(al, laws)
            alqac_laws = ",".join(sorted(laws))
        if args.limit:
            al.queries = al.queries[: args.limit]
        datasets.append(al)
    work = Path(tempfile.mkdtemp(prefix="thuvien-bench-"))
    runs = [Run(ds, enc, args.bigrams, work) for ds in datasets]
    cands = {}
    for run in runs:
        dev, test = split_dev(run.ds.queries)
        for stripped in (False, True):
            full = run.evaluate(run.ds.queries, stripped)
            pos = {id(q): i for i, q in enumerate(run.ds.queries)}
            for part, qs in (("dev", dev), ("test", test), ("all", run.ds.queries)):
                idx = [pos[id(q)] for q in qs]
                cands[(run.ds.name, stripped, part)] = ({k: [v[i] for i in idx] for k, v in full.items()}, qs)
    config = DEFAULT_FUSION.model_copy(update={"bigrams": args.bigrams})
    if args.tune:
        config, tried = tune(runs, cands)
        config = config.model_copy(update={"bigrams": args.bigrams})
        print("tuned on dev halves:", file=sys.stderr)
        for method, bw in tried:
            print(
                f"  {method}: accented {bw['accented'][0].model_dump()} dev MRR {bw['accented'][1]:.3f}; "
                f"plain {bw['plain'][0].model_dump()} dev MRR {bw['plain'][1]:.3f}",
                file=sys.stderr,
            )
        print("  chosen:", config.model_dump_json(), file=sys.stderr)
    report(runs, cands, config, n_distr, enc.model_id, args, alqac_laws)


def report(runs, cands, config, n_distr, model_id, args, alqac_laws="all") -> None:
    figures: dict = {
        "model_id": model_id,
        "xquad_distractor_articles": n_distr,
        "alqac_laws": alqac_laws,
        "fusion": config.model_dump(),
        "limit": args.limit,
    }
    for run in runs:
        figures[f"{run.ds.name}_size"] = {
            "records": len(run.ds.records),
            "documents": run.idx.count(),
            "queries": len(run.ds.queries),
        }
    rows = []
    for run in runs:
        name = run.ds.name
        figures[name] = {}
        for stripped in (False, True):
            cond = "stripped" if stripped else "given"
            for part in ("all", "test"):
                cand, qs = cands[(name, stripped, part)]
                sysm = {
                    "bm25": metrics(cand["bm25"], qs),
                    "dense": metrics(cand["dense"], qs),
                    "plain_rrf": metrics(plain_rrf(run, cand), qs),
                    "hybrid": metrics(fused_ranking(run, cand, config.accented, config.plain, config), qs),
                }
                figures[name][f"{cond}_{part}"] = {k: {m: round(v, 4) for m, v in d.items()} for k, d in sysm.items()}
                if part == "all":
                    for sysname, m in sysm.items():
                        rows.append((name, cond, sysname, m, len(qs)))
    print(
        f"\n{'set':<10} {'queries':<9} {'system':<10} {'n':>5} {'R@1':>6} {'R@10':>6} {'MRR@10':>7} "
        f"{'/bm25':>6} {'/dense':>6} {'/given':>6}"
    )
    for name, cond, sysname, m, n in rows:
        base = {r[2]: r[3] for r in rows if r[0] == name and r[1] == cond}
        given = next(r[3] for r in rows if r[0] == name and r[1] == "given" and r[2] == sysname)
        ratio = lambda a, b: f"{a / b:6.3f}" if b else "   n/a"  # noqa: E731
        print(
            f"{name:<10} {cond:<9} {sysname:<10} {n:>5} {m['R@1']:6.3f} {m['R@10']:6.3f} {m['MRR@10']:7.3f} "
            f"{ratio(m['MRR@10'], base['bm25']['MRR@10'])} {ratio(m['MRR@10'], base['dense']['MRR@10'])} "
            f"{ratio(m['MRR@10'], given['MRR@10'])}"
        )
    checks = {}
    for run in runs:
        name = run.ds.name
        f = figures[name]
        for cond in ("given", "stripped"):
            h = f[f"{cond}_all"]
            checks[f"{name}_{cond}_hybrid_above_anchors"] = h["hybrid"]["MRR@10"] > max(
                h["bm25"]["MRR@10"], h["dense"]["MRR@10"]
            )
        checks[f"{name}_stripped_keeps_90pct"] = (
            f["stripped_all"]["hybrid"]["MRR@10"] >= 0.9 * f["given_all"]["hybrid"]["MRR@10"]
        )
    figures["checks"] = checks
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
