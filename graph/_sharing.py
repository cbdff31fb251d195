"""Who may see and change an agent: its visibility and explicit grants (issue 3).

* ``Agent.visibility``: ``private`` (creator and grantees), ``team`` (also members of
  the creator's teams), ``department`` (also the creator's departments), ``tenant``
  (everyone in the tenant; the default, and what agents saved before sharing existed have).
* Grants: ``(:User)-[:COLLABORATES_ON {role}]->(:Agent)`` with role ``owner``, ``editor``
  or ``viewer``. Owners and editors may change the agent; every grantee may see it.
* Tenant admins see and change every agent of their tenant.

For listing pages to filter in one query without sub-queries (fast on both backends),
the agent also carries denormalised lists, rewritten in the same transaction as any
sharing change: ``share_team_ids`` / ``share_department_ids`` (the creator's teams and
departments when shared that way) and ``reader_ids`` / ``editor_ids`` (grantees).
:data:`VISIBLE` is the Cypher predicate over them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import neo4j

from agentgraph.errors import NotFoundError, UserError

from graph._client import GraphClient
from graph._models import Agent
from graph._org import COLLABORATOR_ROLES

VISIBILITIES = ("private", "team", "department", "tenant")

#: Cypher predicate: agent ``a`` is visible to the viewer given by the parameters of
#: :meth:`Viewer.params` (``$v_uid``, ``$v_admin``, ``$v_teams``, ``$v_departments``).
VISIBLE = """(
  $v_admin OR coalesce(a.visibility, 'tenant') = 'tenant' OR a.created_by = $v_uid
  OR $v_uid IN coalesce(a.reader_ids, [])
  OR (a.visibility = 'team' AND any(t IN coalesce(a.share_team_ids, []) WHERE t IN $v_teams))
  OR (a.visibility = 'department' AND any(d IN coalesce(a.share_department_ids, []) WHERE d IN $v_departments))
)"""


@dataclass(frozen=True)
class Viewer:
    """The principal a listing is filtered for: user, whether tenant admin, teams and departments."""

    user_id: str
    admin: bool
    team_ids: tuple[str, ...] = ()
    department_ids: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        """Query parameters for :data:`VISIBLE`."""
        return {"v_uid": self.user_id, "v_admin": self.admin, "v_teams": list(self.team_ids),
                "v_departments": list(self.department_ids)}


@dataclass(frozen=True)
class AgentAccess:
    """What a user may do with one agent: ``read`` (see and run) and ``edit`` (change, share)."""

    read: bool
    edit: bool
    visibility: str


class SharingRepository:
    """Visibility and grants of agents; access decisions for one user."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def viewer(self, *, tenant_id: str, user_id: str, admin: bool) -> Viewer:
        """The user's teams and departments, for :data:`VISIBLE`."""
        rows = await self.client.query(
            """
            MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
            OPTIONAL MATCH (u)-[:MEMBER_OF]->(t:Team)
            OPTIONAL MATCH (u)-[:BELONGS_TO]->(d:Department)
            RETURN collect(DISTINCT t.id) AS teams, collect(DISTINCT d.id) AS deps
            """, uid=user_id, tid=tenant_id)
        teams = tuple(x for x in (rows[0]["teams"] if rows else []) if x)
        deps = tuple(x for x in (rows[0]["deps"] if rows else []) if x)
        return Viewer(user_id=user_id, admin=admin, team_ids=teams, department_ids=deps)

    async def access(self, *, tenant_id: str, agent_id: str, viewer: Viewer) -> AgentAccess | None:
        """Access of ``viewer`` to an agent; None when the agent does not exist in the tenant."""
        rows = await self.client.query(
            f"""
            MATCH (a:Agent {{id: $aid}}) WHERE a.tenant_id = $tid
            RETURN {VISIBLE} AS visible,
                   ($v_admin OR a.created_by = $v_uid OR $v_uid IN coalesce(a.editor_ids, [])) AS editable,
                   coalesce(a.visibility, 'tenant') AS visibility
            """, aid=agent_id, tid=tenant_id, **viewer.params())
        if not rows:
            return None
        r = rows[0]
        return AgentAccess(read=bool(r["visible"]) or bool(r["editable"]), edit=bool(r["editable"]),
                           visibility=r["visibility"])

    async def list_visible(self, *, tenant_id: str, viewer: Viewer, limit: int = 100) -> list[Agent]:
        """Agents of the tenant the viewer may see, most recently updated first."""
        rows = await self.client.query(
            f"""
            MATCH (a:Agent) WHERE a.tenant_id = $tid AND {VISIBLE}
            RETURN properties(a) AS a ORDER BY a.updated_at DESC LIMIT $limit
            """, tid=tenant_id, limit=limit, **viewer.params())
        return [Agent(**r["a"]) for r in rows]

    async def visible_ids(self, *, tenant_id: str, agent_ids: list[str], viewer: Viewer) -> set[str]:
        """The subset of ``agent_ids`` the viewer may see (one query; ids looked up by index)."""
        if viewer.admin or not agent_ids:
            return set(agent_ids)
        rows = await self.client.query(
            f"UNWIND $ids AS x MATCH (a:Agent {{id: x}}) WHERE a.tenant_id = $tid AND {VISIBLE} RETURN a.id AS id",
            ids=list(agent_ids), tid=tenant_id, **viewer.params())
        return {r["id"] for r in rows}

    async def grants(self, *, tenant_id: str, agent_id: str) -> dict[str, str]:
        """``{user_id: role}`` of an agent's grants."""
        rows = await self.client.query(
            """
            MATCH (u:User)-[r:COLLABORATES_ON]->(a:Agent {id: $aid}) WHERE a.tenant_id = $tid
            RETURN u.id AS uid, r.role AS role
            """, aid=agent_id, tid=tenant_id)
        return {r["uid"]: r["role"] for r in rows}

    async def share(self, *, tenant_id: str, agent_id: str, visibility: str,
                    grants: dict[str, str | None] | None = None) -> dict[str, Any]:
        """Set the agent's visibility and change grants (``{user_id: role}``; role None removes it).

        One transaction: the visibility, the grant edges and the denormalised lists change together.

        Returns:
            ``{"visibility", "grants": {user_id: role}}`` after the change.

        Raises:
            UserError: unknown visibility or grant role. NotFoundError: unknown agent or grantee.
        """
        if visibility not in VISIBILITIES:
            raise UserError(f"Unknown visibility {visibility!r}; use one of {', '.join(VISIBILITIES)}.")
        grants = grants or {}
        for uid, role in grants.items():
            if role is not None and role not in COLLABORATOR_ROLES:
                raise UserError(f"Unknown grant role {role!r} for {uid!r}; use one of "
                                f"{', '.join(COLLABORATOR_ROLES)}, or null to remove the grant.")

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            found = await (await tx.run("MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid "
                                        "RETURN a.created_by AS creator", aid=agent_id, tid=tenant_id)).data()
            if not found:
                raise NotFoundError(f"Agent {agent_id!r} does not exist in this tenant.")
            for uid, role in grants.items():
                if role is None:
                    await tx.run("MATCH (u:User {id: $uid})-[r:COLLABORATES_ON]->(a:Agent {id: $aid}) DELETE r",
                                 uid=uid, aid=agent_id)
                    continue
                ok = await (await tx.run(
                    """
                    MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
                    MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
                    MERGE (u)-[r:COLLABORATES_ON]->(a) SET r.role = $role RETURN r.role AS role
                    """, uid=uid, aid=agent_id, tid=tenant_id, role=role)).data()
                if not ok:
                    raise NotFoundError(f"User {uid!r} is not in this tenant; add them first (createUser).")
            org = (await (await tx.run(
                """
                MATCH (c:User {id: $creator})
                OPTIONAL MATCH (c)-[:MEMBER_OF]->(t:Team)
                OPTIONAL MATCH (c)-[:BELONGS_TO]->(d:Department)
                RETURN collect(DISTINCT t.id) AS teams, collect(DISTINCT d.id) AS deps
                """, creator=found[0]["creator"] or "")).data()) or [{"teams": [], "deps": []}]
            edges = await (await tx.run(
                "MATCH (u:User)-[r:COLLABORATES_ON]->(a:Agent {id: $aid}) RETURN u.id AS uid, r.role AS role",
                aid=agent_id)).data()
            current = {e["uid"]: e["role"] for e in edges}
            await tx.run(
                """
                MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
                SET a.visibility = $vis, a.share_team_ids = $teams, a.share_department_ids = $deps,
                    a.reader_ids = $readers, a.editor_ids = $editors
                """, aid=agent_id, tid=tenant_id, vis=visibility,
                teams=[t for t in org[0]["teams"] if t] if visibility == "team" else [],
                deps=[d for d in org[0]["deps"] if d] if visibility == "department" else [],
                readers=sorted(current), editors=sorted(u for u, r in current.items() if r in ("owner", "editor")))
            return {"visibility": visibility, "grants": current}

        return await self.client.transaction(work)


__all__ = ["VISIBILITIES", "VISIBLE", "AgentAccess", "SharingRepository", "Viewer"]
