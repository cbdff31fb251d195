"""``agentgraph seed`` at a small size (50 users, 200 agents) on the session's real ArcadeDB."""

from __future__ import annotations

from graph import GraphClient, MarketplaceRepository, Recommender, new_id


async def test_seed_small_organisation_is_consistent(services) -> None:
    from agentgraph.cli._seed import run_seed

    tenant = new_id("seedt")
    lines: list[str] = []
    report = await run_seed(services, users=50, agents=200, executions=2000, tenant=tenant, prefix=tenant, batch=500,
                            embed=False, echo=lines.append)
    assert report.rows["users"] == 50 and report.rows["agents"] == 200 and report.rows["executions"] == 2000
    assert any(line.strip().startswith("executions:") and "rows/s" in line for line in lines), lines
    g = services.graph
    client = GraphClient(services.graph_uri, g.user, g.password, g.database, backend="arcadedb",
                         http_url=f"http://127.0.0.1:{g.http_port}")
    try:
        counts = (await client.query(
            """
            MATCH (a:Agent) WHERE a.tenant_id = $t
            RETURN count(a) AS agents, sum(a.runs) AS runs, sum(a.rating_count) AS ratings
            """, t=tenant))[0]
        assert counts == {"agents": 200, "runs": 2000, "ratings": 10}  # one in five users rates
        edges = (await client.query(
            "MATCH (u:User)-[r:USES]->(a:Agent) WHERE u.tenant_id = $t RETURN sum(r.frequency) AS f", t=tenant))[0]
        assert edges["f"] == 2000
        per_agent = await client.query(
            "MATCH (e:Execution) WHERE e.tenant_id = $t WITH e.agent_id AS aid, count(e) AS n "
            "MATCH (a:Agent {id: aid}) WHERE a.runs <> n RETURN aid", t=tenant)
        assert per_agent == []  # denormalised counters agree with the Executions
        market = MarketplaceRepository(client)
        page = await market.page(tenant_id=tenant, first=50, sort="POPULAR")
        runs = [a.runs for a, _ in page.rows]
        assert len(runs) == 50 and runs == sorted(runs, reverse=True) and page.has_next
        again = await market.page(tenant_id=tenant, first=50, sort="POPULAR")  # served through the range-index floor
        assert [a.id for a, _ in again.rows] == [a.id for a, _ in page.rows]
        nxt = await market.page(tenant_id=tenant, first=50, sort="POPULAR", after=page.rows[-1][1])
        assert not {a.id for a, _ in nxt.rows} & {a.id for a, _ in page.rows}
        users = await client.query("MATCH (u:User) WHERE u.tenant_id = $t RETURN u.id AS id", t=tenant)
        recs = [await Recommender(client).agents_for_user(tenant_id=tenant, user_id=u["id"], min_success=0.5,
                                                           min_runs=1) for u in users[:10]]
        assert any(recs)
    finally:
        await client.close()
