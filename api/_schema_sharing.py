"""GraphQL for sharing agents: ``agentSharing`` and ``shareAgent`` (issue 3).

Visibility ``private`` / ``team`` / ``department`` / ``tenant`` plus explicit grants
(``owner``, ``editor``, ``viewer``); the rules are in ``graph._sharing``. Who may call
``shareAgent`` on which agent (its creator, owners and editors, tenant admins) is
checked in ``api._access`` with every other agent access.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError, UserError

from api._platform import Platform


@strawberry.type(description="A user's grant on an agent.")
class AgentGrant:
    user_id: str
    role: str = strawberry.field(description="owner, editor or viewer.")


@strawberry.type(description="Who can see and change an agent.")
class AgentSharing:
    agent_id: str
    visibility: str = strawberry.field(description="private, team, department or tenant.")
    grants: list[AgentGrant]


@strawberry.input(description="Give a user a role on the agent; role null removes their grant.")
class GrantInput:
    user_id: str
    role: str | None = None


def _sharing(info: Info) -> tuple[Platform, object]:
    p: Platform = info.context["platform"]
    if p.sharing is None:
        raise ServiceUnavailableError("Sharing is not initialised in this process.")
    return p, p.sharing


@strawberry.type
class SharingQuery:
    @strawberry.field(description="Visibility and grants of an agent.")
    async def agent_sharing(self, info: Info, agent_id: str) -> AgentSharing:
        p, sharing = _sharing(info)
        agent = await p.agents.get(tenant_id=p.tenant_id, agent_id=agent_id)
        grants = await sharing.grants(tenant_id=p.tenant_id, agent_id=agent_id)
        return AgentSharing(agent_id=agent.id, visibility=agent.visibility,
                            grants=[AgentGrant(user_id=u, role=r) for u, r in sorted(grants.items())])


@strawberry.type
class SharingMutation:
    @strawberry.mutation(description="Set an agent's visibility (private, team, department, tenant) and change "
                                     "grants, in one transaction.")
    async def share_agent(self, info: Info, agent_id: str, visibility: str,
                          grants: list[GrantInput] | None = None) -> AgentSharing:
        p, sharing = _sharing(info)
        if len(grants or []) > 200:
            raise UserError("At most 200 grants per call; send several calls.")
        result = await sharing.share(tenant_id=p.tenant_id, agent_id=agent_id, visibility=visibility,
                                     grants={g.user_id: g.role for g in grants or []})
        return AgentSharing(agent_id=agent_id, visibility=result["visibility"],
                            grants=[AgentGrant(user_id=u, role=r) for u, r in sorted(result["grants"].items())])


__all__ = ["SharingQuery", "SharingMutation"]
