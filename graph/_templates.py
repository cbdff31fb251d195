"""Clones and templates (issue 3): new agents made from another agent's spec, each in one transaction.

A clone is a new agent owned by the cloner (``CREATED``, ``COLLABORATES_ON {role:
'owner'}``) with ``(:Agent)-[:DERIVED_FROM]->(:Agent)`` to its source; a template is
a stored spec (``(:Template)-[:FROM_AGENT]->(:Agent)``) from which
``create_from_template`` makes agents the same way.
"""

from __future__ import annotations

from typing import Any

import neo4j

from agentgraph.errors import NotFoundError
from agentgraph.spec import NAME_MAX, AgentSpec

from graph._client import GraphClient
from graph._models import Agent, Template, new_id, now_iso
from graph._repos import _check_tools, _link_models, _link_tools, spec_hash


def agent_id_for(name: str) -> str:
    """A fresh agent id from a name (slug + random suffix), as ``saveAgent`` makes them."""
    slug = AgentSpec.model_construct(name=name).slug if name else "agent"
    return f"{slug[:40]}-{new_id('x')[-6:]}"


async def _source_yaml(tx: neo4j.AsyncManagedTransaction, tenant_id: str, agent_id: str) -> str:
    rows = await (await tx.run(
        """
        MATCH (a:Agent {id: $aid})-[:HAS_VERSION]->(v:AgentVersion) WHERE a.tenant_id = $tid
          AND v.version = coalesce(a.active_version, a.latest_version)
        RETURN v.spec_yaml AS y
        """, aid=agent_id, tid=tenant_id)).data()
    if not rows:
        raise NotFoundError(f"Agent {agent_id!r} does not exist in this tenant. Find agents in the marketplace.")
    return rows[0]["y"]


async def create_agent_in_tx(tx: neo4j.AsyncManagedTransaction, *, tenant_id: str, user_id: str, spec: AgentSpec,
                             derived_from: str | None = None) -> dict[str, Any]:
    """Create a draft agent (version 1 with tool, model and notebook edges) inside ``tx``.

    Raises:
        NotFoundError: a tool or notebook of the spec is not in the tenant (the caller's
            transaction rolls back, nothing is stored).
    """
    aid, ts, yaml_text = agent_id_for(spec.name), now_iso(), spec.to_yaml()
    vid = f"{aid}:v1"
    await _check_tools(tx, tenant_id, spec.tool_ids)
    if spec.notebook_ids:
        found = await (await tx.run("MATCH (n:Notebook) WHERE n.tenant_id = $tid AND n.id IN $ids RETURN n.id AS id",
                                    tid=tenant_id, ids=spec.notebook_ids)).data()
        missing = sorted(set(spec.notebook_ids) - {r["id"] for r in found})
        if missing:
            raise NotFoundError(f"Unknown notebook(s) {', '.join(missing)}; create them or remove them from the spec.")
    row = (await (await tx.run(
        """
        MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
        CREATE (a:Agent {id: $aid, tenant_id: $tid, name: $name, description: $description, agent_type: $atype,
                         status: 'draft', latest_version: 1, created_at: $ts, updated_at: $ts, created_by: $uid,
                         derived_from: $src, runs: 0, successes: 0, latency_sum_ms: 0.0, cost_sum_usd: 0.0,
                         rating_sum: 0, rating_count: 0})
        CREATE (v:AgentVersion {id: $vid, tenant_id: $tid, agent_id: $aid, version: 1, spec_yaml: $yaml,
                                spec_hash: $hash, created_at: $ts, created_by: $uid, tool_ids: $tools})
        CREATE (a)-[:HAS_VERSION]->(v)
        CREATE (u)-[:CREATED {at: $ts}]->(a)
        CREATE (u)-[:COLLABORATES_ON {role: 'owner'}]->(a)
        RETURN properties(a) AS a
        """, uid=user_id, tid=tenant_id, aid=aid, name=spec.name, description=spec.description,
        atype=spec.agent_type.value, ts=ts, src=derived_from, vid=vid, yaml=yaml_text, hash=spec_hash(yaml_text),
        tools=spec.tool_ids)).data())
    if not row:
        raise NotFoundError(f"User {user_id!r} does not exist in this tenant.")
    await _link_tools(tx, vid, spec.tool_ids)
    await _link_models(tx, vid, tenant_id, [spec.model.name, *spec.model.fallbacks])
    if spec.notebook_ids:
        await tx.run("MATCH (v:AgentVersion {id: $vid}) UNWIND $ids AS nid MATCH (n:Notebook {id: nid}) "
                     "MERGE (v)-[:SEARCHES_NOTEBOOK]->(n)", vid=vid, ids=spec.notebook_ids)
    if derived_from:
        await tx.run("MATCH (a:Agent {id: $aid}), (s:Agent {id: $src}) CREATE (a)-[:DERIVED_FROM {at: $ts}]->(s)",
                     aid=aid, src=derived_from, ts=ts)
    return row[0]["a"]


