"""Wiring of the LLM gateway services into the Platform (kept here so ``api._platform`` stays small).

``wrap_gateway`` puts the metered gateway (tenant routing, virtual keys, budgets,
usage) in front of whatever backend the settings chose; ``start_llm`` builds the
admin and comparison services and loads deployments, budgets and keys from the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
import redis.asyncio as aioredis

from agentgraph.budgets import BudgetGuard
from agentgraph.costs import UsageMeter
from agentgraph.gateway import ChatModel, LiteLLMGateway, RouterConfig
from agentgraph.metering import MeteredGateway, VirtualKeyIndex
from agentgraph.secrets import SecretBox, load_or_create_keys
from agentgraph.settings import Settings
from builder import Comparator, ComparisonService
from graph import AgentRepository, BudgetRepository, ComparisonRepository, GraphClient, LLMRepository, VirtualKeyRepository
from runners import LLMService


@dataclass
class LLMParts:
    """The gateway-side services resolvers use."""

    gateway: MeteredGateway
    service: LLMService
    comparisons: ComparisonService


def wrap_gateway(settings: Settings, base: ChatModel) -> MeteredGateway:
    """The metered gateway over ``base``; a LiteLLM base doubles as the router for added deployments.

    The gateway gets its own Redis client on a *blocking* pool: under a burst of
    concurrent calls, budget scripts wait for a connection (up to 10 s) instead of
    failing with "Too many connections" (redis-py's default pool raises at 100).
    Close it with ``gateway.aclose()``.
    """
    if isinstance(base, MeteredGateway):
        return base
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=64, timeout=10))
    router = base if isinstance(base, LiteLLMGateway) else LiteLLMGateway(
        [], config=RouterConfig.from_settings(settings), allow_empty=True)
    guard = BudgetGuard(redis, warn_ratio=settings.llm.budget_warn_ratio, block_ratio=settings.llm.budget_block_ratio)
    return MeteredGateway(base, router=router, guard=guard, meter=UsageMeter(redis), vkeys=VirtualKeyIndex(redis),
                          default_tenant=settings.tenant_id, redis=redis)


async def start_llm(settings: Settings, graph: GraphClient, gateway: MeteredGateway, agents: AgentRepository) -> LLMParts:
    """Build the LLM admin and comparison services and load their state (see module docstring)."""
    assert gateway.guard is not None and gateway.meter is not None and gateway.vkeys is not None
    service = LLMService(
        gateway=gateway, llms=LLMRepository(graph), vkeys=VirtualKeyRepository(graph), budgets=BudgetRepository(graph),
        secrets=SecretBox(load_or_create_keys(settings.secrets.keys, settings.data_dir)), guard=gateway.guard,
        meter=gateway.meter, index=gateway.vkeys)
    await service.start()
    comparisons = ComparisonService(Comparator(gateway), ComparisonRepository(graph), agents,
                                    judge_model=settings.llm.judge_model)
    return LLMParts(gateway=gateway, service=service, comparisons=comparisons)


__all__ = ["LLMParts", "start_llm", "wrap_gateway"]
