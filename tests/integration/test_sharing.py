"""Sharing an agent: private, team, department, tenant, and explicit grants (issue 3).

Real HTTP against the platform that requires authentication; users, teams and
departments are created in the real graph; each user calls with their own API key.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec

SAVE = "mutation($y: String!, $id: String) { saveAgent(specYaml: $y, agentId: $id, publish: true) { id } }"
SHARE = """mutation($id: String!, $v: String!, $g: [GrantInput!]) {
  shareAgent(agentId: $id, visibility: $v, grants: $g) { visibility grants { userId role } } }"""


def _gql(url: str, key: str, query: str, **variables) -> dict:
    resp = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                      headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return resp.json()


def _code(body: dict) -> str | None:
    return (body.get("errors") or [{}])[0].get("extensions", {}).get("code")


@pytest.fixture(scope="module")
def org(services: Settings) -> dict[str, str]:
    """Department sales (teams north, south) and ops; four operators; their API keys."""
    from graph import ApiKeyRepository, GraphClient, OrgRepository

    s = str(time.time_ns())[-8:]

    async def build() -> dict[str, str]:
        g = services.graph
        client = GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                             http_url=f"http://127.0.0.1:{g.http_port}")
        try:
            o, keys = OrgRepository(client), ApiKeyRepository(client)
            await o.create_department(tenant_id="default", department_id=f"sales-{s}", name="Sales")
            await o.create_department(tenant_id="default", department_id=f"ops-{s}", name="Ops")
            await o.create_team(tenant_id="default", team_id=f"north-{s}", name="North", department_id=f"sales-{s}")
            await o.create_team(tenant_id="default", team_id=f"south-{s}", name="South", department_id=f"sales-{s}")
            out = {"suffix": s}
            for uid, dep, team in (("grace", "sales", "north"), ("alan", "sales", "north"),
                                   ("ada", "sales", "south"), ("linus", "ops", None)):
                await o.upsert_user(tenant_id="default", user_id=f"{uid}-{s}", role="operator",
                                    department_id=f"{dep}-{s}", team_id=f"{team}-{s}" if team else None)
                out[uid] = (await keys.create(tenant_id="default", user_id=f"{uid}-{s}", name="t"))[1]
            return out
        finally:
            await client.close()

    return asyncio.run(build())


def _sees(url: str, key: str, agent_id: str) -> bool:
    listed = agent_id in {a["id"] for a in _gql(url, key, "{ agents(limit: 500) { id } }")["data"]["agents"]}
    single = _gql(url, key, "query($id: ID!) { agent(id: $id) { id } }", id=agent_id)
    assert listed == ("errors" not in single), (listed, single)  # the list and the lookup agree
    if not listed:
        assert _code(single) == "NOT_FOUND"  # no existence oracle
    return listed


def test_visibility_levels_and_grants(secured_url: str, org: dict[str, str]) -> None:
    url, s = secured_url, org["suffix"]
    spec = AgentSpec(name=f"pipeline-{s}", description="Grace's pipeline review", system_prompt="p")
    agent_id = _gql(url, org["grace"], SAVE, y=spec.to_yaml())["data"]["saveAgent"]["id"]
    assert all(_sees(url, org[u], agent_id) for u in ("alan", "ada", "linus"))  # default: whole tenant

    shared = _gql(url, org["grace"], SHARE, id=agent_id, v="private")["data"]["shareAgent"]
    assert shared == {"visibility": "private", "grants": []}
    assert _sees(url, org["grace"], agent_id)
    assert not any(_sees(url, org[u], agent_id) for u in ("alan", "ada", "linus"))
    market = _gql(url, org["alan"], 'query($t: String) { marketplace(first: 50, filter: {text: $t}) '
                                   '{ edges { node { id } } } }', t=f"pipeline-{s}")
    assert market["data"]["marketplace"]["edges"] == [], market
    mine = _gql(url, org["grace"], 'query($t: String) { marketplace(first: 50, filter: {text: $t}) '
                                   '{ edges { node { id } } } }', t=f"pipeline-{s}")
    assert [e["node"]["id"] for e in mine["data"]["marketplace"]["edges"]] == [agent_id]
    run = _gql(url, org["alan"], 'mutation($id: String!) { runAgent(agentId: $id, input: "hi") { id } }', id=agent_id)
    assert _code(run) == "NOT_FOUND"

    _gql(url, org["grace"], SHARE, id=agent_id, v="team")
    assert _sees(url, org["alan"], agent_id) and not _sees(url, org["ada"], agent_id)
    _gql(url, org["grace"], SHARE, id=agent_id, v="department")
    assert _sees(url, org["ada"], agent_id) and not _sees(url, org["linus"], agent_id)

    # Alan sees it but may not change it; a viewer grant lets Linus see it, an editor grant lets him change it.
    spec.description = "edited"
    assert _code(_gql(url, org["alan"], SAVE, y=spec.to_yaml(), id=agent_id)) == "FORBIDDEN"
    assert _code(_gql(url, org["alan"], SHARE, id=agent_id, v="tenant")) == "FORBIDDEN"
    granted = _gql(url, org["grace"], SHARE, id=agent_id, v="department",
                   g=[{"userId": f"linus-{s}", "role": "viewer"}])["data"]["shareAgent"]
    assert granted["grants"] == [{"userId": f"linus-{s}", "role": "viewer"}]
    assert _sees(url, org["linus"], agent_id)
    assert _code(_gql(url, org["linus"], SAVE, y=spec.to_yaml(), id=agent_id)) == "FORBIDDEN"
    _gql(url, org["grace"], SHARE, id=agent_id, v="private", g=[{"userId": f"linus-{s}", "role": "editor"}])
    assert "errors" not in _gql(url, org["linus"], SAVE, y=spec.to_yaml(), id=agent_id)
    assert not _sees(url, org["alan"], agent_id)  # private again: only the creator and grantees

    # Removing the grant closes it; bad input is refused without changing anything.
    _gql(url, org["grace"], SHARE, id=agent_id, v="private", g=[{"userId": f"linus-{s}", "role": None}])
    assert not _sees(url, org["linus"], agent_id)
    bad = _gql(url, org["grace"], SHARE, id=agent_id, v="everyone")
    assert _code(bad) == "BAD_USER_INPUT" and "private, team, department, tenant" in bad["errors"][0]["message"]
    ghost = _gql(url, org["grace"], SHARE, id=agent_id, v="tenant", g=[{"userId": "nobody-x", "role": "viewer"}])
    assert _code(ghost) == "NOT_FOUND"
    state = _gql(url, org["grace"], "query($id: String!) { agentSharing(agentId: $id) { visibility grants { userId } } }",
                 id=agent_id)["data"]["agentSharing"]
    assert state == {"visibility": "private", "grants": []}  # the failed call left it as it was


def test_runs_of_an_agent_one_may_not_see_are_hidden(secured_url: str, org: dict[str, str]) -> None:
    url, s = secured_url, org["suffix"]
    spec = AgentSpec(name=f"private-runs-{s}", description="Grace's private runs", system_prompt="p")
    agent_id = _gql(url, org["grace"], SAVE, y=spec.to_yaml())["data"]["saveAgent"]["id"]
    _gql(url, org["grace"], SHARE, id=agent_id, v="private")
    run = _gql(url, org["grace"], 'mutation($a: String!) { runAgent(agentId: $a, input: "hi") { id } }', a=agent_id)
    run_id = run["data"]["runAgent"]["id"]
    one = "query($id: ID!) { execution(id: $id) { id agentId } }"
    many = "query($a: String) { executions(agentId: $a, limit: 500) { id } }"

    def visible(key: str) -> bool:
        listed = run_id in {e["id"] for e in _gql(url, key, many)["data"]["executions"]}
        single = _gql(url, key, one, id=run_id)
        assert listed == ("errors" not in single), (listed, single)  # the list and the lookup agree
        if not listed:
            assert _code(single) == "NOT_FOUND" and "does not exist" in single["errors"][0]["message"]
        return listed

    assert visible(org["grace"]) and not visible(org["alan"])
    assert _code(_gql(url, org["alan"], many, a=agent_id)) == "NOT_FOUND"  # filtering by that agent: no hint either
    _gql(url, org["grace"], SHARE, id=agent_id, v="team")
    assert visible(org["alan"]) and not visible(org["linus"])
