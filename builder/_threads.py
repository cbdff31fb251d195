"""Builder conversations: the messages and the current draft of each builder thread.

Kept in Redis (``builder:thread:<id>``, JSON) with a TTL so a user can refine a
draft over several turns ("also look at the company") from the UI, GraphQL or CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from graph import new_id


@dataclass
class BuilderThread:
    """One builder conversation: user/assistant turns and the latest draft YAML."""

    id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    spec_yaml: str | None = None


class BuilderThreadStore:
    """Redis-backed store of :class:`BuilderThread` (TTL ``ttl_s`` seconds, default 7 days)."""

    def __init__(self, client: aioredis.Redis, *, ttl_s: int = 7 * 24 * 3600) -> None:
        self.client = client
        self.ttl_s = ttl_s

    async def load(self, thread_id: str | None) -> BuilderThread:
        """The stored thread, or a new empty one (new id when ``thread_id`` is None)."""
        if not thread_id:
            return BuilderThread(id=new_id("bld"))
        raw = await self.client.get(f"builder:thread:{thread_id}")
        if not raw:
            return BuilderThread(id=thread_id)
        data = json.loads(raw)
        return BuilderThread(id=thread_id, messages=data.get("messages", []), spec_yaml=data.get("spec_yaml"))

    async def save(self, thread: BuilderThread) -> None:
        """Persist (and refresh the TTL of) a thread."""
        payload = json.dumps({"messages": thread.messages[-40:], "spec_yaml": thread.spec_yaml})
        await self.client.set(f"builder:thread:{thread.id}", payload, ex=self.ttl_s)
