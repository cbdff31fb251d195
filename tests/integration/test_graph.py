"""Graph repositories against the real ArcadeDB server over Bolt."""

from __future__ import annotations

import asyncio

import pytest

from agentgraph.errors import ConflictError, NotFoundError
from graph import (
    AgentRepository,
    ExecutionRepository,
    GraphClient,
    TenantRepository,
    ToolOperation,
    ToolRepository,
    new_id,
    now_iso,
    setup_schema,
)


@pytest.fixture()
async def client(services):
    g = services.graph
    c = GraphClient(services.graph_uri, g.user, g.password, g.database, backend="arcadedb",
                    http_url=f"http://127.0.0.1:{g.http_port}")
    await setup_schema(c)
    yield c
    await c.close()


async def test_schema_setup_is_idempotent_and_ids_unique(client) -> None:
    assert await setup_schema(client) == await setup_schema(client)
    tid = new_id("t")
    await client.write("CREATE (n:Tenant {id: $id, name: 'x', created_at: 'now'})", id=tid)
    with pytest.raises(ConflictError):
        await client.write("CREATE (n:Tenant {id: $id, name: 'x', created_at: 'now'})", id=tid)


async def test_concurrent_default_tenant_creation_yields_one_of_each(client) -> None:
    tenant = new_id("ten")
    repo = TenantRepository(client)
    await asyncio.gather(*(repo.ensure_default(tenant_id=tenant, user_id=f"{tenant}-admin") for _ in range(6)))
    rows = await client.query("MATCH (t:Tenant {id: $t}) RETURN count(t) AS n", t=tenant)
    assert rows[0]["n"] == 1
    rows = await client.query("MATCH (u:User {id: $u})-[r:MEMBER_OF]->(:Tenant) RETURN count(r) AS n", u=f"{tenant}-admin")
    assert rows[0]["n"] == 1


async def test_tool_round_trip_and_tenant_isolation(client) -> None:
    tools = ToolRepository(client)
    tid = new_id("tool").replace("_", "-")
    ops = [ToolOperation(operation_id="b", method="GET", path="/b"), ToolOperation(operation_id="a", method="POST", path="/a")]
    await tools.create(tenant_id="t1", tool_id=tid, name="T", description="d", base_url="http://x", operations=ops,
                       embedding=[0.5, 0.5], openapi={"openapi": "3.0.0"}, created_by=None)
    got = await tools.get(tenant_id="t1", tool_id=tid)
    assert [o.operation_id for o in got.operations] == ["b", "a"]  # document order
    assert got.embedding == [0.5, 0.5] and got.openapi == {"openapi": "3.0.0"}
    with pytest.raises(NotFoundError):
        await tools.get(tenant_id="t2", tool_id=tid)
    await tools.delete(tenant_id="t1", tool_id=tid)
    rows = await client.query("MATCH (o:ToolOperation) WHERE o.tool_id = $id RETURN count(o) AS n", id=tid)
    assert rows[0]["n"] == 0


