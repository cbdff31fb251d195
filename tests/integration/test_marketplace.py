"""Organisation graph, lifecycle, marketplace, templates and recommendations (issue 3) on real ArcadeDB.

GraphQL is executed in-process (``schema.execute`` with the platform in the
context) as a fresh tenant's admin, so tests do not see each other's agents.
"""

from __future__ import annotations

import pytest

from agentgraph.spec import AgentSpec, ToolRef
from api._auth import Caller
from api.app import schema
from graph import ToolOperation, new_id, now_iso


def spec_yaml(name: str, description: str, *, model: str = "default", tools: list[str] | None = None,
              prompt: str = "Be helpful.") -> str:
    return AgentSpec(name=name, description=description, system_prompt=prompt, model={"name": model},
                     tools=[ToolRef(tool_id=t) for t in tools or []]).to_yaml()


class Org:
    """A fresh tenant with two departments, a team and users; ``gql`` runs GraphQL as one of them."""

    def __init__(self, p) -> None:
        self.p, self.tid = p, new_id("ten")
        self.m = p.market

    async def setup(self) -> "Org":
        o, t = self.m.org, self.tid
        await o.create_department(tenant_id=t, department_id=f"{t}-sales", name="Sales")
        await o.create_department(tenant_id=t, department_id=f"{t}-eng", name="Engineering")
        await o.create_team(tenant_id=t, team_id=f"{t}-emea", name="EMEA", department_id=f"{t}-sales")
        for uid, name, role, dep, team in (("grace", "Grace", "operator", "sales", "emea"),
                                           ("me", "Me", "operator", "sales", None),
                                           ("bob", "Bob", "operator", "sales", None),
                                           ("eve", "Eve", "admin", "eng", None)):
            await o.upsert_user(tenant_id=t, user_id=f"{t}-{uid}", name=name, role=role,
                                department_id=f"{t}-{dep}", team_id=f"{t}-{team}" if team else None)
        return self

    async def tool(self, name: str = "CRM") -> str:
        """A new tool of the tenant (one GET operation); its id."""
        tool_id = new_id("tool").replace("_", "-")
        await self.p.tools.create(tenant_id=self.tid, tool_id=tool_id, name=name, description=name.lower(),
                                  base_url="http://x", operations=[ToolOperation(operation_id="a", method="GET",
                                                                                 path="/a")],
                                  embedding=[1.0], openapi=None, created_by=None)
        return tool_id

    def uid(self, short: str) -> str:
        return f"{self.tid}-{short}"

    async def agent(self, short: str, name: str, description: str, *, by: str = "grace", publish: bool = True,
                    tools: list[str] | None = None) -> str:
        aid = f"{self.tid}-{short}"
        await self.p.agents.create(tenant_id=self.tid, agent_id=aid, name=name, description=description,
                                   agent_type="react", spec_yaml=spec_yaml(name, description, tools=tools),
                                   tool_ids=tools or [], created_by=self.uid(by), publish=publish)
        return aid

    async def runs(self, aid: str, ok: int, failed: int = 0, by: str = "grace") -> None:
        ex = self.p.executions
        for i in range(ok + failed):
            e = await ex.start(tenant_id=self.tid, agent_id=aid, version=1, thread_id="t", input="x",
                               triggered_by=self.uid(by))
            await ex.finish(tenant_id=self.tid, execution_id=e.id, status="succeeded" if i < ok else "failed",
                            output="y", error=None, error_code=None, ended_at=now_iso(), latency_ms=10.0 * (i + 1),
                            prompt_tokens=1, completion_tokens=1, cost_usd=0.001, model="m", spans=[])

    async def gql(self, query: str, as_user: str = "me", **variables):
        caller = Caller(tenant_id=self.tid, user_id=self.uid(as_user), role="admin", via="system")
        res = await schema.execute(query, variable_values=variables,
                                   context_value={"platform": self.p, "caller": caller})
        return res


def code(res) -> str | None:
    return res.errors[0].original_error.code if res.errors and res.errors[0].original_error else None


@pytest.fixture()
async def org(platform):
    return await Org(platform).setup()


