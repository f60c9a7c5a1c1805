"""The embedding service: text -> vectors with the configured encoder.

POST /v1/embed  {"texts": [...], "kind": "query"|"passage", "encoding": "float"|"base64"}
  -> {"model_id", "dim", "count", "vectors": [[...]]}  (encoding "float", the default)
  -> {"model_id", "dim", "count", "vectors_b64": "..."} (encoding "base64": little-endian float32,
     row-major; about 4x smaller and much faster to parse than JSON float lists)
GET  /v1/info   -> {"model_id", "dim", "max_texts", "max_chars", "kinds", "encodings"}
"""

from __future__ import annotations

import base64
import threading
from typing import Literal

import numpy as np
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field

from embeddings.encoder import Encoder
from services.common.app import make_app
from services.common.errors import Problem
from services.common.metrics import observe_inference

MAX_TEXTS = 256
MAX_CHARS = 20_000


class EmbedRequest(BaseModel):
    texts: list[str] = Field(..., description="Texts to embed, without any 'query: '/'passage: ' prefix")
    kind: Literal["query", "passage"] = "passage"
    encoding: Literal["float", "base64"] = "float"


class EmbedResponse(BaseModel):
    model_id: str
    dim: int
    count: int
    vectors: list[list[float]] | None = None
    vectors_b64: str | None = None


class InfoResponse(BaseModel):
    model_id: str
    dim: int
    max_texts: int
    max_chars: int
    kinds: list[str] = ["query", "passage"]
    encodings: list[str] = ["float", "base64"]


def create_app(encoder: Encoder, *, max_texts: int = MAX_TEXTS, max_chars: int = MAX_CHARS) -> FastAPI:
    router = APIRouter()
    lock = threading.Lock()  # one batch at a time: the backends already use every core

    @router.get("/v1/info", response_model=InfoResponse)
    def info() -> InfoResponse:
        return InfoResponse(model_id=encoder.model_id, dim=encoder.dim, max_texts=max_texts, max_chars=max_chars)

    @router.post("/v1/embed", response_model=EmbedResponse, response_model_exclude_none=True)
    def embed(req: EmbedRequest) -> EmbedResponse:
        if len(req.texts) > max_texts:
            raise Problem(
                413,
                f"Quá nhiều văn bản trong một yêu cầu ({len(req.texts)}); tối đa {max_texts}, hãy chia nhỏ.",
                f"Too many texts in one request ({len(req.texts)}); at most {max_texts}, split the batch.",
            )
        errors = []
        for i, t in enumerate(req.texts):
            if len(t) > max_chars:
                errors.append({"loc": ["body", "texts", str(i)], "msg": f"longer than {max_chars} characters"})
            else:
                try:
                    t.encode("utf-8")
                except UnicodeEncodeError:
                    errors.append({"loc": ["body", "texts", str(i)], "msg": "not valid Unicode (lone surrogate)"})
        if errors:
            where = ", ".join(e["loc"][-1] for e in errors[:10])
            raise Problem(
                422,
                f"Văn bản không hợp lệ ở vị trí {where}: dài quá {max_chars} ký tự hoặc không phải Unicode hợp lệ.",
                f"Invalid text at position {where}: longer than {max_chars} characters or not valid Unicode.",
                errors=errors,
            )
        with lock:
            fn = encoder.encode_queries if req.kind == "query" else encoder.encode_passages
            with observe_inference("embedding", encoder.model_id, req.kind, len(req.texts)):
                vecs = fn(req.texts)
        vecs = np.ascontiguousarray(vecs, dtype="<f4").reshape(len(req.texts), encoder.dim)
        if req.encoding == "base64":
            return EmbedResponse(
                model_id=encoder.model_id,
                dim=encoder.dim,
                count=len(req.texts),
                vectors_b64=base64.b64encode(vecs.tobytes()).decode("ascii"),
            )
        return EmbedResponse(model_id=encoder.model_id, dim=encoder.dim, count=len(req.texts), vectors=vecs.tolist())

    # The encoder is loaded before the app is made: ready once it answers for its model id.
    return make_app("embedding", [router], readiness_checks={"model": lambda: bool(encoder.model_id and encoder.dim)})
