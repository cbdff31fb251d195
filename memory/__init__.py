"""Memory: embeddings, short-term thread checkpoints (Redis), long-term store and
notebooks (DeepLake: ingest, chunk, embed, hybrid search)."""

from memory._checkpoints import open_checkpointer
from memory._chunking import Chunk, ChunkingConfig, ChunkingStrategy, chunk_text, make_config
from memory._embeddings import Embedder, MiniLMEmbedder, cosine
from memory._fusion import reciprocal_rank_fusion
from memory._longterm import LongTermMemory, memory_namespace
from memory._notebook_index import NotebookIndex, SearchHit
from memory._notebooks import NotebookProgress, NotebookService, Upload, document_id
from memory._parsing import DocumentError, ParsedDocument, detect_format, parse_document
from memory._store import DeepLakeStore, MemoryNotFoundError, delete_item, require_item, require_namespace

__all__ = [
    "Embedder",
    "MiniLMEmbedder",
    "cosine",
    "open_checkpointer",
    "Chunk",
    "ChunkingConfig",
    "ChunkingStrategy",
    "chunk_text",
    "make_config",
    "reciprocal_rank_fusion",
    "LongTermMemory",
    "memory_namespace",
    "NotebookIndex",
    "SearchHit",
    "NotebookProgress",
    "NotebookService",
    "Upload",
    "document_id",
    "DocumentError",
    "ParsedDocument",
    "detect_format",
    "parse_document",
    "DeepLakeStore",
    "MemoryNotFoundError",
    "delete_item",
    "require_item",
    "require_namespace",
]
