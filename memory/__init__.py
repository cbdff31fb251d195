"""Memory: embeddings and short-term thread checkpoints (long-term store and
notebooks arrive with issue 5)."""

from memory._checkpoints import open_checkpointer
from memory._embeddings import Embedder, MiniLMEmbedder, cosine

__all__ = ["Embedder", "MiniLMEmbedder", "cosine", "open_checkpointer"]
