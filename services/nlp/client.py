"""Typed client of the nlp service (in process through ASGI, or over HTTP)."""

from __future__ import annotations

from nlp.analyze import QueryAnalysis
from nlp.langid import LanguageGuess
from services.common.client import ServiceClient
from services.nlp.schemas import CONTROL_RE, NormalizeResponse, RestoreResponse, RestorerStats


class NlpClient(ServiceClient):
    """The service refuses control characters (a 4xx for raw HTTP callers); this client, used inside
    the suite, drops them first (as ``nlp.normalize`` would), so a query such as "\x00Truyện Kiều" is
    searched as "Truyện Kiều". Texts that are empty after that are still refused (422)."""

    def __init__(self, name: str = "nlp", **kwargs) -> None:
        super().__init__(name, **kwargs)

    async def analyze(self, q: str, *, segment: bool = True) -> QueryAnalysis:
        data = await self.post_json("/v1/analyze", {"q": _clean(q), "segment": segment}, idempotent=True)
        return QueryAnalysis.model_validate(data)

    async def normalize(self, texts: list[str]) -> NormalizeResponse:
        return NormalizeResponse.model_validate(
            await self.post_json("/v1/normalize", {"texts": _clean_all(texts)}, idempotent=True)
        )

    async def segment(self, texts: list[str]) -> list[list[str]]:
        return (await self.post_json("/v1/segment", {"texts": _clean_all(texts)}, idempotent=True))["words"]

    async def sentences(self, texts: list[str]) -> list[list[str]]:
        return (await self.post_json("/v1/sentences", {"texts": _clean_all(texts)}, idempotent=True))["sentences"]

    async def langid(self, texts: list[str]) -> list[LanguageGuess]:
        data = await self.post_json("/v1/langid", {"texts": _clean_all(texts)}, idempotent=True)
        return [LanguageGuess.model_validate(g) for g in data["guesses"]]

    async def restore(self, q: str) -> RestoreResponse:
        return RestoreResponse.model_validate(await self.post_json("/v1/restore", {"q": _clean(q)}, idempotent=True))

    async def learn(self, texts: list[str], *, save: bool = False) -> RestorerStats:
        """Teach the restorer new collection text. ``save`` defaults to False here because the ingest
        pipeline saves once per commit with :meth:`save`; blank texts are dropped, long texts are cut
        into pieces the service accepts."""
        pieces = [p for t in texts for p in _pieces(t)]
        stats = None
        for start in range(0, len(pieces), 1000):
            batch = pieces[start : start + 1000]
            stats = RestorerStats.model_validate(
                await self.post_json("/v1/restore/learn", {"texts": batch, "save": save})
            )
        if stats is None:
            return await self.stats()
        return stats

    async def save(self) -> RestorerStats:
        return RestorerStats.model_validate(await self.post_json("/v1/restore/save"))

    async def stats(self) -> RestorerStats:
        return RestorerStats.model_validate(await self.get_json("/v1/restore/stats"))


def _clean(text: str) -> str:
    return CONTROL_RE.sub("", text) if isinstance(text, str) else text


def _clean_all(texts: list[str]) -> list[str]:
    return [_clean(t) for t in texts]


def _pieces(text: str, limit: int = 10_000) -> list[str]:
    """Split ``text`` at line breaks (or spaces) into pieces of at most ``limit`` characters, and drop
    control characters, so that collection text is never refused by the service's input checks."""
    text = CONTROL_RE.sub(" ", text or "")
    if not text.strip():
        return []
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        out.append(text[:cut])
        text = text[cut:]
    if text.strip():
        out.append(text)
    return out
