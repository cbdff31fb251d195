"""Long-term memory for agents on top of any LangGraph ``BaseStore``.

Namespaces are ``("memories", tenant_id, user_id, agent_id)``: one user's memories
of one agent, never visible to another tenant or user. Each memory is
``{"text": ..., "kind": "fact" | "thread_summary", "source": ...}``; ``text`` is
the embedded field, so recall is a semantic search.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from langgraph.store.base import BaseStore, SearchItem

from agentgraph.errors import UserError

from memory._store import delete_item, require_item

MAX_MEMORY_CHARS = 4000


def memory_namespace(tenant_id: str, user_id: str | None, agent_id: str) -> tuple[str, ...]:
    """Namespace of one user's memories of one agent (``.`` in ids is escaped: labels cannot hold it)."""
    def label(v: str | None) -> str:
        return (v or "anonymous").replace("%", "%25").replace(".", "%2E")

    return ("memories", label(tenant_id), label(user_id), label(agent_id))


class LongTermMemory:
    """Remember / recall / forget over a store (``DeepLakeStore`` in the platform).

    Args:
        store: a LangGraph store configured with ``index.fields = ["text"]``.
    """

    def __init__(self, store: BaseStore) -> None:
        self.store = store

    async def remember(self, namespace: tuple[str, ...], text: str, *, kind: str = "fact", key: str | None = None,
                       source: str | None = None) -> str:
        """Store a memory; returns its key (default: a hash of the text, so repeats overwrite).

        Raises:
            UserError: empty or oversized text.
        """
        text = (text or "").strip()
        if not text:
            raise UserError("Nothing to remember: the memory text is empty.")
        if len(text) > MAX_MEMORY_CHARS:
            raise UserError(f"A memory holds at most {MAX_MEMORY_CHARS} characters; summarise it first.")
        key = key or "mem_" + hashlib.sha1(text.lower().encode()).hexdigest()[:12]
        value: dict[str, Any] = {"text": text, "kind": kind}
        if source:
            value["source"] = source
        await self.store.aput(namespace, key, value)
        return key

    async def recall(self, namespace: tuple[str, ...], query: str | None, *, limit: int = 5,
                     kind: str | None = None) -> list[SearchItem]:
        """Memories most similar to ``query`` (newest-first listing order when ``query`` is empty)."""
        return await self.store.asearch(namespace, query=(query or None), limit=limit,
                                        filter={"kind": kind} if kind else None)

    async def get(self, namespace: tuple[str, ...], key: str):
        """One memory. Raises MemoryNotFoundError (namespace or key missing) with how to list them."""
        return await asyncio.to_thread(require_item, self.store, namespace, key)

    async def forget(self, namespace: tuple[str, ...], key: str) -> None:
        """Delete one memory. Raises MemoryNotFoundError when it does not exist."""
        await asyncio.to_thread(delete_item, self.store, namespace, key)


__all__ = ["LongTermMemory", "memory_namespace", "MAX_MEMORY_CHARS"]
