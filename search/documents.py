"""What the search index holds: one document per record plus one per full-text chunk.

A record-level document carries the catalogue metadata (title, authors, subjects, summary, notes,
publisher); chunk documents carry a passage of digitized text plus the record's title, so a search
for title words also finds the passages. Every document carries the record metadata used for
filters, facets and display.

The dense vector of a document is the embedding of :attr:`IndexDoc.embed_text` as a *passage*
(``encoder.encode_passages([doc.embed_text for doc in docs])``): the text, cut at a word boundary
to :data:`MAX_EMBED_CHARS`. A record document holds at most :data:`MAX_RECORD_TEXT_CHARS` of
metadata (a MARC field holds at most 9,999 bytes; one shop description in the Vinabook set is
583,000 characters, a whole book pasted in): the catalogue keeps the full record, the index its head.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

from catalog.model import Chunk, Record, record_key

__all__ = ["IndexDoc", "docs_for_record", "record_doc_text", "MAX_EMBED_CHARS", "MAX_RECORD_TEXT_CHARS"]

MAX_RECORD_TEXT_CHARS = 10_000
MAX_EMBED_CHARS = 10_000  # the embedding service accepts 20,000; e5 reads 512 tokens per window


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last whitespace when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = head.rfind(" ", limit // 2)
    return head[:cut] if cut > 0 else head


class IndexDoc(BaseModel):
    doc_id: str = Field(description="'<library_id>/<record_id>' for a record doc, the chunk_id for a chunk")
    record_key: str = Field(description="'<library_id>/<record_id>'")
    library_id: str
    record_id: str
    kind: Literal["record", "chunk"]
    text: str = Field(description="The text that is embedded and matched (metadata text or the passage)")
    location: str | None = None
    title: str = ""
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    language: str | None = None
    type: str = "book"
    subjects: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def embed_text(self) -> str:
        """The text to embed as a passage for this document: ``text``, clipped to MAX_EMBED_CHARS."""
        return clip(self.text, MAX_EMBED_CHARS)

    def lexical_text(self) -> str:
        """The text indexed by BM25: chunk docs also match their record's title."""
        if self.kind == "chunk" and self.title:
            return f"{self.title}\n{self.text}"
        return self.text


def record_doc_text(record: Record) -> str:
    """The metadata text of a record: title, authors, subjects, summary, notes, publisher."""
    parts: list[str] = [record.title]
    if record.authors:
        parts.append("; ".join(record.authors))
    if record.subjects:
        parts.append("; ".join(record.subjects))
    if record.series:
        parts.append("; ".join(record.series))
    if record.summary:
        parts.append(record.summary)
    parts.extend(n for n in record.notes if n)
    if record.publisher:
        parts.append(record.publisher)
    return clip("\n".join(p.strip() for p in parts if p and p.strip()), MAX_RECORD_TEXT_CHARS)


def docs_for_record(record: Record, chunks: list[Chunk] | None = None) -> list[IndexDoc]:
    """One record-level document and one document per chunk (chunks of other records are refused)."""
    key = record_key(record.library_id, record.id)
    meta = dict(
        record_key=key,
        library_id=record.library_id,
        record_id=record.id,
        title=record.title,
        authors=list(record.authors),
        year=record.year,
        language=record.language,
        type=record.type,
        subjects=list(record.subjects),
    )
    docs = [IndexDoc(doc_id=key, kind="record", text=record_doc_text(record), **meta)]
    for chunk in chunks or []:
        if chunk.record_key != key:
            raise ValueError(f"chunk {chunk.chunk_id!r} belongs to {chunk.record_key!r}, not to {key!r}")
        if not chunk.text.strip():
            continue
        docs.append(IndexDoc(doc_id=chunk.chunk_id, kind="chunk", text=chunk.text, location=chunk.location, **meta))
    return docs
