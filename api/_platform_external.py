"""Wiring of external agents into the platform (issue 7, docs/external-agents.md).

``start_external`` builds the named-secret store (sealed with the tool hub's
``SecretBox``, the platform's one credential-encryption mechanism), the service that
runs and probes external agents, hooks it into ``RunService`` and starts the
periodic health check (``settings.external.health_interval_s``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from agentgraph.secrets import SecretBox, load_or_create_keys
from agentgraph.settings import Settings
from runners import RunService
from runners import ExternalAgentService, ExternalSecretStore

__all__ = ["start_external"]


async def start_external(settings: Settings, *, runs: RunService, box: SecretBox | None, graph: Any,
                         stack: AsyncExitStack, redis: Any = None, start_monitor: bool = True
                         ) -> ExternalAgentService:
    """Build and hook the external-agent service; its health loop stops with ``stack``.

    Raises:
        ConfigError: the configured encryption keys are invalid.
    """
    box = box or SecretBox(load_or_create_keys(settings.secrets.keys, settings.data_dir))
    service = ExternalAgentService(agents=runs.agents, secrets=ExternalSecretStore(graph, box), tracer=runs.tracer,
                                   health_interval_s=settings.external.health_interval_s,
                                   redis=redis, public_url=settings.api.base_url)
    runs.external = service
    if start_monitor:
        service.start()
    stack.push_async_callback(service.aclose)
    return service
