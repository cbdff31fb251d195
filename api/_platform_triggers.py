"""Wiring of triggers (issue 6): the trigger service, idempotency keys and the scheduler loop.

The scheduler is built here but started by the API app (``api.app.create_app`` lifespan),
so queue workers and Argo runner pods, which also call ``Platform.start``, never fire
schedules. Every API process runs one; slot claims in Redis make each slot fire once
(runners._scheduler). It is stopped before the connections close (exit-stack order).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import redis.asyncio as aioredis

from agentgraph.secrets import SecretBox, load_or_create_keys
from agentgraph.settings import Settings
from graph import GraphClient, TriggerRepository
from runners import IdempotencyStore, RunService, Scheduler, TriggerService


async def start_triggers(settings: Settings, *, graph: GraphClient, redis: aioredis.Redis, runs: RunService,
                         stack: AsyncExitStack) -> tuple[TriggerService, Scheduler | None]:
    """Build the trigger service and the scheduler (None when ``settings.triggers.scheduler`` is off)."""
    t = settings.triggers
    service = TriggerService(
        triggers=TriggerRepository(graph), runs=runs,
        idempotency=IdempotencyStore(redis, ttl_s=t.idempotency_ttl_s),
        box=SecretBox(load_or_create_keys(settings.secrets.keys, settings.data_dir)),
        public_url=settings.api.base_url, cache_s=t.webhook_cache_s)
    stack.push_async_callback(service.drain)
    scheduler = None
    if t.scheduler:
        scheduler = Scheduler(triggers=service.triggers, redis=redis, fire=service.fire_schedule,
                              interval_s=t.scheduler_interval_s, misfire_grace_s=t.misfire_grace_s)
        stack.push_async_callback(scheduler.stop)
    return service, scheduler


__all__ = ["start_triggers"]
