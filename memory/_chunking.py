"""Chunking strategies for notebook documents (sizes in characters).

* ``default`` - recursive character splitting (paragraphs, then lines, sentences, words),
  LangChain's ``RecursiveCharacterTextSplitter``;
* ``markdown`` - split on Markdown headings first (``#`` .. ``###``), each chunk
  remembers its heading path in ``metadata["section"]``, then recursive splitting;
* ``code`` - language-aware separators (classes, functions...) from
  ``RecursiveCharacterTextSplitter.from_language``; unknown languages fall back to ``default``;
* ``sliding`` - fixed windows of ``chunk_size`` characters advancing by
  ``chunk_size - chunk_overlap`` (no regard for structure; predictable overlap).

Defaults (1000 characters, 150 overlap) are about 200-250 tokens for English:
under all-MiniLM-L6-v2's 256-token input limit, so whole chunks are embedded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agentgraph.errors import UserError

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 150

# file extension (parser's ``language``) -> LangChain Language value
_CODE_LANGUAGES = {
    "py": "python", "js": "js", "ts": "ts", "java": "java", "go": "go", "rs": "rust", "c": "c", "h": "c",
    "cpp": "cpp", "rb": "ruby", "php": "php", "scala": "scala", "kt": "kotlin", "md": "markdown",
}


class ChunkingStrategy(str, Enum):
    """How documents of a notebook are cut into chunks (see module docstring)."""

    default = "default"
    markdown = "markdown"
    code = "code"
    sliding = "sliding"


class ChunkingConfig(BaseModel):
    """Chunking settings of one notebook.

    Attributes:
        strategy: see :class:`ChunkingStrategy`.
        chunk_size: maximum characters per chunk (100..8000).
        chunk_overlap: characters shared by consecutive chunks (0..chunk_size/2).
    """

    model_config = ConfigDict(extra="forbid")

    strategy: ChunkingStrategy = ChunkingStrategy.default
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=100, le=8000)
    chunk_overlap: int = Field(DEFAULT_CHUNK_OVERLAP, ge=0, le=4000)

    @model_validator(mode="after")
    def _overlap_below_half(self) -> "ChunkingConfig":
        if self.chunk_overlap * 2 > self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be at most half of chunk_size ({self.chunk_size}); "
                "lower the overlap or raise the size"
            )
        return self


@dataclass
class Chunk:
    """One piece of a document.

    Attributes:
        text: the chunk's text (non-empty).
        index: position in the document, 0-based.
        metadata: strategy extras (``section`` for markdown, ``start`` character offset for sliding).
    """

    text: str
    index: int
    metadata: dict[str, Any] = field(default_factory=dict)


def make_config(strategy: str = "default", chunk_size: int = DEFAULT_CHUNK_SIZE,
                chunk_overlap: int = DEFAULT_CHUNK_OVERLAP) -> ChunkingConfig:
    """Validated :class:`ChunkingConfig`.

    Raises:
        UserError: unknown strategy or out-of-range sizes (the message lists what is allowed).
    """
    from pydantic import ValidationError

    try:
        return ChunkingConfig(strategy=strategy, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'chunking'}: {e['msg']}" for e in exc.errors())
        raise UserError(
            f"Invalid chunking settings: {problems}. Strategies: {', '.join(s.value for s in ChunkingStrategy)}; "
            "chunk_size 100-8000 characters; overlap at most half the size."
        ) from exc


def chunk_text(text: str, config: ChunkingConfig, *, language: str | None = None) -> list[Chunk]:
    """Cut ``text`` into chunks with ``config``.

    Args:
        text: document text.
        config: notebook chunking settings.
        language: source language for the ``code`` strategy (file extension such as ``py``).

    Returns:
        chunks in document order, each non-empty and at most ``chunk_size`` characters
        (recursive splitters may exceed it only for a single unbreakable token).
    """
    text = text.strip()
    if not text:
        return []
    size, overlap = config.chunk_size, config.chunk_overlap
    if config.strategy == ChunkingStrategy.sliding:
        return _sliding(text, size, overlap)
    from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

    recursive = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
    if config.strategy == ChunkingStrategy.markdown:
        return _markdown(text, recursive)
    if config.strategy == ChunkingStrategy.code:
        lang = _CODE_LANGUAGES.get((language or "").lower())
        if lang:
            recursive = RecursiveCharacterTextSplitter.from_language(
                Language(lang), chunk_size=size, chunk_overlap=overlap)
    return [Chunk(text=t, index=i) for i, t in enumerate(s for s in recursive.split_text(text) if s.strip())]


def _sliding(text: str, size: int, overlap: int) -> list[Chunk]:
    step = size - overlap
    out: list[Chunk] = []
    start = 0
    while start < len(text):
        piece = text[start:start + size]
        if piece.strip():
            out.append(Chunk(text=piece, index=len(out), metadata={"start": start}))
        if start + size >= len(text):
            break
        start += step
    return out


def _markdown(text: str, recursive: Any) -> list[Chunk]:
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    headers = [("#", "h1"), ("##", "h2"), ("###", "h3")]
    sections = MarkdownHeaderTextSplitter(headers_to_split_on=headers, strip_headers=False).split_text(text)
    out: list[Chunk] = []
    for section in sections:
        path = " > ".join(section.metadata[k] for k in ("h1", "h2", "h3") if section.metadata.get(k))
        for piece in recursive.split_text(section.page_content):
            if piece.strip():
                out.append(Chunk(text=piece, index=len(out), metadata={"section": path} if path else {}))
    return out


__all__ = ["ChunkingStrategy", "ChunkingConfig", "Chunk", "chunk_text", "make_config",
           "DEFAULT_CHUNK_SIZE", "DEFAULT_CHUNK_OVERLAP"]
