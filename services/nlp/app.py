"""The nlp service: query analysis, normalisation, segmentation, sentences, language, diacritics.

Routes (all POST, JSON, under ``/v1``): ``/analyze`` ``{"q"}`` → QueryAnalysis; ``/normalize``,
``/segment``, ``/sentences``, ``/langid`` ``{"texts": [...]}``; ``/restore`` ``{"q"}``;
``/restore/learn`` ``{"texts": [...], "save": true}`` (updates the diacritic restorer from new
collection text) and ``/restore/save``; ``GET /v1/restore/stats``. Bad input (empty, longer than
10,000 characters, control characters, too many texts) is a 4xx problem+json naming the field.
"""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI

from nlp.analyze import QueryAnalysis, analyze_query
from nlp.fold import fold_normalized
from nlp.langid import detect_language
from nlp.normalize import normalize
from nlp.restore import DiacriticRestorer
from nlp.segment import segment_words
from nlp.sentences import split_sentences
from services.common.app import make_app
from services.common.errors import Problem
from services.nlp.schemas import (
    CONTROL_RE,
    MAX_TEXT_CHARS,
    MAX_TEXTS,
    AnalyzeRequest,
    LangidResponse,
    LearnRequest,
    NormalizeResponse,
    RestoreRequest,
    RestoreResponse,
    RestorerStats,
    SegmentResponse,
    SentencesResponse,
    TextsRequest,
)

log = logging.getLogger("thuvien.nlp")

_CONTROL_RE = CONTROL_RE


def _check_text(text: str, loc: list[str | int], *, allow_blank: bool = False) -> None:
    where = ".".join(str(p) for p in loc)
    if len(text) > MAX_TEXT_CHARS:
        raise Problem(
            422,
            f"{where}: văn bản dài {len(text)} ký tự, vượt quá giới hạn {MAX_TEXT_CHARS} ký tự.",
            f"{where}: the text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}.",
            errors=[{"loc": loc, "msg": f"longer than {MAX_TEXT_CHARS} characters"}],
        )
    m = _CONTROL_RE.search(text)
    if m:
        code = f"U+{ord(m.group(0)):04X}"
        raise Problem(
            422,
            f"{where}: có ký tự điều khiển {code} ở vị trí {m.start()}.",
            f"{where}: control character {code} at position {m.start()}.",
            errors=[{"loc": loc, "msg": f"control character {code} at {m.start()}"}],
        )
    if not allow_blank and not text.strip():
        raise Problem(
            422,
            f"{where}: văn bản trống.",
            f"{where}: the text is empty.",
            errors=[{"loc": loc, "msg": "empty"}],
        )


def _check_texts(texts: list[str]) -> None:
    if not texts:
        raise Problem(
            422,
            "texts: danh sách trống.",
            "texts: the list is empty.",
            errors=[{"loc": ["body", "texts"], "msg": "empty list"}],
        )
    if len(texts) > MAX_TEXTS:
        raise Problem(
            413,
            f"texts: {len(texts)} văn bản, vượt quá giới hạn {MAX_TEXTS}.",
            f"texts: {len(texts)} texts; the limit is {MAX_TEXTS}.",
            errors=[{"loc": ["body", "texts"], "msg": f"more than {MAX_TEXTS} items"}],
        )
    for i, text in enumerate(texts):
        _check_text(text, ["body", "texts", i], allow_blank=True)


def _load_restorer(path: Path | None) -> DiacriticRestorer:
    if path is not None and path.is_file():
        try:
            restorer = DiacriticRestorer.load(path)
            log.info("diacritic restorer loaded from %s: %s", path, restorer.stats())
            return restorer
        except ValueError as exc:
            # Keep serving (without suggestions) rather than fail to start; the next learn/save
            # writes a fresh file in its place.
            log.error("cannot load the diacritic restorer, starting empty: %s", exc)
    return DiacriticRestorer()


def warm_up() -> bool:
    """Load every model the service uses; errors are logged, the service then loads lazily."""
    try:
        analyze_query("khởi động thư viện", None, segment=True)
        split_sentences("Khởi động. Xong.")
    except Exception:  # pragma: no cover - a warm-up must never take the service down
        log.exception("nlp warm-up failed")
        return False
    return True


