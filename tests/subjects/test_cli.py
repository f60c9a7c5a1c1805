"""`thuvien subjects ...` commands: help, load-vocab (good and malformed), train, suggest, eval."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from services.cli_subjects import app

runner = CliRunner()


def test_every_command_has_help():
    for cmd in ("train", "suggest", "eval", "load-vocab"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.output


def test_load_vocab_good_then_bad_keeps_old(tmp_path):
    good = tmp_path / "v.tsv"
    good.write_text("<http://x/1>\tLuật\n<http://x/2>\tY học\n", encoding="utf-8")
    r = runner.invoke(app, ["load-vocab", "demo", str(good), "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.ttl"
    bad.write_text(
        '@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n<http://x/1> skos:prefLabel "A" \n<', encoding="utf-8"
    )
    r = runner.invoke(app, ["load-vocab", "demo", str(bad), "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "line" in r.output
    stored = json.loads((tmp_path / "subjects" / "vocabs" / "demo.json").read_text(encoding="utf-8"))
    assert len(stored["concepts"]) == 2


def test_train_suggest_eval_tsv(tmp_path, vinabook_small):
    vocab, train, test = vinabook_small
    vocab.save(tmp_path / "subjects" / "vocabs" / "vinabook.json")

    def tsv(docs, name):
        p = tmp_path / name
        p.write_text("".join(f"{' '.join(d.text.split())}\t<{d.subjects[0]}>\n" for d in docs), encoding="utf-8")
        return p

    r = runner.invoke(
        app,
        [
            "train",
            "vb",
            str(tsv(train[:300], "train.tsv")),
            "--vocab",
            "vinabook",
            "--no-embeddings",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["suggest", "vb", "Bộ luật lao động sửa đổi", "--limit", "2", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0 and r.output.count("\n") <= 2 and r.output.startswith("<http")
    r = runner.invoke(app, ["eval", "vb", str(tsv(test[:60], "test.tsv")), "--json", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout.strip().splitlines()[-1])
    assert {"F1@5", "NDCG", "NDCG@10", "Precision@1", "Precision@3", "Precision@5", "F1 score (doc avg)"} <= set(
        metrics
    )
    assert metrics["Precision@1"] > 0.5
    r = runner.invoke(app, ["suggest", "missing", "abc", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2
