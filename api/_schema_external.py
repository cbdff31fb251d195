"""GraphQL for external agents (issue 7, docs/external-agents.md).

Queries: ``externalAgentHealth(agentId)`` (the last stored health check),
``agentSecrets`` (names of the tenant's secrets, never values). Mutations:
``testExternalAgent(agentId)`` ("Test connection", operator), ``setAgentSecret`` and
``deleteAgentSecret`` (admin). Everything works in the caller's tenant only.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError
from runners import ExternalAgentService

from api._platform import Platform

__all__ = ["ExternalMutation", "ExternalQuery"]


def _svc(info: Info) -> tuple[Platform, ExternalAgentService]:
    p: Platform = info.context["platform"]
    if p.external is None:
        raise ServiceUnavailableError("External agents are not started on this server.")
    return p, p.external


@strawberry.type(description="Health of an external agent's remote platform (last check, or the one just made).")
class ExternalAgentHealth:
    agent_id: str
    ok: bool | None = strawberry.field(description="True: up; False: down; null: never checked.")
    status: str | None = strawberry.field(description="'up', 'down' or null (never checked).")
    latency_ms: float | None = strawberry.field(description="Round trip of the probe, milliseconds.")
    checked_at: str | None = strawberry.field(description="When it was checked (UTC, ISO 8601).")
    detail: str | None = strawberry.field(description="What answered, or what to check.")


@strawberry.type
class ExternalQuery:
    @strawberry.field(description="Last health check of an external agent (status, latency, when, detail).")
    async def external_agent_health(self, info: Info, agent_id: strawberry.ID) -> ExternalAgentHealth:
        p, svc = _svc(info)
        h = await svc.health(tenant_id=p.tenant_id, agent_id=str(agent_id))
        return ExternalAgentHealth(agent_id=h.agent_id, ok=None if h.status is None else h.status == "up",
                                   status=h.status, latency_ms=h.latency_ms, checked_at=h.checked_at, detail=h.detail)

    @strawberry.field(description="Names of the tenant's secrets for external agents (values are never shown).")
    async def agent_secrets(self, info: Info) -> list[str]:
        p, svc = _svc(info)
        return await svc.secrets.names(tenant_id=p.tenant_id)


@strawberry.type
class ExternalMutation:
    @strawberry.mutation(description="Test connection: probe an external agent's platform now and store the "
                                     "outcome as its health.")
    async def test_external_agent(self, info: Info, agent_id: strawberry.ID) -> ExternalAgentHealth:
        p, svc = _svc(info)
        r = await svc.test(tenant_id=p.tenant_id, agent_id=str(agent_id))
        h = await svc.health(tenant_id=p.tenant_id, agent_id=str(agent_id))
        return ExternalAgentHealth(agent_id=str(agent_id), ok=r.ok, status="up" if r.ok else "down",
                                   latency_ms=round(r.latency_ms, 3), checked_at=h.checked_at, detail=r.detail)

    @strawberry.mutation(description="Store (or replace) a secret that external agents reference by name in "
                                     "auth.secret; encrypted at rest, never returned.")
    async def set_agent_secret(self, info: Info, name: str, value: str) -> bool:
        p, svc = _svc(info)
        await svc.secrets.set(tenant_id=p.tenant_id, name=name, value=value)
        return True

    @strawberry.mutation(description="Delete a stored secret; false when it did not exist.")
    async def delete_agent_secret(self, info: Info, name: str) -> bool:
        p, svc = _svc(info)
        return await svc.secrets.delete(tenant_id=p.tenant_id, name=name)
