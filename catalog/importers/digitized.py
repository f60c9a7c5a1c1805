"""Digitized files: plain text, EPUB and PDF → one record plus passages with their location.

* The record's title/author come from the EPUB OPF metadata (``dc:title``, ``dc:creator``), the PDF
  document info, the first line of a text file when it looks like a title, or the file name.
* ``record_id`` attaches the file to an existing record: the stored record's metadata is kept and
  only its chunks are replaced (``ImportItem.attach``). Without it the record id is the file name
  stem (so re-importing the same file updates the same record).
* EPUB: chapters in spine order, titles from the table of contents or the first heading; HTML is
  stripped with lxml; locations read ``"Chương 3 — <title>, đoạn 2"``.
* PDF: text per page via pypdf; locations ``"tr. 12"`` (or ``"tr. 12–13"`` across pages). A PDF
  without a text layer is an error ("no text layer; OCR it first") and makes no record.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from pydantic import ValidationError

from catalog.chunking import chunk_pages, chunk_text
from catalog.importers.base import ImportItem, file_error, open_binary, validation_message
from catalog.languages import to_iso639_1
from catalog.model import Record
from catalog.text import clean_line, clean_list, clean_text, looks_vietnamese

_MIN_TEXT_CHARS = 20


def id_from_filename(path: Path) -> str:
    """``"Nội quy thư viện.txt"`` → ``"nội-quy-thư-viện"`` (NFC, spaces → "-", "/" and "#" removed)."""
    stem = path.name
    for suffix in (".gz", ".txt", ".epub", ".pdf", ".md", ".text"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = unicodedata.normalize("NFC", stem).strip().lower()
    stem = re.sub(r"[\s/#?%\\]+", "-", stem).strip("-")
    return stem[:200] or "document"


def _title_from_filename(path: Path) -> str:
    stem = id_from_filename(path).replace("-", " ").replace("_", " ")
    return stem[:1].upper() + stem[1:]


def split_authors(value: str | None) -> list[str]:
    """One creator string → names: split on "," ";" "&" only when every part has ≥ 2 words
    (so an inverted "Nguyễn, Du" stays one name)."""
    v = clean_line(value)
    if not v:
        return []
    parts = [p.strip() for p in re.split(r"\s*[;,&]\s*|\s+và\s+|\s+and\s+", v) if p.strip()]
    if len(parts) > 1 and all(len(p.split()) >= 2 for p in parts):
        return clean_list(parts)
    return [v]


def _make_record(library_id: str, rid: str, title: str | None, authors: list[str], **extra: Any) -> Record:
    data = {k: v for k, v in extra.items() if v not in (None, "", [])}
    return Record(
        id=rid, library_id=library_id, title=title or rid, authors=authors, type=data.pop("type", "document"), **data
    )


def _finish(
    path: Path,
    library_id: str,
    record_id: str | None,
    title: str | None,
    authors: list[str],
    passages: list[tuple[str, str | None]],
    position: str = "file",
    **extra: Any,
) -> ImportItem:
    passages = [(t, loc) for t, loc in passages if t and t.strip()]
    if not passages:
        return ImportItem(position=position, error=f"{path.name}: no text found / không có nội dung văn bản")
    if "language" not in extra or not extra["language"]:
        sample = " ".join(t for t, _ in passages[:20])
        extra["language"] = "vi" if looks_vietnamese(sample) else None
    rid = record_id or id_from_filename(path)
    try:
        rec = _make_record(library_id, rid, title or _title_from_filename(path), authors, **extra)
    except ValidationError as e:
        return ImportItem(position=position, error=validation_message(e))
    return ImportItem(position=position, record=rec, chunks=passages, attach=record_id is not None)


# ----------------------------------------------------------------------------- TXT


def _decode_text_file(raw: bytes, path: Path, encoding: str | None) -> str:
    if encoding:
        return raw.decode(encoding)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    from catalog.importers.base import decode_utf8_strict  # noqa: PLC0415

    return decode_utf8_strict(raw, path)


def read_txt(
    path: Path,
    library_id: str,
    *,
    record_id: str | None = None,
    title: str | None = None,
    encoding: str | None = None,
    target_words: int = 200,
    **_: Any,
) -> Iterator[ImportItem]:
    """A UTF-8 (or UTF-16 with BOM) text file. The first line is the title when it is short and
    followed by a blank line; paragraphs are blank-line separated; locations ``"đoạn k"``."""
    path = Path(path)
    try:
        with open_binary(path) as f:
            raw = f.read()
        text = _decode_text_file(raw, path, encoding)
    except (OSError, ValueError, LookupError) as e:
        yield file_error(str(e))
        return
    text = clean_text(text) or ""
    if len(text.strip()) < 1:
        yield file_error(f"{path.name}: empty file / tệp rỗng")
        return
    lines = text.split("\n")
    body = text
    if title is None and len(lines) > 2 and not lines[1].strip():
        first = lines[0].strip().lstrip("#").strip()
        if first and len(first) <= 150 and len(first.split()) <= 20 and not first.endswith((".", ":", ",")):
            title = first
            body = "\n".join(lines[2:])
    passages = chunk_text(body, target_words=target_words)
    yield _finish(path, library_id, record_id, clean_line(title), [], passages)


# ----------------------------------------------------------------------------- EPUB


def html_to_text(content: bytes | str) -> tuple[str, str | None]:
    """Visible text of an (X)HTML document, paragraphs separated by blank lines, and its first
    heading (h1–h3) or <title>."""
    from lxml import etree, html  # noqa: PLC0415

    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    content = re.sub(r"^\s*<\?xml[^>]*\?>", "", content)
    if not content.strip():
        return "", None
    try:
        doc = html.document_fromstring(content)
    except (etree.ParserError, ValueError):
        return "", None
    for bad in doc.xpath("//script|//style|//head/title"):
        if bad.tag == "title":
            continue
        bad.drop_tree()
    heading = None
    for h in doc.xpath("//h1|//h2|//h3"):
        t = clean_line(h.text_content())
        if t:
            heading = t
            break
    if heading is None:
        t = doc.xpath("//title")
        heading = clean_line(t[0].text_content()) if t else None
    for t in doc.xpath("//title"):
        t.drop_tree()
    blocks = {
        "p",
        "div",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "li",
        "blockquote",
        "pre",
        "tr",
        "section",
        "article",
        "dd",
        "dt",
    }
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag == "br":
            el.tail = "\n" + (el.tail or "")
        elif el.tag in blocks:
            el.tail = "\n\n" + (el.tail or "")
            if el.text is not None or len(el):
                el.text = "\n\n" + (el.text or "")
    body = doc.find("body")
    text = (body if body is not None else doc).text_content()
    return clean_text(text) or "", heading


def _toc_titles(book: Any) -> dict[str, str]:
    """href (without fragment) → title, from the EPUB table of contents (first entry wins)."""
    from ebooklib import epub  # noqa: PLC0415

    out: dict[str, str] = {}

    def walk(entries: Any) -> None:
        for e in entries:
            if isinstance(e, tuple):
                sec, children = e[0], e[1]
                if getattr(sec, "href", None):
                    out.setdefault(unquote(sec.href.split("#")[0]), sec.title)
                walk(children)
            elif isinstance(e, (epub.Link, epub.Section)) and getattr(e, "href", None):
                out.setdefault(unquote(e.href.split("#")[0]), e.title)

    walk(book.toc or [])
    return out


_CHAPTER_WORD_RE = re.compile(r"^(chương|hồi|phần|quyển|chapter|part|book|tiết|bài|mục)\b", re.IGNORECASE)
_SKIP_TITLES_RE = re.compile(r"^(cover|bìa|mục lục|table of contents|contents|toc)$", re.IGNORECASE)
_FRONT_MATTER_RE = re.compile(
    r"^(lời )?(giới thiệu|nói đầu|tựa|bạt|cuối sách)$|^(thông tin ebook|tác giả|về tác giả|ghi chú|chú thích"
    r"|phụ lục|preface|foreword|introduction|afterword|notes|about the author)\b",
    re.IGNORECASE,
)


def read_epub(
    path: Path,
    library_id: str,
    *,
    record_id: str | None = None,
    target_words: int = 200,
    **_: Any,
) -> Iterator[ImportItem]:
    """An EPUB 2/3 book: chapters from the spine (with titles) → passages."""
    import ebooklib  # noqa: PLC0415
    from ebooklib import epub  # noqa: PLC0415

    path = Path(path)
    if path.stat().st_size == 0:
        yield file_error(f"{path.name}: empty file / tệp rỗng")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = epub.read_epub(str(path), options={"ignore_ncx": False})
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, Exception) as e:  # noqa: BLE001
        yield file_error(f"{path.name}: not a readable EPUB ({type(e).__name__}: {e}) / tệp EPUB hỏng")
        return

    def meta(name: str) -> list[str]:
        try:
            return [m[0] for m in book.get_metadata("DC", name) if m and m[0]]
        except Exception:  # noqa: BLE001
            return []

    title = clean_line(meta("title")[0]) if meta("title") else None
    authors: list[str] = []
    for c in meta("creator"):
        authors.extend(split_authors(c))
    authors = clean_list(authors)
    publisher = clean_line(meta("publisher")[0]) if meta("publisher") else None
    year = None
    for d in meta("date"):
        m = re.search(r"(1\d{3}|20\d{2})", d)
        if m:
            year = int(m.group(1))
            break
    declared_lang = to_iso639_1(meta("language")[0]) if meta("language") else None

    toc = _toc_titles(book)
    passages: list[tuple[str, str | None]] = []
    chapter_no = 0
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() not in (ebooklib.ITEM_DOCUMENT,):
            continue
        if isinstance(item, epub.EpubNav):
            continue
        try:
            text, heading = html_to_text(item.get_content())
        except Exception:  # noqa: BLE001 - one broken chapter must not lose the book
            continue
        if len(text) < _MIN_TEXT_CHARS:
            continue
        name = unquote(item.get_name())
        ch_title = clean_line(toc.get(name) or toc.get(PurePosixPath(name).name) or heading)
        if ch_title and _SKIP_TITLES_RE.match(ch_title) and len(text.split()) < 400:
            continue
        if ch_title and (_CHAPTER_WORD_RE.match(ch_title) or _FRONT_MATTER_RE.match(ch_title)):
            prefix = ch_title  # "Chương 3", "Hồi thứ nhất", "Lời giới thiệu": already a location
        else:
            chapter_no += 1
            prefix = f"Chương {chapter_no} — {ch_title}" if ch_title else f"Chương {chapter_no}"
        # drop a leading heading line equal to the chapter title (it is in the location)
        if ch_title and text.startswith(ch_title):
            text = text[len(ch_title) :].lstrip()
        passages.extend(chunk_text(text, target_words=target_words, location_prefix=prefix))
    sample = " ".join(t for t, _ in passages[:30])
    language = "vi" if looks_vietnamese(sample) else declared_lang
    yield _finish(
        path, library_id, record_id, title, authors, passages,
        publisher=publisher, year=year, language=language, type="book",
    )  # fmt: skip


# ----------------------------------------------------------------------------- PDF

_JUNK_TITLE_RE = re.compile(r"^(untitled|microsoft word - .*|document\d*|\s*)$", re.IGNORECASE)


def read_pdf(
    path: Path,
    library_id: str,
    *,
    record_id: str | None = None,
    target_words: int = 200,
    password: str | None = None,
    **_: Any,
) -> Iterator[ImportItem]:
    """A PDF with a text layer: passages with ``"tr. N"`` locations. Scanned PDFs (no text
    layer) give one error and no record."""
    from pypdf import PdfReader  # noqa: PLC0415
    from pypdf.errors import PdfReadError  # noqa: PLC0415

    path = Path(path)
    if path.stat().st_size == 0:
        yield file_error(f"{path.name}: empty file / tệp rỗng")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(str(path), strict=False)
            if reader.is_encrypted and reader.decrypt(password or "") == 0:
                yield file_error(f"{path.name}: encrypted PDF; give its password / PDF có mật khẩu")
                return
            pages: list[str] = []
            for page in reader.pages:
                try:
                    pages.append(clean_text(page.extract_text() or "") or "")
                except Exception:  # noqa: BLE001 - a broken page is an empty page
                    pages.append("")
            info = reader.metadata
    except (PdfReadError, OSError, ValueError, Exception) as e:  # noqa: BLE001
        yield file_error(f"{path.name}: not a readable PDF ({type(e).__name__}: {e}) / tệp PDF hỏng")
        return
    if sum(len(p.strip()) for p in pages) < _MIN_TEXT_CHARS:
        yield file_error(
            f"{path.name}: no text layer; OCR it first / PDF không có lớp văn bản, cần nhận dạng (OCR) trước"
        )
        return
    title = author = None
    if info is not None:
        title = clean_line(str(info.title)) if info.title else None
        if title and _JUNK_TITLE_RE.match(title):
            title = None
        author = str(info.author) if info.author else None
    passages = chunk_pages(pages, target_words=target_words)
    yield _finish(path, library_id, record_id, title, split_authors(author), passages)
