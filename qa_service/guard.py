"""Passages are data. Sentences in a document that address the answering system ("ignore previous
instructions", "bỏ qua mọi hướng dẫn", "you are now …") are never used as an answer, and the
generative prompt fences sources off as quoted material."""

from __future__ import annotations

import re

from qa_service.text import fold

_INSTRUCTION_PATTERNS = [
    r"\bignore (all |any |the )?(previous|prior|above|earlier) (instructions|prompts?|messages?)",
    r"\bdisregard (all |the )?(previous|prior|above)",
    r"\byou are now\b",
    r"\bsystem prompt\b",
    r"\bnew instructions?\b",
    r"\bas an ai\b",
    r"\bbo qua (moi|tat ca|cac|nhung)? ?(huong dan|chi dan|yeu cau|lenh)",
    r"\b(hay|phai) (tra loi|noi|viet) (rang|la)\b.*\b(thay vi|bat ke)\b",
    r"\b(tro ly|mo hinh|chatbot|ai) (hay|phai) (tra loi|lam theo)",
    r"\bhuong dan (he thong|truoc do)\b",
    r"\blenh moi\b",
    r"\bquen (het|moi|tat ca) (huong dan|chi dan)",
]
_RE = re.compile("|".join(_INSTRUCTION_PATTERNS), re.I)


def looks_like_instruction(sentence: str) -> bool:
    """True when a sentence reads as an instruction to an AI system rather than content."""
    return bool(_RE.search(fold(sentence.lower())))


def fence(text: str) -> str:
    """Neutralise anything in a passage that could close our source fences in a prompt."""
    return re.sub(r"</?\s*(nguon|source|system|user|assistant)[^>]*>", "[…]", text, flags=re.I)
