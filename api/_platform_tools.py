"""Wiring of the tool hub into the platform (issue 4): secrets, limiter, hub, health loop, pool.

``start_toolhub`` is called by ``Platform.start`` before stored tools are restored,
so restoring goes through the hub (credentials, operation rules).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from agentgraph.secrets import SecretBox, load_or_create_keys
from agentgraph.settings import Settings
from graph import GraphClient, ToolHubRepository, ToolRepository
from memory import Embedder
from runners import AgentRunner, MCPToolHost, ToolRegistry, tool_slug
from runners._toolhub import ToolHub
from runners._toolhub_health import ToolHealth
from runners._toolhub_http import ToolRateLimiter

__all__ = ["ToolHubServices", "start_toolhub", "rate_limit_storage_uri"]


@dataclass
class ToolHubServices:
    """The tool hub and its health/statistics loops."""

    hub: ToolHub
    health: ToolHealth


def rate_limit_storage_uri(settings: Settings) -> str:
    """``limits`` storage URI: the platform's Redis (shared across API processes) or process memory."""
    if settings.toolhub.rate_limit_storage == "memory":
        return "async+memory://"
    return "async+" + settings.redis_url


async def start_toolhub(settings: Settings, *, graph: GraphClient, tools: ToolRepository, host: MCPToolHost,
                        embedder: Embedder, registry: ToolRegistry, runner: AgentRunner,
                        stack: AsyncExitStack) -> ToolHubServices:
    """Build the hub, hook it into the registry (register/restore) and the runner (pooled sessions).

    Raises:
        ConfigError: the configured encryption keys are invalid.
    """
    th = settings.toolhub
    box = SecretBox(load_or_create_keys(settings.secrets.keys, settings.data_dir))
    limiter = ToolRateLimiter(rate_limit_storage_uri(settings), tenant_limit=th.tenant_rate_limit or None)
    hub = ToolHub(tools=tools, repo=ToolHubRepository(graph), host=host, embedder=embedder, secrets=box,
                  limiter=limiter, public_url=settings.api.base_url, slug=tool_slug,
                  max_document_bytes=th.max_document_bytes, max_operations=th.max_operations,
                  pool_max_idle_s=th.pool_max_idle_s)
    stack.push_async_callback(hub.aclose)
    registry.hub = hub
    runner.tool_pool = hub.pool
    health = ToolHealth(hub, health_interval_s=th.health_interval_s, stats_flush_s=th.stats_flush_s)
    health.start()
    stack.push_async_callback(health.aclose)  # runs before hub.aclose (LIFO): last stats flushed first
    return ToolHubServices(hub=hub, health=health)
