"""The organisation graph (issue 3): departments, teams, users' roles and memberships, usage.

Relationships written here::

    (:User)-[:BELONGS_TO]->(:Department)
    (:User)-[:MEMBER_OF]->(:Team)-[:PART_OF]->(:Department)
    (:User)-[:USES {frequency, last_used}]->(:Agent)
    (:User)-[:COLLABORATES_ON {role}]->(:Agent)

Every method is keyword-only and tenant-scoped (``tenant_id``); each mutation is
one transaction. Permission checks are the API's job (a later layer).
"""

from __future__ import annotations

from typing import Any

import neo4j

from agentgraph.errors import NotFoundError, UserError

from graph._card_cache import forget_people
from graph._client import GraphClient
from graph._models import Department, Team, User, now_iso

#: Cypher counting one use of agent ``$aid`` by user ``$uid`` (tenant ``$tid``, time ``$ts``); no row when
#: either is unknown (:meth:`OrgRepository.record_use`). A succeeded run's use is written the same way by
#: its finish statement (``graph._marketplace.CountingExecutionLifecycle.COUNT_AND_USE``): keep them alike.
RECORD_USE = """
MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
MERGE (u)-[r:USES]->(a)
  ON CREATE SET r.frequency = 1, r.last_used = $ts
  ON MATCH SET r.frequency = r.frequency + 1, r.last_used = $ts
RETURN r.frequency AS f
"""

#: Roles per tenant (issue 3: viewers read, operators run, admins configure).
ROLES = ("admin", "operator", "viewer")
#: Roles a user can have on an agent through ``COLLABORATES_ON``.
COLLABORATOR_ROLES = ("owner", "editor", "viewer")