PAGE = """query($first: Int!, $after: String, $filter: MarketFilterInput, $sort: MarketSort!) {
  marketplace(first: $first, after: $after, filter: $filter, sort: $sort) {
    edges { cursor node { id name runs successRate ratingAvg creator { name department team }
                          tools { id } notebooks { id } llms { name } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_lifecycle_provisioning_rollback_and_diff(org) -> None:
    aid = await org.agent("life", "Lifecycle", "An agent with versions", publish=False)
    a = (await org.gql("mutation($a: String!) { activateVersion(agentId: $a) { status activeVersion } }", a=aid))
    assert a.errors is None and a.data["activateVersion"] == {"status": "active", "activeVersion": 1}
    # Version 2 needs a model the gateway does not serve: provisioning fails and says why.
    await org.p.agents.add_version(tenant_id=org.tid, agent_id=aid, name="Lifecycle", description="v2",
                                   agent_type="react", spec_yaml=spec_yaml("Lifecycle", "v2", model="no-such-model"),
                                   tool_ids=[], created_by=org.uid("me"))
    r = await org.gql("mutation($a: String!) { activateVersion(agentId: $a, version: 2) "
                      "{ status activeVersion provisioningError } }", a=aid)
    assert r.data["activateVersion"]["status"] == "failed"
    assert r.data["activateVersion"]["activeVersion"] == 1  # in-flight and new runs keep v1
    assert "no-such-model" in r.data["activateVersion"]["provisioningError"]
    r = await org.gql("mutation($a: String!) { retryProvisioning(agentId: $a) { status } }", a=aid)
    assert r.data["retryProvisioning"]["status"] == "failed"
    # Rollback: activate v1 again.
    r = await org.gql("mutation($a: String!) { activateVersion(agentId: $a, version: 1) { status activeVersion } }",
                      a=aid)
    assert r.data["activateVersion"] == {"status": "active", "activeVersion": 1}
    r = await org.gql("mutation($a: String!) { deprecateAgent(agentId: $a) { status } }", a=aid)
    assert r.data["deprecateAgent"]["status"] == "deprecated"
    r = await org.gql("mutation($a: String!) { deprecateAgent(agentId: $a) { status } }", a=aid)
    assert code(r) == "INVALID_TRANSITION"
    r = await org.gql("mutation($a: String!) { retryProvisioning(agentId: $a) { status } }", a=aid)
    assert code(r) == "INVALID_TRANSITION"
    d = await org.gql("query($a: String!) { agentVersionDiff(agentId: $a, fromVersion: 1, toVersion: 2) "
                      "{ changes { path before after } yamlDiff } }", a=aid)
    changes = {c["path"]: c for c in d.data["agentVersionDiff"]["changes"]}
    assert changes["model.name"]["before"] == "default" and changes["model.name"]["after"] == "no-such-model"
    assert changes["description"]["after"] == "v2"
    assert "-  name: default" in d.data["agentVersionDiff"]["yamlDiff"]
    bad = await org.gql("query($a: String!) { agentVersionDiff(agentId: $a, fromVersion: 1, toVersion: 9) "
                        "{ yamlDiff } }", a=aid)
    assert code(bad) == "NOT_FOUND"


async def test_marketplace_pages_filters_sorts_and_cursors(org) -> None:
    a1 = await org.agent("a1", "Lead router", "Routes sales leads")
    a2 = await org.agent("a2", "Invoice bot", "Chases unpaid invoices", by="eve")
    a3 = await org.agent("a3", "Ticket triage", "Triage support tickets")
    await org.agent("draft", "Draft one", "Not listed", publish=False)
    await org.runs(a1, ok=3, failed=1)
    await org.runs(a2, ok=1)
    await org.p.market.market.rate(tenant_id=org.tid, user_id=org.uid("me"), agent_id=a3, stars=5)
    r = await org.gql(PAGE, first=2, sort="POPULAR")
    assert r.errors is None, r.errors
    conn = r.data["marketplace"]
    assert [e["node"]["id"] for e in conn["edges"]] == [a1, a2] and conn["pageInfo"]["hasNextPage"]
    first = conn["edges"][0]["node"]
    assert first["runs"] == 4 and first["successRate"] == 0.75
    assert first["creator"] == {"name": "Grace", "department": "Sales", "team": "EMEA"}
    r2 = await org.gql(PAGE, first=2, after=conn["pageInfo"]["endCursor"], sort="POPULAR")
    assert [e["node"]["id"] for e in r2.data["marketplace"]["edges"]] == [a3]
    assert not r2.data["marketplace"]["pageInfo"]["hasNextPage"]
    by_rating = await org.gql(PAGE, first=1, sort="RATING")
    assert by_rating.data["marketplace"]["edges"][0]["node"]["ratingAvg"] == 5.0
    eng = await org.gql(PAGE, first=10, sort="RECENT", filter={"department": "Engineering"})
    assert [e["node"]["id"] for e in eng.data["marketplace"]["edges"]] == [a2]
    text = await org.gql(PAGE, first=10, sort="SUCCESS_RATE", filter={"text": "TICKET"})
    assert [e["node"]["id"] for e in text.data["marketplace"]["edges"]] == [a3]
    rated = await org.gql(PAGE, first=10, sort="POPULAR", filter={"minRating": 4})
    assert [e["node"]["id"] for e in rated.data["marketplace"]["edges"]] == [a3]
    team = await org.gql(PAGE, first=10, sort="POPULAR", filter={"team": "EMEA"})
    assert {e["node"]["id"] for e in team.data["marketplace"]["edges"]} == {a1, a3}
    # Bad input: stable codes.
    assert code(await org.gql(PAGE, first=2, after="not-a-cursor", sort="POPULAR")) == "INVALID_CURSOR"
    assert code(await org.gql(PAGE, first=2, after=conn["pageInfo"]["endCursor"], sort="RATING")) == "INVALID_CURSOR"
    assert code(await org.gql(PAGE, first=2, sort="POPULAR", filter={"minRating": 7})) == "INVALID_FILTER"
    assert code(await org.gql(PAGE, first=1000, sort="POPULAR")) == "INVALID_FILTER"


async def test_marketplace_page_issues_bounded_queries(org, monkeypatch) -> None:
    for i in range(12):
        await org.agent(f"n{i}", f"Agent {i}", "Counting queries", by=("grace", "eve", "bob")[i % 3])
    calls: list[str] = []
    real = org.p.graph.query

    async def counting(cypher, **params):
        calls.append(cypher)
        return await real(cypher, **params)

    monkeypatch.setattr(org.p.graph, "query", counting)
    counts = {}
    market = org.p.market.market
    for n in (2, 12):
        await org.gql(PAGE, first=n, sort="RECENT")  # the page's key floor is known after a first request
        market.version_tools.clear()  # the loaders' per-process caches (graph._card_cache): cold
        market.creator_cards.clear()
        calls.clear()
        r = await org.gql(PAGE, first=n, sort="RECENT")
        assert r.errors is None, r.errors
        assert len(r.data["marketplace"]["edges"]) == n
        counts[n] = len(calls)
    # page + creators + tools + notebooks/LLMs, whatever the page size.
    assert counts[2] == counts[12] <= 4, counts
    calls.clear()  # warm caches: creators and tools need no query at all
    assert (await org.gql(PAGE, first=12, sort="RECENT")).errors is None
    assert len(calls) <= 2, calls


async def test_clone_rate_templates_and_failed_mutation_changes_nothing(org) -> None:
    tools = org.p.tools
    tool_id = await org.tool()
    src = await org.agent("src", "Lead router", "Routes leads", tools=[tool_id])
    r = await org.gql("mutation($a: String!) { cloneAgent(agentId: $a) { id name status derivedFrom createdBy } }",
                      a=src)
    clone = r.data["cloneAgent"]
    assert clone["derivedFrom"] == src and clone["createdBy"] == org.uid("me") and clone["status"] == "draft"
    rows = await org.p.graph.query(
        "MATCH (c:Agent {id: $c})-[:DERIVED_FROM]->(s:Agent) MATCH (u:User)-[:CREATED]->(c) "
        "MATCH (c)-[:HAS_VERSION]->(:AgentVersion)-[:USES_TOOL]->(t:Tool) RETURN s.id AS s, u.id AS u, t.id AS t",
        c=clone["id"])
    assert rows == [{"s": src, "u": org.uid("me"), "t": tool_id}]
    rate = "mutation($a: String!, $s: Int!) { rateAgent(agentId: $a, stars: $s, review: \"ok\") { ratingAvg ratingCount } }"
    assert (await org.gql(rate, a=src, s=4)).data["rateAgent"] == {"ratingAvg": 4.0, "ratingCount": 1}
    assert (await org.gql(rate, a=src, s=2)).data["rateAgent"] == {"ratingAvg": 2.0, "ratingCount": 1}  # updated
    assert (await org.gql(rate, a=src, s=5, as_user="bob")).data["rateAgent"] == {"ratingAvg": 3.5, "ratingCount": 2}
    assert code(await org.gql(rate, a=src, s=9)) == "INVALID_RATING"
    assert (await org.p.agents.get(tenant_id=org.tid, agent_id=src)).rating_count == 2
    t = await org.gql("mutation($a: String!) { createTemplate(agentId: $a, name: \"Router template\") { id } }", a=src)
    tpl = t.data["createTemplate"]["id"]
    assert [x["id"] for x in (await org.gql("{ templates { id } }")).data["templates"]] == [tpl]
    made = await org.gql("mutation($t: String!) { createAgentFromTemplate(templateId: $t, name: \"Mine\") "
                         "{ name derivedFrom } }", t=tpl)
    assert made.data["createAgentFromTemplate"] == {"name": "Mine", "derivedFrom": src}
    # A failing mutation (the template's tool is gone) stores nothing.
    await tools.delete(tenant_id=org.tid, tool_id=tool_id)
    before = await org.p.graph.query("MATCH (a:Agent) WHERE a.tenant_id = $t RETURN count(a) AS n", t=org.tid)
    bad = await org.gql("mutation($t: String!) { createAgentFromTemplate(templateId: $t) { id } }", t=tpl)
    assert code(bad) == "NOT_FOUND"
    after = await org.p.graph.query("MATCH (a:Agent) WHERE a.tenant_id = $t RETURN count(a) AS n", t=org.tid)
    assert before == after
    assert code(await org.gql("mutation { setUserOrg(userId: \"x\", role: \"boss\") { id } }")) == "INVALID_ROLE"


async def test_recommendations_and_usage(org) -> None:
    good = await org.agent("good", "Lead qualifier", "Qualifies inbound sales leads from the CRM")
    meh = await org.agent("meh", "Flaky bot", "Often fails", by="bob")
    mine = await org.agent("mine", "Already mine", "I use it", by="bob")
    await org.runs(good, ok=9, failed=1)
    await org.runs(meh, ok=2, failed=8)
    await org.runs(mine, ok=10)
    for uid, aid in (("grace", good), ("bob", good), ("bob", meh), ("bob", mine), ("me", mine)):
        await org.m.org.record_use(tenant_id=org.tid, user_id=org.uid(uid), agent_id=aid)
    r = await org.gql("query($t: String) { recommendations(text: $t) { agents { id peers successRate } "
                      "similarBuilders { agentId userName message } tools { id } } }",
                      t="an agent that qualifies new sales leads")
    assert r.errors is None, r.errors
    rec = r.data["recommendations"]
    assert [a["id"] for a in rec["agents"]] == [good]  # not meh (fails), not mine (already used)
    assert rec["agents"][0]["peers"] == 2
    top = rec["similarBuilders"][0]
    assert top["agentId"] == good and top["message"] == "Grace in Sales built a similar agent, 90% success over 10 runs"
    # The precomputed path (PEER_FAVOURITE / SHOWCASES edges) gives the same answers.
    made = await org.gql("mutation { refreshRecommendations }")
    assert made.errors is None and made.data["refreshRecommendations"]["favourites"] >= 1
    again = await org.gql("query($t: String) { recommendations(text: $t) { agents { id peers } "
                          "similarBuilders { agentId } } }", t="an agent that qualifies new sales leads")
    assert again.data["recommendations"]["agents"] == [{"id": good, "peers": 2}]
    assert again.data["recommendations"]["similarBuilders"][0]["agentId"] == good
    # The builder gets the same suggestions next to its draft.
    assert org.p.builder.recommender is org.p.market.recommend
    built = await org.gql("mutation { buildAgent(intent: \"an agent that qualifies new sales leads\") "
                          "{ similarAgents { agentId message } } }")
    assert built.errors is None, built.errors
    assert isinstance(built.data["buildAgent"]["similarAgents"], list)
    # A real run by a user records USES and the Agent counters.
    run = await org.p.runs.run(tenant_id=org.tid, user_id=org.uid("eve"), agent_id=mine, input="hello")
    rows = await org.p.graph.query("MATCH (u:User {id: $u})-[r:USES]->(a:Agent {id: $a}) "
                                   "RETURN r.frequency AS f, a.runs AS runs", u=org.uid("eve"), a=mine)
    assert rows == [{"f": 1, "runs": 11}], (run.status, run.error)


async def test_card_caches_follow_tool_and_people_changes(org) -> None:
    """Tools and creators on cards are cached per process (graph._card_cache); this process's writes show at once."""
    tools = org.p.tools
    tool_id = await org.tool()
    aid = await org.agent("cached", "Cached card", "Card with a tool", tools=[tool_id])

    async def card() -> dict:
        r = await org.gql(PAGE, first=10, sort="RECENT")
        assert r.errors is None, r.errors
        return next(e["node"] for e in r.data["marketplace"]["edges"] if e["node"]["id"] == aid)

    first = await card()
    assert first["tools"] == [{"id": tool_id}]
    assert first["creator"] == {"name": "Grace", "department": "Sales", "team": "EMEA"}
    assert org.p.market.market.version_tools._cache, "the page filled the version tool cache"
    # The creator moves department and team: the next page shows it (no stale card).
    await org.m.org.upsert_user(tenant_id=org.tid, user_id=org.uid("grace"), name="Grace H.", role="operator",
                                department_id=f"{org.tid}-eng")
    await tools.delete(tenant_id=org.tid, tool_id=tool_id)
    second = await card()
    assert second["creator"] == {"name": "Grace H.", "department": "Engineering", "team": None}
    assert second["tools"] == []


