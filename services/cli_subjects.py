"""``thuvien subjects ...``: load vocabularies, train projects, suggest, evaluate (Annif's metric set)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import typer

app = typer.Typer(
    help="Subject headings and DDC: vocabularies, training, suggestion, evaluation.", no_args_is_help=True
)

DataDir = typer.Option(None, "--data-dir", help="Data directory (default: THUVIEN_DATA_DIR or ./var).")


def _store(data_dir: Path | None):
    from services.common.settings import get_settings
    from subjects.embedding import make_encoder
    from subjects.project import ProjectStore

    s = get_settings()
    root = data_dir or s.data_dir

    class Lazy:
        enc = None

        def _get(self):
            if Lazy.enc is None:
                Lazy.enc = make_encoder(root / "cache", s.models_dir, s.embedding_backend)
            return Lazy.enc

        def encode_queries(self, texts):
            return self._get().encode_queries(texts)

        def encode_passages(self, texts, batch_size: int = 32):
            return self._get().encode_passages(texts)

    return ProjectStore(root, {"encoder": Lazy()})


def _read_corpus(paths: list[Path], vocab) -> list:
    """TSV (Annif), JSONL (title/description/subjects), or MARC (.mrc, .mrc.gz): documents with URIs."""
    from subjects import corpora, marc
    from subjects.vocab import ddc_notation, ddc_uri

    docs = []
    by_label = vocab.by_label()
    for p in paths:
        name = p.name.lower()
        if name.endswith((".mrc", ".mrc.gz", ".marc")):
            for d in marc.read_marc(p, tags=("600", "610", "650", "651")):
                uris = [by_label[h.casefold()] for h in d.headings if h.casefold() in by_label]
                if d.ddc:
                    for depth in (1, 2, 3, None):
                        u = ddc_uri(ddc_notation(marc.ddc_at_depth(d.ddc, depth)))
                        if u in vocab:
                            uris.append(u)
                docs.append(corpora.Document(d.text, uris, id=d.id))
        elif name.endswith((".jsonl", ".json")):
            docs.extend(corpora.read_jsonl_corpus(p))
        else:
            docs.extend(corpora.read_tsv_corpus(p, vocab))
    return [d for d in docs if d.text.strip()]


@app.command("load-vocab")
def load_vocab(
    vocab_id: str = typer.Argument(..., help="Identifier of the vocabulary, e.g. lcsh or ddc3."),
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="SKOS/RDF file, TSV, or MARC file."),
    language: str = typer.Option("vi", "--language", "-L", help="Language of TSV labels / preferred labels."),
    from_marc: bool = typer.Option(False, "--from-marc", help="Build from the MARC file's 600/610/650/651 headings."),
    ddc_depth: int = typer.Option(0, "--ddc-depth", help="With --from-marc: build DDC classes (1, 2, 3; 0 = no)."),
    min_count: int = typer.Option(1, "--min-count", help="With --from-marc: keep headings used this often."),
    data_dir: Path | None = DataDir,
) -> None:
    """Load (or replace) a vocabulary. A malformed file is refused with its line; the old one stays."""
    from subjects import corpora, marc
    from subjects.vocab import VocabularyError, ddc_vocabulary, from_headings

    store = _store(data_dir)
    try:
        if from_marc:
            docs = list(marc.read_marc(source, tags=("600", "610", "650", "651")))
            if ddc_depth:
                counts = Counter(marc.ddc_at_depth(d.ddc, ddc_depth) for d in docs if d.ddc)
                vocab = ddc_vocabulary(vocab_id, counts)
            else:
                counts = Counter(h for d in docs for h in d.headings)
                vocab = from_headings(
                    vocab_id, counts, corpora.LCSH_BASE, language if language != "vi" else "en", min_count
                )
            store.put_vocab(vocab)
        else:
            vocab = store.load_vocab_file(vocab_id, source, language)
    except VocabularyError as exc:
        typer.echo(f"Lỗi / error: {source}: {exc} (the previous vocabulary, if any, is still in use)", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{vocab_id}: {len(vocab)} concepts, languages {', '.join(vocab.languages)}")


@app.command("train")
def train(
    project_id: str = typer.Argument(..., help="Project to (create and) train."),
    corpus: list[Path] = typer.Argument(..., exists=True, help="Training documents: TSV, JSONL or MARC files."),
    vocab: str | None = typer.Option(None, "--vocab", help="Vocabulary id (needed to create the project)."),
    language: str = typer.Option("vi", "--language", "-L", help="Language of the project's labels."),
    backend: str = typer.Option("ensemble", "--backend", help="ensemble, linear, knn or labels."),
    embeddings: bool = typer.Option(True, "--embeddings/--no-embeddings", help="Use e5 kNN and label matching."),
    data_dir: Path | None = DataDir,
) -> None:
    """Train a project (creating it with --vocab if it does not exist)."""
    from subjects.project import ProjectConfig, UnknownProjectError

    store = _store(data_dir)
    try:
        proj = store.get(project_id)
    except UnknownProjectError:
        if not vocab:
            typer.echo(f"project {project_id!r} does not exist; give --vocab to create it", err=True)
            raise typer.Exit(2) from None
        params = {}
        if backend == "ensemble" and not embeddings:
            params = {"members": [{"backend": "linear"}, {"backend": "knn", "params": {"representation": "tfidf"}}]}
        proj = store.create(ProjectConfig(project_id, vocab, language=language, backend=backend, params=params))
    docs = _read_corpus(list(corpus), proj.vocab)
    usable = [d for d in docs if any(u in proj.vocab for u in d.subjects)]
    typer.echo(f"{len(usable)} of {len(docs)} documents have subjects of {proj.vocab.id}; training…")
    if not usable:
        raise typer.Exit(2)
    store.train(project_id, usable)
    typer.echo(f"{project_id}: trained")


@app.command("suggest")
def suggest(
    project_id: str = typer.Argument(...),
    text: str | None = typer.Argument(None, help="Text; read from stdin when omitted."),
    limit: int = typer.Option(10, "--limit", "-l"),
    threshold: float = typer.Option(0.0, "--threshold", "-t"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path | None = DataDir,
) -> None:
    """Suggest subjects for a text (Annif's output format: <uri> TAB label TAB score)."""
    from subjects.project import UnknownProjectError

    text = text if text is not None else sys.stdin.read()
    if not text.strip():
        typer.echo("empty text", err=True)
        raise typer.Exit(2)
    try:
        proj = _store(data_dir).get(project_id)
    except UnknownProjectError:
        typer.echo(f"no project {project_id!r}", err=True)
        raise typer.Exit(2) from None
    res = proj.suggest_batch([text], limit, threshold)[0]
    for w in res.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in res.results], ensure_ascii=False))
        return
    for s in res.results:
        typer.echo(f"<{s.uri}>\t{s.label}\t{s.score:.4f}\t{','.join(s.sources)}")


