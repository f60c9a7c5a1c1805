"""Projects (Annif's unit): a vocabulary + a trained backend + limits, persisted under ``<data_dir>/subjects/``.

Layout::

    <data_dir>/subjects/vocabs/<vocab_id>.json
    <data_dir>/subjects/projects/<project_id>/config.json
    <data_dir>/subjects/projects/<project_id>/model.pkl (+ model.member<i>.pkl for an ensemble)
    <data_dir>/subjects/projects/<project_id>/corrections.json

Every file is written atomically; a failed load or train leaves what was there in use.
"""

from __future__ import annotations

import hashlib
import json
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from subjects.backends import get_backend_class
from subjects.backends.base import Backend, top_suggestions
from subjects.backends.ensemble import EnsembleBackend
from subjects.storage import atomic_write_json
from subjects.types import Document, Suggestion
from subjects.vocab import Vocabulary, VocabularyError, load_file

DEFAULT_MAX_CHARS = 20_000


class UnknownProjectError(KeyError):
    pass


class UnknownVocabularyError(KeyError):
    pass


@dataclass
class ProjectConfig:
    id: str
    vocab: str
    name: str = ""
    language: str = "vi"
    backend: str = "ensemble"
    params: dict[str, Any] = field(default_factory=dict)
    limit: int = 10
    threshold: float = 0.0


@dataclass
class SuggestResult:
    results: list[Suggestion]
    warnings: list[str] = field(default_factory=list)


def _text_key(text: str) -> str:
    norm = " ".join(unicodedata.normalize("NFC", text).casefold().split())
    return hashlib.sha1(norm.encode()).hexdigest()


class Project:
    def __init__(self, config: ProjectConfig, vocab: Vocabulary, backend: Backend | None = None) -> None:
        self.config = config
        self.vocab = vocab
        self.backend = backend
        self.rejected: dict[str, list[str]] = {}
        self.lock = threading.RLock()
        self.model_path: Path | None = None

    @property
    def is_trained(self) -> bool:
        return self.backend is not None and self.backend.trained

    def label_of(self, uri: str) -> str:
        return self.vocab.label(uri, self.config.language)

    def suggest_batch(
        self,
        texts: Sequence[str],
        limit: int | None = None,
        threshold: float | None = None,
        max_chars: int = DEFAULT_MAX_CHARS,
    ) -> list[SuggestResult]:
        limit = self.config.limit if limit is None else limit
        threshold = self.config.threshold if threshold is None else threshold
        if self.backend is None or not self.backend.trained:
            raise RuntimeError(f"project {self.config.id!r} is not trained")
        warnings_: list[list[str]] = []
        cut = []
        for t in texts:
            w = []
            if len(t) > max_chars:
                w.append(f"text truncated from {len(t)} to {max_chars} characters")
                t = t[:max_chars]
            cut.append(t)
            warnings_.append(w)
        with self.lock:
            if isinstance(self.backend, EnsembleBackend):
                mat, sources = self.backend.scores_and_sources(cut, limit=max(limit, 10))
            else:
                mat, sources = self.backend.scores(cut), None
            labels = self.backend.labels
        out = []
        for r, row in enumerate(mat):
            row = np.array(row, copy=True)
            for uri in self.rejected.get(_text_key(cut[r]), []):
                j = self.backend.label_index.get(uri)
                if j is not None:
                    row[j] = 0.0
            sugg = top_suggestions(row, labels, limit, threshold, [self.backend.name], self.label_of)
            if sources is not None:
                for s in sugg:
                    s.sources = sources[r].get(self.backend.label_index[s.uri], []) or ["ensemble"]
            out.append(SuggestResult(sugg, warnings_[r]))
        return out

    def learn(self, docs: Sequence[Document], rejected: Sequence[tuple[str, list[str]]] = ()) -> int:
        """Accepted subjects teach the backend; rejected ones are suppressed for that text from now on."""
        if self.backend is None:
            raise RuntimeError(f"project {self.config.id!r} is not trained")
        unknown = sorted({u for d in docs for u in d.subjects if u not in self.vocab})
        if unknown:
            raise UnknownVocabularyError(f"subjects not in vocabulary {self.vocab.id!r}: {', '.join(unknown[:5])}")
        with self.lock:
            self.backend.learn(list(docs))
            for text, uris in rejected:
                key = _text_key(text)
                self.rejected[key] = sorted(set(self.rejected.get(key, [])) | set(uris))
            for d in docs:  # accepting overrides an earlier rejection
                key = _text_key(d.text)
                if key in self.rejected:
                    self.rejected[key] = [u for u in self.rejected[key] if u not in d.subjects]
        return len(docs)


