"""Reasons, in Vietnamese (English available), a librarian would stand behind."""

from __future__ import annotations

from recommender.base import Reason

_TEXT = {
    "because": ("Vì bạn đã mượn «{title}»", "Because you borrowed «{title}»"),
    "similar_content": (
        "Cùng chủ đề với «{title}» bạn đã mượn",
        "On the same subject as «{title}», which you borrowed",
    ),
    "new_subject": ("Mới về thư viện, cùng chủ đề {subject}", "New at the library, on the subject {subject}"),
    "new_similar": ("Mới về thư viện, gần với «{title}» bạn đã mượn", "New at the library, close to «{title}»"),
    "new": ("Mới về thư viện", "New at the library"),
    "popular": ("Được mượn nhiều tại thư viện của bạn", "Borrowed often at your library"),
    "popular_unknown": (
        "Chưa có lịch sử mượn của bạn đọc này; đây là sách được mượn nhiều tại thư viện",
        "No loan history for this patron yet; this is borrowed often at the library",
    ),
    "similar_item": ("Thường được mượn cùng «{title}»", "Often borrowed with «{title}»"),
}


def render(reason: Reason, titles, subjects=None, item: int | None = None, lang: str = "vi") -> str:
    kind = reason.kind
    title = titles[reason.anchor] if reason.anchor is not None else ""
    subject = subjects[item] if subjects is not None and item is not None else ""
    if kind == "new_similar" and subject:
        kind = "new_subject"
    if kind in ("because", "similar_content", "new_similar", "similar_item") and not title:
        kind = "new" if kind == "new_similar" else "popular"
    vi, en = _TEXT.get(kind, _TEXT["popular"])
    return (en if lang == "en" else vi).format(title=title, subject=subject)
