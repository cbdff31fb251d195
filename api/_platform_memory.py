"""Wiring of notebooks and long-term memory into the platform (called from ``Platform.start``).

Builds, from Settings: the :class:`~memory.NotebookService` (datasets under
``<storage_root>/notebooks``), the DeepLake long-term store (``<storage_root>/memory``,
embedding the ``text`` field with the platform embedder), starts the resumer of
interrupted ingestions (uploads spooled under ``<data_dir>/notebook-uploads``), and registers with the
run service the notebook search tools, remember/recall tools and the thread-summary
listener.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentgraph.gateway import ChatModel
from builder import AgentBuilder
from agentgraph.settings import Settings
from graph import GraphClient, NotebookRepository, ThreadRepository
from memory import DeepLakeStore, Embedder, LongTermMemory, NotebookService
from runners import RunService, memory_tools, notebook_tools, thread_summary_listener, thread_ttl_listener


@dataclass
class MemoryServices:
    """Notebook, memory and thread services of one platform process."""

    notebooks: NotebookService
    notebook_repo: NotebookRepository
    threads: ThreadRepository
    long_term: LongTermMemory
    store: DeepLakeStore


def _embed_fn(embedder: Embedder):
    sync = getattr(embedder, "embed_sync", None)
    if sync is not None:
        return sync

    def run(texts: list[str]) -> list[list[float]]:  # async-only embedders (tests) from a worker thread
        return asyncio.run(embedder.embed(texts))

    return run


def _store_lock(settings: Settings, root: str):
    """Writer lock of the long-term store shared by processes: a Redis lock for bucket roots
    (local roots use the store's default file lock, so ``None``)."""
    if "://" not in root or root.startswith("mem://"):
        return None
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    return lambda: client.lock("agentgraph:memory-store:writer", timeout=60, blocking_timeout=60)


async def start_memory(settings: Settings, *, graph: GraphClient, embedder: Embedder, llm: ChatModel,
                       runs: RunService, stack: AsyncExitStack, builder: AgentBuilder | None = None
                       ) -> MemoryServices:
    """Create the services, register their tools/listeners on ``runs`` and let ``builder`` suggest notebooks.

    Raises:
        ServiceUnavailableError: the storage root is not writable.
    """
    root = settings.storage_root.rstrip("/")
    repo = NotebookRepository(graph)
    notebooks = NotebookService(
        repo=repo, embedder=embedder, storage_root=root,
        max_document_bytes=int(settings.notebooks.max_document_mb * 1024 * 1024),
        embed_batch=settings.notebooks.embed_batch, vector_weight=settings.notebooks.vector_weight,
        bm25_weight=settings.notebooks.bm25_weight, spool_dir=str(Path(settings.data_dir) / "notebook-uploads"))
    stack.push_async_callback(notebooks.aclose)
    # Documents left queued/processing by a stopped process are ingested again (module docstring).
    notebooks.start_resumer()
    index: dict[str, Any] = {"dims": embedder.dimensions, "embed": _embed_fn(embedder), "fields": ["text"]}
    store = await asyncio.to_thread(DeepLakeStore, f"{root}/memory", index=index, lock=_store_lock(settings, root))
    long_term = LongTermMemory(store)
    runs.add_tool_provider(notebook_tools(notebooks, repo))
    runs.add_tool_provider(memory_tools(long_term))
    runs.add_run_listener(thread_summary_listener(long_term, llm, runs.runner.checkpointer, runs.thread_key))
    runs.add_run_listener(thread_ttl_listener(runs.runner.checkpointer, runs.thread_key))
    if builder is not None:
        builder.notebooks = repo
    return MemoryServices(notebooks=notebooks, notebook_repo=repo, threads=ThreadRepository(graph),
                          long_term=long_term, store=store)


__all__ = ["MemoryServices", "start_memory"]