async def test_agent_create_is_atomic_and_versions_are_immutable(client) -> None:
    agents = AgentRepository(client)
    aid = new_id("agent")
    with pytest.raises(NotFoundError, match="Unknown tool"):
        await agents.create(tenant_id="t1", agent_id=aid, name="A", description="d", agent_type="react",
                            spec_yaml="a: 1", tool_ids=["missing-tool"], created_by=None)
    rows = await client.query("MATCH (n) WHERE n.id IN [$a, $v] RETURN count(n) AS n", a=aid, v=f"{aid}:v1")
    assert rows[0]["n"] == 0  # nothing half-written
    a, v1 = await agents.create(tenant_id="t1", agent_id=aid, name="A", description="d", agent_type="react",
                                spec_yaml="a: 1", tool_ids=[], created_by=None)
    same_a, same_v = await agents.add_version(tenant_id="t1", agent_id=aid, name="A", description="d",
                                              agent_type="react", spec_yaml="a: 1", tool_ids=[], created_by=None)
    assert same_v.version == 1  # no change, no new version
    a2, v2 = await agents.add_version(tenant_id="t1", agent_id=aid, name="A", description="d2", agent_type="react",
                                      spec_yaml="a: 2", tool_ids=[], created_by=None, publish=True)
    assert v2.version == 2 and a2.active_version == 2 and a2.status == "active"
    assert (await agents.get_version(tenant_id="t1", agent_id=aid, version=1)).spec_yaml == "a: 1"
    rolled = await agents.publish(tenant_id="t1", agent_id=aid, version=1)
    assert rolled.active_version == 1
    assert (await agents.get_version(tenant_id="t1", agent_id=aid)).version == 1
    with pytest.raises(NotFoundError, match="no version 7"):
        await agents.get_version(tenant_id="t1", agent_id=aid, version=7)

    execs = ExecutionRepository(client)
    e = await execs.start(tenant_id="t1", agent_id=aid, version=2, thread_id="th", input="hi", triggered_by=None)
    assert e.status == "running"
    done = await execs.finish(tenant_id="t1", execution_id=e.id, status="failed", output=None, error="boom",
                              error_code="RUN_FAILED", ended_at=now_iso(), latency_ms=5.0, prompt_tokens=1,
                              completion_tokens=2, cost_usd=0.001, model="m", spans=[{"name": "agent.run"}])
    assert done.status == "failed" and done.spans == [{"name": "agent.run"}] and done.cost_usd == 0.001
    rows = await client.query("MATCH (e:Execution {id: $e})-[:OF_VERSION]->(v:AgentVersion) RETURN v.version AS v", e=e.id)
    assert rows == [{"v": 2}]
    with pytest.raises(NotFoundError):
        await execs.start(tenant_id="t1", agent_id=aid, version=9, thread_id="th", input="x", triggered_by=None)


async def test_versions_link_to_catalogue_models_in_fallback_order(client) -> None:
    from graph import LLMRepository

    llms = LLMRepository(client)
    for name in ("cat-primary", "cat-fallback"):
        await llms.add_deployment(
            llm={"tenant_id": "t1", "name": name, "provider": "openai", "litellm_model": f"openai/{name}"},
            deployment={"tenant_id": "t1", "name": name, "litellm_model": f"openai/{name}"},
        )
    agents = AgentRepository(client)
    aid = new_id("agent")
    await agents.create(tenant_id="t1", agent_id=aid, name="A", description="d", agent_type="react", spec_yaml="m: 1",
                        tool_ids=[], created_by=None, model_names=["cat-primary", "default", "cat-fallback"])
    rows = await client.query(
        "MATCH (v:AgentVersion {id: $vid})-[r:CONFIGURED_FOR]->(l:LLM) "
        "RETURN l.name AS name, r.primary AS primary, r.fallback_order AS fo", vid=f"{aid}:v1")
    got = sorted((r["fo"], r["name"], r["primary"]) for r in rows)
    assert got == [(0, "cat-primary", True), (2, "cat-fallback", False)]  # 'default' has no catalogue node


async def test_both_ways_of_creating_a_user_make_a_tenant_member(client) -> None:
    """UserDirectory.create and OrgRepository.upsert_user give the same model: MEMBER_OF the Tenant."""
    from graph import OrgRepository
    from graph._auth import UserDirectory

    tenant = new_id("ten")
    await TenantRepository(client).ensure_default(tenant_id=tenant, user_id=f"{tenant}-admin")
    org = OrgRepository(client)
    await org.create_department(tenant_id=tenant, department_id=f"{tenant}-d", name="D")
    await UserDirectory(client).create(tenant_id=tenant, user_id=f"{tenant}-a", role="operator")
    await org.upsert_user(tenant_id=tenant, user_id=f"{tenant}-b", role="operator", department_id=f"{tenant}-d")
    await org.upsert_user(tenant_id=tenant, user_id=f"{tenant}-a", role="viewer", department_id=f"{tenant}-d")
    rows = await client.query("MATCH (u:User)-[r:MEMBER_OF]->(:Tenant {id: $t}) RETURN u.id AS u, count(r) AS n "
                              "ORDER BY u", t=tenant)
    assert rows == [{"u": f"{tenant}-a", "n": 1}, {"u": f"{tenant}-admin", "n": 1}, {"u": f"{tenant}-b", "n": 1}]
