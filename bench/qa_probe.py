"""QA reader probe: how far do frozen e5 token states go towards short answers and answerability?

An experiment for the next step of ``qa_service`` (issue #6), not a shipped component. The question
and a sentence (or a qa-news context) are encoded together by e5-small (our sentence-transformers
folder, PyTorch); each underthesea word gets the mean of its pieces' states in layers ``--layers``;
two logistic probes (answer start, answer end) read [word, word * question, word - question].

1. **Short answers** (XQuAD-vi, the gold sentence of every question, by article in the folds of
   ``bench/qa_quality.py``): span F1 of the shipped listwise span ranker (hand features: the
   anchor) and of the same ranker with five probe features per candidate (start and end logits,
   their sum, and their gaps to the sentence's best). Every row's probe features come from the
   probes fitted without its fold, and each fold's rankers are fitted on the other folds (stacking;
   the probes behind the training rows' features did see the evaluated fold).
2. **Answerability** (qa-news): AUC of the best probe span score (probes fitted on all of XQuAD)
   against the data's labels, per context (2,976 question-context pairs, the refusal set of
   ``bench/qa_quality.py``) and per pool (450 questions, answerable when any of their contexts is),
   beside the anchor: the idf-weighted share of the question's words found in the best sentence.
   A refusal precision of 0.80 at recall 0.60 on the pools needs a far better separation than either.

    .venv/bin/python bench/qa_probe.py [--layers 6,9,12] [--news-limit N]

Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.qa_quality import K_FOLDS, fit_spans  # noqa: E402
from bench.search_quality import shared_data  # noqa: E402
from embeddings.factory import default_models_dir  # noqa: E402
from models.build import ST_DIR  # noqa: E402
from models.manifest import read_current  # noqa: E402
from qa_service.questions import QUESTION_STOP, question_type  # noqa: E402
from qa_service.span import MAX_SPAN_WORDS, SPAN_FEATURES, span_candidates, span_matrix  # noqa: E402
from qa_service.span import _ner as tagged_words  # noqa: E402
from qa_service.text import contains_answer, f1_score, fold, normalize, split_sentences, syllables  # noqa: E402

PROBE_C = 0.01  # inverse L2 strength of the logistic probes (many dimensions, few thousand sentences)


@dataclass
class Encoded:
    words: list[tuple[int, int]]  # character offsets of the underthesea words that got a state
    states: np.ndarray  # [words, 3 * layers * hidden] probe inputs


class TokenStates:
    """Question and text through e5 together; per-word probe inputs."""

    def __init__(self, layers: list[int]) -> None:
        import torch
        from transformers import AutoModel

        from embeddings.e5_tokens import E5Tokenizer

        models = default_models_dir()
        version = read_current(models)
        if version is None:
            raise SystemExit("no model built; run: thuvien models build")
        folder = models / version / ST_DIR
        self.torch = torch
        self.tok = E5Tokenizer(folder, native=False)
        self.model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
        self.layers = layers

    def _ids(self, text: str) -> list[int]:
        return self.tok.fast.encode(text.translate(self.tok.table), add_special_tokens=False).ids

    def encode(self, question: str, text: str) -> Encoded:
        words: list[tuple[int, int]] = []
        pos = 0
        for w, *_ in tagged_words(text):
            i = text.find(w, pos)
            if i >= 0:
                words.append((i, i + len(w)))
                pos = i + len(w)
        q_ids = self._ids("query: " + question)
        seq = [self.tok.bos, *q_ids, self.tok.eos, self.tok.eos, *self._ids("passage:")]
        pieces: list[tuple[int, int]] = []
        for a, b in words:
            ids = self._ids(" " + text[a:b])
            pieces.append((len(seq), len(seq) + len(ids)))
            seq += ids
        seq = [*seq[:510], self.tok.eos]
        kept = [(w, p) for w, p in zip(words, pieces, strict=True) if p[0] < len(seq) - 1]
        if not kept:
            return Encoded([], np.zeros((0, 1), dtype=np.float32))
        with self.torch.inference_mode():
            out = self.model(input_ids=self.torch.tensor([seq]), output_hidden_states=True)
        h = self.torch.cat([out.hidden_states[k][0] for k in self.layers], -1).numpy()
        q = h[1 : 1 + len(q_ids)].mean(0)
        w = np.array([h[a : min(b, len(seq) - 1)].mean(0) for _, (a, b) in kept])
        return Encoded([x for x, _ in kept], np.hstack([w, w * q, w - q]).astype(np.float32))


class Probe:
    """Logistic start and end probes over standardised word states."""

    def __init__(self, encoded: list[Encoded], starts: list[set[int]], ends: list[set[int]]) -> None:
        from sklearn.linear_model import LogisticRegression

        x = np.vstack([e.states for e in encoded])
        self.mu, self.sd = x.mean(0), x.std(0) + 1e-6
        z = (x - self.mu) / self.sd
        ys = [i in s for e, s in zip(encoded, starts, strict=True) for i in range(len(e.words))]
        ye = [i in s for e, s in zip(encoded, ends, strict=True) for i in range(len(e.words))]
        self.start = LogisticRegression(C=PROBE_C, max_iter=300).fit(z, ys)
        self.end = LogisticRegression(C=PROBE_C, max_iter=300).fit(z, ye)

    def logits(self, e: Encoded) -> tuple[np.ndarray, np.ndarray]:
        z = (e.states - self.mu) / self.sd
        return self.start.decision_function(z), self.end.decision_function(z)

    def best_span(self, e: Encoded) -> float:
        if not e.words:
            return -1e9
        ls, le = self.logits(e)
        return max(float(ls[i] + le[i : i + MAX_SPAN_WORDS].max()) for i in range(len(ls)))


def gold_words(e: Encoded, text: str, answers: list[str]) -> tuple[set[int], set[int]]:
    starts, ends = set(), set()
    low = text.lower()
    for a in answers:
        a = normalize(a).lower()
        k = low.find(a)
        if k >= 0 and a:
            hit = [i for i, (x, y) in enumerate(e.words) if y > k and x < k + len(a)]
            if hit:
                starts.add(hit[0])
                ends.add(hit[-1])
    return starts, ends


def auc(pos: list[float], neg: list[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


def short_answers(enc: TokenStates, data: Path) -> tuple[dict, list]:
    raw = json.loads((data / "xquad-vi" / "xquad.vi.json").read_text(encoding="utf-8"))
    rows = []  # (fold, encoded, starts, ends, candidates' hand features, word spans of the candidates, F1s)
    for ai, art in enumerate(tqdm(raw["data"], desc="xquad: encode", unit="article")):
        for para in art["paragraphs"]:
            sentences = split_sentences(normalize(para["context"]))
            for qa in para["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                qtype = question_type(qa["question"])
                gold = next((s for s in sentences if any(contains_answer(s, a) for a in answers)), None)
                if gold is None or qtype == "yesno":
                    continue
                cands = span_candidates(gold, qa["question"], qtype)
                e = enc.encode(qa["question"], normalize(gold))
                if not cands or not e.words:
                    continue
                spans = []
                for c in cands:
                    hit = [i for i, (x, y) in enumerate(e.words) if y > c.start and x < c.end] or [0]
                    spans.append((hit[0], hit[-1]))
                f1s = np.array([max(f1_score(c.text, a) for a in answers) for c in cands])
                rows.append((ai % K_FOLDS, e, *gold_words(e, normalize(gold), answers), span_matrix(cands), spans, f1s))
    logits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for f in tqdm(range(K_FOLDS), desc="xquad: probes", unit="fold"):  # out-of-fold probe logits of every row
        train = [r for r in rows if r[0] != f and r[2]]
        probe = Probe([r[1] for r in train], [r[2] for r in train], [r[3] for r in train])
        logits |= {k: probe.logits(r[1]) for k, r in enumerate(rows) if r[0] == f}

    def with_probe(k: int) -> np.ndarray:
        r, (ls, le) = rows[k], logits[k]
        extra = np.array([[ls[a], le[b], ls[a] + le[b], ls[a] - ls.max(), le[b] - le.max()] for a, b in r[5]])
        return np.hstack([r[4], extra])

    picked: dict[str, list[float]] = defaultdict(list)
    for f in range(K_FOLDS):
        base = fit_spans([(r[0], r[4], r[6]) for r in rows if r[0] != f])
        both = fit_spans([(r[0], with_probe(k), r[6]) for k, r in enumerate(rows) if r[0] != f])
        for k, r in enumerate(rows):
            if r[0] == f:
                picked["anchor"].append(float(r[6][int(base.logit(r[4]).argmax())]))
                picked["probe"].append(float(r[6][int(both.logit(with_probe(k)).argmax())]))
                picked["oracle"].append(float(r[6].max()))
    figures = {f"span_f1_{k}": float(np.mean(v)) for k, v in picked.items()}
    figures["span_questions"] = len(picked["anchor"])
    return figures, rows


def answerability(enc: TokenStates, data: Path, rows: list, limit: int | None) -> dict:
    probe = Probe([r[1] for r in rows if r[2]], [r[2] for r in rows if r[2]], [r[3] for r in rows if r[2]])
    raw = json.loads((data / "qa-news" / "train-v2.0.json").read_text(encoding="utf-8"))["data"][:limit]
    contexts = [normalize(p["context"]) for e in raw for p in e["paragraphs"]]
    df = Counter(w for c in contexts for w in {fold(s) for s in syllables(c)})
    stop = {fold(w) for w in QUESTION_STOP}

    def coverage(question: str, text: str) -> float:
        q = {fold(w) for w in syllables(question)} - stop
        idf = {w: math.log((len(contexts) + 1) / (df[w] + 1)) for w in q}
        total = sum(idf.values()) or 1.0
        best = 0.0
        for s in split_sentences(text) or [text]:
            have = {fold(w) for w in syllables(s)}
            best = max(best, sum(v for w, v in idf.items() if w in have) / total)
        return best

    per_context: dict[str, dict[bool, list[float]]] = {"probe": defaultdict(list), "coverage": defaultdict(list)}
    per_pool: dict[str, dict[bool, list[float]]] = {"probe": defaultdict(list), "coverage": defaultdict(list)}
    for entry in tqdm(raw, desc="qa-news: encode", unit="question"):
        scores: dict[str, list[float]] = {"probe": [], "coverage": []}
        labels = []
        for para in entry["paragraphs"]:
            qa = para["qas"][0]
            text = normalize(para["context"])
            s = {"probe": probe.best_span(enc.encode(qa["question"], text)), "coverage": coverage(qa["question"], text)}
            for k, v in s.items():
                per_context[k][not qa["is_impossible"]].append(v)
                scores[k].append(v)
            labels.append(not qa["is_impossible"])
        for k, v in scores.items():
            per_pool[k][any(labels)].append(max(v))
    out = {f"news_context_auc_{k}": auc(v[True], v[False]) for k, v in per_context.items()}
    out |= {f"news_pool_auc_{k}": auc(v[True], v[False]) for k, v in per_pool.items()}
    out["news_pools"] = sum(len(v) for v in per_pool["probe"].values())
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", default="6,9,12", help="e5 layers whose states the probes read (0: embeddings)")
    ap.add_argument("--news-limit", type=int, default=None, help="only the first N qa-news questions (development)")
    args = ap.parse_args(argv)
    t0 = time.time()
    data = shared_data()
    enc = TokenStates([int(x) for x in args.layers.split(",")])
    out: dict = {"bench": "qa_probe", "layers": args.layers, "features": len(SPAN_FEATURES)}
    figures, rows = short_answers(enc, data)
    out |= figures
    out |= answerability(enc, data, rows, args.news_limit)
    print(f"\n{'figure':52s} {'value':>8s}")
    for name, key in (
        ("span F1, gold sentences: hand features (anchor)", "span_f1_anchor"),
        ("span F1, gold sentences: + probe features", "span_f1_probe"),
        ("span F1, gold sentences: best candidate (oracle)", "span_f1_oracle"),
        ("qa-news per-context AUC: idf coverage (anchor)", "news_context_auc_coverage"),
        ("qa-news per-context AUC: best probe span", "news_context_auc_probe"),
        ("qa-news per-pool AUC: idf coverage (anchor)", "news_pool_auc_coverage"),
        ("qa-news per-pool AUC: best probe span", "news_pool_auc_probe"),
    ):
        print(f"{name:52s} {out[key]:8.3f}")
    out["ratio_span_f1_probe_vs_anchor"] = out["span_f1_probe"] / out["span_f1_anchor"]
    out["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
