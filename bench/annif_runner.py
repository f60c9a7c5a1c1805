"""Run Annif (in its own venv) on one prepared split and dump its test suggestions as JSON.

Usage (with the Annif venv's python):
    annif_runner.py WORKDIR BACKEND[,BACKEND...] --language en --analyzer 'snowball(english)'

WORKDIR holds vocab.tsv, train.tsv, test.tsv (Annif formats) written by bench/subjects.py. For each
backend a project is trained on train.tsv; "ensemble" averages the others. Suggestions (top 10) for
test.tsv go to WORKDIR/annif-<backend>.json as [[uri, score], ...] per document.

NLTK's "punkt_tab" data cannot be downloaded here (offline), so sentence splitting uses NLTK's
Punkt tokenizer with default (untrained) parameters; word tokenisation is NLTK's own, unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _patch_nltk() -> None:
    import nltk.data
    import nltk.tokenize
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    punkt = PunktSentenceTokenizer()
    real_find = nltk.data.find

    def find(resource, *a, **k):
        if "punkt" in resource:
            return resource
        return real_find(resource, *a, **k)

    nltk.data.find = find
    nltk.tokenize.sent_tokenize = lambda text, language="english": punkt.tokenize(text)


BACKEND_PARAMS = {
    "tfidf": "",
    "svc": "",
    "omikuji": "cluster_balanced=False\ncluster_k=100\nmax_depth=3\ncollapse_every_n_layers=5",
    "fasttext": "dim=100\nlr=0.25\nepoch=5\nloss=hs\nchunksize=24\nminn=3\nmaxn=6",
    "mllm": "",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("backends")
    ap.add_argument("--language", default="en")
    ap.add_argument("--analyzer", default="snowball(english)")
    args = ap.parse_args()
    wd = Path(args.workdir).resolve()
    backends = args.backends.split(",")
    members = [b for b in backends if b != "ensemble"]
    cfg = []
    for b in members:
        extra = BACKEND_PARAMS.get(b, "")
        if b == "fasttext" and "simple" in args.analyzer:
            extra = extra.replace("loss=hs", "loss=softmax")
        cfg.append(
            f"[{b}]\nname={b}\nlanguage={args.language}\nbackend={b}\nanalyzer={args.analyzer}\n"
            f"vocab=v\nlimit=100\n{extra}\n"
        )
    if "ensemble" in backends:
        cfg.append(
            f"[ensemble]\nname=ensemble\nlanguage={args.language}\nbackend=ensemble\n"
            f"sources={','.join(m + ':1' for m in members)}\nvocab=v\nlimit=100\n"
        )
    (wd / "projects.cfg").write_text("\n".join(cfg), encoding="utf-8")
    os.environ["ANNIF_PROJECTS"] = str(wd / "projects.cfg")
    os.environ["ANNIF_DATADIR"] = str(wd / "annif-data")
    _patch_nltk()
    import annif
    import annif.corpus
    import annif.registry
    import annif.vocab

    app = annif.create_flask_app()
    with app.app_context():
        vocab = annif.registry.get_vocab("v")
        vocab.load_vocabulary(annif.vocab.VocabFileTSV(str(wd / "vocab.tsv"), args.language), force=True)
        timings = {}
        for b in backends:
            project = annif.registry.get_project(b)
            t0 = time.time()
            if b != "ensemble":
                project.train(annif.corpus.DocumentFileTSV(str(wd / "train.tsv"), project.subjects), jobs=1)
            t1 = time.time()
            project.initialize()
            corpus = annif.corpus.DocumentFileTSV(str(wd / "test.tsv"), project.subjects, require_subjects=False)
            out = []
            for batch in corpus.doc_batches:
                sb = project.suggest(batch).filter(limit=10)
                for hits in sb:
                    out.append([[project.subjects[h.subject_id].uri, float(h.score)] for h in hits])
            t2 = time.time()
            timings[b] = {
                "train_s": round(t1 - t0, 1),
                "suggest_ms_per_doc": round(1000 * (t2 - t1) / max(1, len(out)), 2),
            }
            (wd / f"annif-{b}.json").write_text(json.dumps(out), encoding="utf-8")
            print(f"annif {wd.name} {b}: {len(out)} docs, {timings[b]}", file=sys.stderr, flush=True)
        (wd / "annif-timings.json").write_text(json.dumps(timings), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