class _WarmUp:
    """The models' warm-up in a background thread; ``/readyz`` is 200 once it succeeded. Started by the
    lifespan, or by the first readiness probe when the app runs in process (no lifespan there)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self.done.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="nlp-warm-up", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        self.failed = not warm_up()
        if not self.failed:
            self.done.set()

    def check(self) -> str | None:
        if self.done.is_set():
            return None
        reason = "warm-up failed, retrying (see the log)" if self.failed else "loading the language models"
        self.start()
        return reason


def create_app(restorer_path: Path | None = None, restorer: DiacriticRestorer | None = None) -> FastAPI:
    """The nlp service app. ``restorer_path``: where the diacritic restorer is loaded from and saved
    to (None: in memory only). ``restorer``: use this one instead of loading (tests, embedding)."""
    path = Path(restorer_path) if restorer_path is not None else None
    state = {"restorer": restorer if restorer is not None else _load_restorer(path)}
    save_lock = threading.Lock()
    warm = _WarmUp()
    router = APIRouter(prefix="/v1", tags=["nlp"])

    def _stats(saved: bool = False) -> RestorerStats:
        return RestorerStats(**state["restorer"].stats(), saved=saved, path=str(path) if path else None)

    def _save() -> bool:
        if path is None:
            return False
        with save_lock:
            state["restorer"].save(path)
        return True

    @router.post("/analyze", response_model=QueryAnalysis, summary="Analyse a search query")
    def analyze(req: AnalyzeRequest) -> QueryAnalysis:
        _check_text(req.q, ["body", "q"])
        return analyze_query(req.q, state["restorer"], segment=req.segment)

    @router.post("/normalize", response_model=NormalizeResponse, summary="Normalise and fold texts")
    def normalize_texts(req: TextsRequest) -> NormalizeResponse:
        _check_texts(req.texts)
        normalized = [normalize(t) for t in req.texts]
        return NormalizeResponse(normalized=normalized, folded=[fold_normalized(t) for t in normalized])

    @router.post("/segment", response_model=SegmentResponse, summary="Segment words (underthesea)")
    def segment(req: TextsRequest) -> SegmentResponse:
        _check_texts(req.texts)
        return SegmentResponse(words=[segment_words(t) for t in req.texts])

    @router.post("/sentences", response_model=SentencesResponse, summary="Split sentences")
    def sentences(req: TextsRequest) -> SentencesResponse:
        _check_texts(req.texts)
        return SentencesResponse(sentences=[split_sentences(t) for t in req.texts])

    @router.post("/langid", response_model=LangidResponse, summary="Identify the language")
    def langid(req: TextsRequest) -> LangidResponse:
        _check_texts(req.texts)
        return LangidResponse(guesses=[detect_language(t) for t in req.texts])

    @router.post("/restore", response_model=RestoreResponse, summary="Restore diacritics of a query")
    def restore(req: RestoreRequest) -> RestoreResponse:
        _check_text(req.q, ["body", "q"])
        r = state["restorer"]
        return RestoreResponse(q=req.q, restored=r.restore(req.q), suggestion=r.suggestion(req.q))

    @router.post("/restore/learn", response_model=RestorerStats, summary="Learn diacritics from collection text")
    def learn(req: LearnRequest) -> RestorerStats:
        _check_texts(req.texts)
        state["restorer"].update(req.texts)
        saved = _save() if req.save else False
        return _stats(saved)

    @router.post("/restore/save", response_model=RestorerStats, summary="Write the restorer to its file")
    def save() -> RestorerStats:
        return _stats(_save())

    @router.get("/restore/stats", response_model=RestorerStats, summary="What the restorer has learnt")
    def stats() -> RestorerStats:
        return _stats()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        # Load the models (lexicon, lid.176, underthesea CRF) in the background so that the first
        # query does not pay for them and start-up is not delayed.
        warm.start()
        yield

    app = make_app("nlp", [router], lifespan=lifespan, readiness_checks={"models": warm.check})
    app.state.restorer_state = state
    return app