async def test_rating_sort_breaks_ties_by_runs(org) -> None:
    """Equal mean stars and rating counts: the agent with more runs ranks first (RANK_SET's runs fraction)."""
    few = await org.agent("few", "Few runs", "Rated once")
    many = await org.agent("many", "Many runs", "Rated once too")
    await org.runs(few, ok=1)
    await org.runs(many, ok=3)
    for aid in (few, many):
        await org.p.market.market.rate(tenant_id=org.tid, user_id=org.uid("me"), agent_id=aid, stars=5)
    rows = await org.p.graph.query("UNWIND $ids AS x MATCH (a:Agent {id: x}) RETURN a.id AS id, a.rating_rank AS k",
                                   ids=[few, many])
    ranks = {r["id"]: r["k"] for r in rows}
    assert 5_000_001 < ranks[few] < ranks[many] < 5_000_002, ranks
    r = await org.gql(PAGE, first=2, sort="RATING")
    assert [e["node"]["id"] for e in r.data["marketplace"]["edges"]] == [many, few]


async def test_precomputed_recommendations_recheck_snapshot(org) -> None:
    """Showcase candidates are read once per refresh; an agent deprecated since is dropped, tools come per version."""
    tool_id = await org.tool()
    good = await org.agent("q1", "Lead qualifier", "Qualifies inbound sales leads from the CRM", tools=[tool_id])
    other = await org.agent("q2", "Lead scorer", "Scores inbound sales leads in the CRM", by="bob", tools=[tool_id])
    await org.runs(good, ok=9, failed=1)
    await org.runs(other, ok=5)
    assert (await org.gql("mutation { refreshRecommendations }")).errors is None
    query = ("query($t: String) { recommendations(text: $t) { similarBuilders { agentId message } "
             "tools { id name agents } } }")
    r = await org.gql(query, t="an agent that qualifies new sales leads")
    rec = r.data["recommendations"]
    assert {s["agentId"] for s in rec["similarBuilders"]} == {good, other}
    assert rec["tools"] == [{"id": tool_id, "name": "CRM", "agents": 2}]
    await org.runs(good, ok=10)  # counters move after the refresh: the message shows the current ones
    await org.gql("mutation($a: String!) { deprecateAgent(agentId: $a) { status } }", a=other)
    again = (await org.gql(query, t="an agent that qualifies new sales leads")).data["recommendations"]
    assert [s["agentId"] for s in again["similarBuilders"]] == [good]
    assert again["similarBuilders"][0]["message"] == "Grace in Sales built a similar agent, 95% success over 20 runs"
    assert again["tools"] == [{"id": tool_id, "name": "CRM", "agents": 1}]