def _renamed(spec: AgentSpec, name: str | None, default_suffix: str) -> AgentSpec:
    new = (name or f"{spec.name}{default_suffix}").strip()[:NAME_MAX]
    return spec.model_copy(update={"name": new})


class TemplateRepository:
    """Clone agents, store templates and instantiate them (one transaction per call)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def clone(self, *, tenant_id: str, user_id: str, agent_id: str, name: str | None = None) -> Agent:
        """Clone ``agent_id``'s active (else latest) version into a new draft agent owned by ``user_id``.

        Raises:
            NotFoundError: unknown agent or user, or the source's tools/notebooks are gone.
        """

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            spec = _renamed(AgentSpec.from_yaml(await _source_yaml(tx, tenant_id, agent_id)), name, " (copy)")
            return await create_agent_in_tx(tx, tenant_id=tenant_id, user_id=user_id, spec=spec,
                                            derived_from=agent_id)

        return Agent(**await self.client.transaction(work))

    async def create_template(self, *, tenant_id: str, user_id: str, agent_id: str, name: str | None = None,
                              description: str | None = None) -> Template:
        """Store ``agent_id``'s active (else latest) spec as a template.

        Raises:
            NotFoundError: unknown agent.
        """
        tid_, ts = new_id("tpl"), now_iso()

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            spec = AgentSpec.from_yaml(await _source_yaml(tx, tenant_id, agent_id))
            return (await (await tx.run(
                """
                MATCH (a:Agent {id: $aid})
                CREATE (t:Template {id: $id, tenant_id: $tid, name: $name, description: $description,
                                    agent_type: $atype, spec_yaml: $yaml, source_agent_id: $aid,
                                    created_by: $uid, created_at: $ts})
                CREATE (t)-[:FROM_AGENT]->(a)
                RETURN properties(t) AS t
                """, aid=agent_id, id=tid_, tid=tenant_id, name=(name or spec.name)[:NAME_MAX],
                description=description or spec.description, atype=spec.agent_type.value, yaml=spec.to_yaml(),
                uid=user_id, ts=ts)).data())[0]["t"]

        return Template(**await self.client.transaction(work))

    async def list_templates(self, *, tenant_id: str) -> list[Template]:
        """Templates of the tenant, newest first."""
        rows = await self.client.query("MATCH (t:Template) WHERE t.tenant_id = $tid RETURN properties(t) AS t",
                                       tid=tenant_id)
        return sorted((Template(**r["t"]) for r in rows), key=lambda t: t.created_at, reverse=True)

    async def create_from_template(self, *, tenant_id: str, user_id: str, template_id: str,
                                   name: str | None = None) -> Agent:
        """A new draft agent from a template (``DERIVED_FROM`` the template's source agent when it still exists).

        Raises:
            NotFoundError: unknown template or user; the template's tools/notebooks are gone.
        """

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            rows = await (await tx.run(
                """
                MATCH (t:Template {id: $id}) WHERE t.tenant_id = $tid
                OPTIONAL MATCH (t)-[:FROM_AGENT]->(a:Agent)
                RETURN t.spec_yaml AS y, a.id AS src
                """, id=template_id, tid=tenant_id)).data()
            if not rows:
                raise NotFoundError(f"Template {template_id!r} does not exist; list them with the `templates` query.")
            spec = _renamed(AgentSpec.from_yaml(rows[0]["y"]), name, "")
            return await create_agent_in_tx(tx, tenant_id=tenant_id, user_id=user_id, spec=spec,
                                            derived_from=rows[0]["src"])

        return Agent(**await self.client.transaction(work))