def check_role(role: str) -> str:
    """Return ``role`` or raise UserError naming the allowed roles."""
    if role not in ROLES:
        raise UserError(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", code="INVALID_ROLE")
    return role


class OrgRepository:
    """Departments, teams, users and who uses or collaborates on which agent."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create_department(self, *, tenant_id: str, department_id: str, name: str) -> Department:
        """Create (idempotently, by id) a department."""
        rows = await self.client.write(
            "MERGE (d:Department {id: $id}) ON CREATE SET d.tenant_id = $tid, d.name = $name, d.created_at = $ts "
            "RETURN properties(d) AS d", id=department_id, tid=tenant_id, name=name, ts=now_iso())
        return Department(**rows[0]["d"])

    async def create_team(self, *, tenant_id: str, team_id: str, name: str,
                          department_id: str | None = None) -> Team:
        """Create (idempotently) a team, ``PART_OF`` its department when given.

        Raises:
            NotFoundError: the department does not exist in the tenant (nothing is stored).
        """
        ts = now_iso()

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            if department_id:
                await _require(tx, "Department", department_id, tenant_id)
            row = (await (await tx.run(
                "MERGE (t:Team {id: $id}) ON CREATE SET t.tenant_id = $tid, t.name = $name, t.created_at = $ts "
                "SET t.department_id = $dep RETURN properties(t) AS t",
                id=team_id, tid=tenant_id, name=name, ts=ts, dep=department_id)).data())[0]["t"]
            if department_id:
                await tx.run("MATCH (t:Team {id: $id}), (d:Department {id: $dep}) MERGE (t)-[:PART_OF]->(d)",
                             id=team_id, dep=department_id)
            return row

        return Team(**await self.client.transaction(work))

    async def upsert_user(self, *, tenant_id: str, user_id: str, name: str | None = None, role: str = "viewer",
                          department_id: str | None = None, team_id: str | None = None,
                          email: str | None = None) -> User:
        """Create or update a user with its role, department and team (replacing earlier ones).

        Raises:
            UserError: unknown role (``INVALID_ROLE``).
            NotFoundError: the department or team is not in the tenant; the user belongs to
                another tenant. Nothing is stored in either case.
        """
        check_role(role)
        ts = now_iso()

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            other = await (await tx.run("MATCH (u:User {id: $id}) WHERE u.tenant_id <> $tid RETURN u.id AS id",
                                        id=user_id, tid=tenant_id)).data()
            if other:
                raise NotFoundError(f"User {user_id!r} does not exist in this tenant.")
            if department_id:
                await _require(tx, "Department", department_id, tenant_id)
            if team_id:
                await _require(tx, "Team", team_id, tenant_id)
            row = (await (await tx.run(
                """
                MERGE (u:User {id: $id})
                  ON CREATE SET u.tenant_id = $tid, u.created_at = $ts, u.name = $id, u.email = $email
                SET u.role = $role, u.name = coalesce($name, u.name), u.email = coalesce($email, u.email),
                    u.department_id = $dep, u.team_id = $team
                RETURN properties(u) AS u
                """, id=user_id, tid=tenant_id, ts=ts, role=role, name=name, dep=department_id, team=team_id,
                email=email or f"{user_id}@{tenant_id}.local")).data())[0]["u"]
            await tx.run("MATCH (u:User {id: $id})-[r:BELONGS_TO]->(:Department) DELETE r", id=user_id)
            await tx.run("MATCH (u:User {id: $id})-[r:MEMBER_OF]->(:Team) DELETE r", id=user_id)
            if department_id:
                await tx.run("MATCH (u:User {id: $id}), (d:Department {id: $dep}) CREATE (u)-[:BELONGS_TO]->(d)",
                             id=user_id, dep=department_id)
            if team_id:
                await tx.run("MATCH (u:User {id: $id}), (t:Team {id: $team}) CREATE (u)-[:MEMBER_OF]->(t)",
                             id=user_id, team=team_id)
            # Members of the tenant like UserDirectory.create's users (docs/graph-model.md), when it exists.
            await tx.run("MATCH (u:User {id: $id}), (t:Tenant {id: $tid}) MERGE (u)-[:MEMBER_OF]->(t)",
                         id=user_id, tid=tenant_id)
            return row

        user = User(**await self.client.transaction(work))
        forget_people()  # agent cards show this user's name, role, department and team
        return user

    async def list_departments(self, *, tenant_id: str) -> list[Department]:
        """Departments of the tenant, by name."""
        rows = await self.client.query("MATCH (d:Department) WHERE d.tenant_id = $tid RETURN properties(d) AS d",
                                       tid=tenant_id)
        return sorted((Department(**r["d"]) for r in rows), key=lambda d: d.name)

    async def list_teams(self, *, tenant_id: str) -> list[Team]:
        """Teams of the tenant, by name."""
        rows = await self.client.query("MATCH (t:Team) WHERE t.tenant_id = $tid RETURN properties(t) AS t",
                                       tid=tenant_id)
        return sorted((Team(**r["t"]) for r in rows), key=lambda t: t.name)

    async def users_by_ids(self, *, tenant_id: str, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``{user_id: {id, name, role, department, team}}`` for many users in one query (DataLoaders)."""
        rows = await self.client.query(
            """
            UNWIND $ids AS x MATCH (u:User {id: x}) WHERE u.tenant_id = $tid
            OPTIONAL MATCH (u)-[:BELONGS_TO]->(d:Department)
            OPTIONAL MATCH (u)-[:MEMBER_OF]->(t:Team)
            RETURN u.id AS id, u.name AS name, u.role AS role, d.name AS department, t.name AS team
            """, ids=list(user_ids), tid=tenant_id)
        return {r["id"]: r for r in rows}

    async def record_use(self, *, tenant_id: str, user_id: str, agent_id: str, at: str | None = None) -> int:
        """Count one use: ``(:User)-[:USES {frequency, last_used}]->(:Agent)``; returns the new frequency.

        Unknown users or agents are ignored (returns 0): runs by triggers have no user.
        """
        rows = await self.client.write(RECORD_USE, uid=user_id, aid=agent_id, tid=tenant_id, ts=at or now_iso())
        return int(rows[0]["f"]) if rows else 0

    async def set_collaborator(self, *, tenant_id: str, agent_id: str, user_id: str, role: str) -> None:
        """``(:User)-[:COLLABORATES_ON {role}]->(:Agent)`` (one edge per pair; role replaced).

        Raises:
            UserError: unknown collaborator role (``INVALID_ROLE``).
            NotFoundError: user or agent not in the tenant.
        """
        if role not in COLLABORATOR_ROLES:
            raise UserError(f"Unknown collaborator role {role!r}; use one of {', '.join(COLLABORATOR_ROLES)}.",
                            code="INVALID_ROLE")
        rows = await self.client.write(
            """
            MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
            MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
            MERGE (u)-[r:COLLABORATES_ON]->(a) SET r.role = $role
            RETURN r.role AS role
            """, uid=user_id, aid=agent_id, tid=tenant_id, role=role)
        if not rows:
            raise NotFoundError(f"User {user_id!r} or agent {agent_id!r} does not exist in this tenant.")


async def _require(tx: neo4j.AsyncManagedTransaction, label: str, node_id: str, tenant_id: str) -> None:
    rows = await (await tx.run(f"MATCH (n:{label} {{id: $id}}) WHERE n.tenant_id = $tid RETURN n.id AS id",
                               id=node_id, tid=tenant_id)).data()
    if not rows:
        raise NotFoundError(f"{label} {node_id!r} does not exist in this tenant; create it first.")


def use_listener(org: OrgRepository):
    """A ``RunService`` run listener recording ``(:User)-[:USES]->(:Agent)`` after each run by a user."""

    async def listener(ctx: Any, outcome: Any) -> None:
        if ctx.user_id:
            await org.record_use(tenant_id=ctx.tenant_id, user_id=ctx.user_id, agent_id=ctx.agent_id)

    return listener
