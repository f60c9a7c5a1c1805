"""Citations: built from ranked sentences, and checked against the passages actually retrieved."""

from __future__ import annotations

from collections.abc import Sequence

from qa_service.rerank import Candidate
from qa_service.text import normalize
from qa_service.types import Citation, Passage


def build_citations(cands: Sequence[Candidate], passages: Sequence[Passage], limit: int = 5) -> list[Citation]:
    """One citation per passage, in the order of each passage's best sentence; the quote is that sentence."""
    out: list[Citation] = []
    seen: set[int] = set()
    for c in cands:
        if c.passage_index in seen:
            continue
        seen.add(c.passage_index)
        p = passages[c.passage_index]
        out.append(
            Citation(
                record_id=p.record_id,
                library_id=p.library_id,
                chunk_id=p.chunk_id,
                title=p.title,
                quote=c.text,
                location=p.location,
            )
        )
        if len(out) == limit:
            break
    return out


def _squash(text: str) -> str:
    return " ".join(normalize(text).casefold().split())


def is_valid_citation(citation: Citation, passages: Sequence[Passage]) -> bool:
    """The citation names a retrieved passage of the same record, and its quote is in that passage."""
    for p in passages:
        if (
            p.chunk_id == citation.chunk_id
            and p.record_id == citation.record_id
            and p.library_id == citation.library_id
        ):
            return not citation.quote or _squash(citation.quote) in _squash(p.text)
    return False


def check_citations(citations: Sequence[Citation], passages: Sequence[Passage]) -> list[Citation]:
    """Only the citations that hold against the retrieved passages."""
    return [c for c in citations if is_valid_citation(c, passages)]