class ProjectStore:
    """All vocabularies and projects under one data dir; thread-safe; loads lazily."""

    def __init__(self, data_dir: Path, context: dict[str, Any] | None = None) -> None:
        self.root = Path(data_dir) / "subjects"
        self.context = context or {}
        self._vocabs: dict[str, Vocabulary] = {}
        self._projects: dict[str, Project] = {}
        self._lock = threading.RLock()

    # -- vocabularies ----------------------------------------------------------------------
    def vocab_path(self, vocab_id: str) -> Path:
        return self.root / "vocabs" / f"{vocab_id}.json"

    def vocab_ids(self) -> list[str]:
        d = self.root / "vocabs"
        return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []

    def get_vocab(self, vocab_id: str) -> Vocabulary:
        with self._lock:
            if vocab_id not in self._vocabs:
                p = self.vocab_path(vocab_id)
                if not p.exists():
                    raise UnknownVocabularyError(vocab_id)
                self._vocabs[vocab_id] = Vocabulary.from_json(json.loads(p.read_text(encoding="utf-8")))
            return self._vocabs[vocab_id]

    def put_vocab(self, vocab: Vocabulary) -> None:
        with self._lock:
            vocab.save(self.vocab_path(vocab.id))
            self._vocabs[vocab.id] = vocab

    def load_vocab_file(self, vocab_id: str, path: Path, language: str = "vi") -> Vocabulary:
        """Parse then replace; on :class:`VocabularyError` the previous vocabulary stays."""
        vocab = load_file(path, vocab_id, language)
        self.put_vocab(vocab)
        return vocab

    # -- projects ----------------------------------------------------------------------------
    def project_dir(self, project_id: str) -> Path:
        return self.root / "projects" / project_id

    def project_ids(self) -> list[str]:
        d = self.root / "projects"
        return sorted(p.name for p in d.iterdir() if (p / "config.json").exists()) if d.exists() else []

    def get(self, project_id: str) -> Project:
        with self._lock:
            if project_id in self._projects:
                return self._projects[project_id]
            d = self.project_dir(project_id)
            if not (d / "config.json").exists():
                raise UnknownProjectError(project_id)
            cfg = ProjectConfig(**json.loads((d / "config.json").read_text(encoding="utf-8")))
            vocab = self.get_vocab(cfg.vocab)
            backend = None
            if (d / "model.pkl").exists():
                backend = get_backend_class(cfg.backend).load(d / "model.pkl", **self._context_for(vocab))
            proj = Project(cfg, vocab, backend)
            proj.model_path = d / "model.pkl"
            if (d / "corrections.json").exists():
                proj.rejected = json.loads((d / "corrections.json").read_text(encoding="utf-8"))
            self._projects[project_id] = proj
            return proj

    def _context_for(self, vocab: Vocabulary) -> dict[str, Any]:
        ctx = dict(self.context)
        ctx["label_texts"] = {u: c.all_labels() for u, c in vocab.concepts.items()}
        return ctx

    def create(self, config: ProjectConfig) -> Project:
        vocab = self.get_vocab(config.vocab)
        d = self.project_dir(config.id)
        atomic_write_json(d / "config.json", asdict(config))
        proj = Project(config, vocab)
        proj.model_path = d / "model.pkl"
        with self._lock:
            self._projects[config.id] = proj
        return proj

    def train(self, project_id: str, docs: Sequence[Document]) -> Project:
        proj = self.get(project_id)
        cfg = proj.config
        backend = get_backend_class(cfg.backend)(list(proj.vocab.concepts), cfg.params, **self._context_for(proj.vocab))
        backend.train([d for d in docs if any(u in proj.vocab for u in d.subjects)])
        self.save_model(project_id, backend)
        with proj.lock:
            proj.backend = backend
        return proj

    def save_model(self, project_id: str, backend: Backend) -> None:
        backend.save(self.project_dir(project_id) / "model.pkl")

    def save_state(self, project_id: str) -> None:
        """Persist learned state (backend + corrections) after ``learn``."""
        proj = self.get(project_id)
        with proj.lock:
            if proj.backend is not None:
                self.save_model(project_id, proj.backend)
            atomic_write_json(self.project_dir(project_id) / "corrections.json", proj.rejected)


__all__ = [
    "Project",
    "ProjectConfig",
    "ProjectStore",
    "SuggestResult",
    "UnknownProjectError",
    "UnknownVocabularyError",
    "VocabularyError",
]