@app.command("eval")
def evaluate_cmd(
    project_id: str = typer.Argument(...),
    corpus: list[Path] = typer.Argument(..., exists=True, help="Gold documents: TSV, JSONL or MARC files."),
    limit: int = typer.Option(10, "--limit", "-l"),
    threshold: float = typer.Option(0.0, "--threshold", "-t"),
    as_json: bool = typer.Option(False, "--json"),
    data_dir: Path | None = DataDir,
) -> None:
    """Evaluate against gold subjects: F1@5, NDCG, NDCG@10, Precision@1/3/5, per-document P/R/F1."""
    from tqdm import tqdm

    from subjects.metrics import evaluate

    proj = _store(data_dir).get(project_id)
    docs = [d for d in _read_corpus(list(corpus), proj.vocab) if any(u in proj.vocab for u in d.subjects)]
    if not docs:
        typer.echo("no document with subjects of this vocabulary", err=True)
        raise typer.Exit(2)
    preds = []
    for i in tqdm(range(0, len(docs), 64), desc="eval", unit="batch"):
        batch = docs[i : i + 64]
        preds += [
            [(s.uri, s.score) for s in r.results] for r in proj.suggest_batch([d.text for d in batch], limit, threshold)
        ]
    res = evaluate([{u for u in d.subjects if u in proj.vocab} for d in docs], preds)
    if as_json:
        typer.echo(json.dumps(res))
        return
    for k, v in res.items():
        typer.echo(f"{k + ':':32s}{v:.4f}" if isinstance(v, float) else f"{k + ':':32s}{v}")


@app.command("train-catalog")
def train_catalog(
    heading_project: str = typer.Option("chu-de", help="Project (and vocabulary) of the catalogue's own headings."),
    ddc_project: str = typer.Option("ddc", help="Project (and vocabulary) of DDC classes."),
    ddc_depth: int = typer.Option(3, help="DDC depth to suggest (1, 2 or 3 digits)."),
    embeddings: bool = typer.Option(True, "--embeddings/--no-embeddings", help="Use e5 kNN and label matching."),
    data_dir: Path | None = DataDir,
) -> None:
    """Build both vocabularies from the catalogue's own records and train the two projects on them.

    Headings come from the records' subjects (subdivisions joined by " -- "), DDC from their class
    number; the text is title, summary and notes. This is what `make run` does for the demo library.
    """
    from catalog.store import CatalogStore
    from services.common.settings import get_settings
    from subjects.marc import ddc_at_depth
    from subjects.project import ProjectConfig, UnknownProjectError
    from subjects.types import Document
    from subjects.vocab import ddc_notation, ddc_uri, ddc_vocabulary, from_headings, heading_uri

    settings = get_settings() if data_dir is None else get_settings().model_copy(update={"data_dir": data_dir})
    records = [r for batch in CatalogStore(settings.db_url).iter_records() for r in batch]
    base = "http://thuvien.local/chu-de/"
    texts = {r.key: "\n".join(filter(None, [r.title, r.summary, *r.notes])) for r in records}
    headings = Counter(h for r in records for h in r.subjects)
    classes = Counter(ddc_at_depth(r.ddc, ddc_depth) for r in records if r.ddc and r.ddc[:1].isdigit())
    plans = [
        (
            heading_project,
            from_headings(heading_project, headings, base, "vi"),
            [
                Document(texts[r.key], [heading_uri(base, h) for h in r.subjects], id=r.key)
                for r in records
                if r.subjects
            ],
        ),
        (
            ddc_project,
            ddc_vocabulary(ddc_project, classes),
            [
                Document(texts[r.key], [ddc_uri(ddc_notation(ddc_at_depth(r.ddc, ddc_depth)))], id=r.key)
                for r in records
                if r.ddc and r.ddc[:1].isdigit()
            ],
        ),
    ]
    store = _store(data_dir)
    params = (
        {}
        if embeddings
        else {"members": [{"backend": "linear"}, {"backend": "knn", "params": {"representation": "tfidf"}}]}
    )
    for project_id, vocab, docs in plans:
        if not docs:
            typer.echo(f"{project_id}: no catalogued records to learn from", err=True)
            raise typer.Exit(2)
        store.put_vocab(vocab)
        try:
            store.get(project_id)
        except UnknownProjectError:
            store.create(ProjectConfig(project_id, vocab.id, language="vi", backend="ensemble", params=params))
        store.train(project_id, docs)
        typer.echo(f"{project_id}: {len(vocab)} concepts, trained on {len(docs)} records")
