"""Short-term memory: LangGraph checkpoints per thread in Redis/Valkey.

Uses ``AsyncValkeySaver`` from ``langgraph-checkpoint-aws[valkey]`` (it passes
LangGraph's checkpoint conformance suite on plain Redis 7, DESIGN.md). Checkpoints
expire after ``ttl_min`` minutes (``RedisSettings.checkpoint_ttl_min``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

from langgraph_checkpoint_aws.checkpoint.valkey import AsyncValkeySaver
from valkey.asyncio import Valkey
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from agentgraph.errors import ServiceUnavailableError


@asynccontextmanager
async def open_checkpointer(url: str, *, ttl_min: float | None = None, pool_size: int = 20) -> AsyncIterator[AsyncValkeySaver]:
    """Open a checkpointer on ``url`` (``redis://host:port/db``) for the life of the context.

    Raises:
        ServiceUnavailableError: Redis does not answer PING.
    """
    client = Valkey.from_url(url, max_connections=pool_size)
    try:
        try:
            await client.ping()
        except (ValkeyConnectionError, OSError) as exc:
            raise ServiceUnavailableError(
                f"Redis at {url} is not reachable ({exc}). Start it with `agentgraph up` or fix AGENTGRAPH_REDIS__URL."
            ) from exc
        yield AsyncValkeySaver(client, ttl=ttl_min * 60 if ttl_min else None)
    finally:
        await client.aclose()
