"""Benchmark: marketplace page, recommendations and agent detail at organisation scale (issue 3).

Prints p50/p95 (ms) of

* the marketplace first page: 50 agents with creator, tools and rating, i.e. the page
  query plus the creator and tool DataLoader batches (run concurrently, as strawberry
  dispatches them), for each sort order;
* the recommendation queries: ``agents_for_user`` and ``similar_builders`` (the Cypher
  candidate query plus cosine ranking; the MiniLM embedding of the query text is
  timed separately) and ``tools_for``;
* agent detail: agent, creator, tools, notebooks/LLMs, versions, ratings and run stats.

Targets (issue 3): page p95 <= 30 ms, recommendations p95 <= 20 ms. Figures are for
the graph size printed with them, on the embedded ArcadeDB over Bolt.

    # against a running server already seeded with `agentgraph seed --tenant bench --prefix bench ...`
    python tests/bench/bench_marketplace.py --bolt-port 7687 --http-port 2480 --tenant bench
    # or start a throw-away embedded server and seed it first
    python tests/bench/bench_marketplace.py --seed-users 2000 --seed-agents 10000 --seed-executions 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(q / 100 * len(ordered) + 0.5)) - 1))]


async def timed(label: str, fn, n: int, warmup: int = 3) -> None:
    """Run ``fn()`` ``warmup`` + ``n`` times; print the first (cold) call and p50/p95 of the rest."""
    cold_started = time.perf_counter()
    await fn()
    cold = (time.perf_counter() - cold_started) * 1000
    for _ in range(warmup - 1):
        await fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<44} p50 {statistics.median(samples):7.1f} ms   p95 {pct(samples, 95):7.1f} ms   "
          f"(cold {cold:7.1f} ms, n={n})", flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bolt-port", type=int)
    ap.add_argument("--http-port", type=int)
    ap.add_argument("--password", default="agentgraph-local")
    ap.add_argument("--tenant", default="bench")
    ap.add_argument("--prefix", default="bench")
    ap.add_argument("--seed-users", type=int, default=0)
    ap.add_argument("--seed-agents", type=int, default=0)
    ap.add_argument("--seed-executions", type=int, default=0)
    ap.add_argument("-n", type=int, default=50, help="timed iterations per figure")
    args = ap.parse_args()

    from graph import GraphClient, MarketplaceRepository, Recommender, setup_schema
    from graph._seed import SeedPlan, seed
    from graph._card_cache import version_id
    from memory import MiniLMEmbedder

    sup = None
    if args.bolt_port is None:
        from agentgraph.settings import Settings
        from agentgraph.stack import graph_service
        from agentgraph.supervisor import Supervisor, free_port

        tmp = Path(tempfile.mkdtemp(prefix="bench-market-"))
        settings = Settings(data_dir=tmp, graph={"bolt_port": free_port(), "http_port": free_port()})
        sup = Supervisor(tmp / "logs")
        sup.start(graph_service(settings, heap_mb=1536))
        args.bolt_port, args.http_port = settings.graph.bolt_port, settings.graph.http_port
    client = GraphClient(f"bolt://127.0.0.1:{args.bolt_port}", "root", args.password, "agentgraph",
                         backend="arcadedb", http_url=f"http://127.0.0.1:{args.http_port}")
    embedder = MiniLMEmbedder()
    try:
        await setup_schema(client)
        if args.seed_agents:
            def progress(step: str, rows: int, s: float) -> None:
                print(f"seed {step:>11}: {rows:>9,} rows {s:7.1f} s {rows / max(s, 1e-9):9,.0f} rows/s", flush=True)

            await seed(client, SeedPlan(users=args.seed_users or max(1, args.seed_agents // 5), agents=args.seed_agents,
                                        executions=args.seed_executions, tenant_id=args.tenant, prefix=args.prefix),
                       embed=embedder.embed, progress=progress)
        t = args.tenant
        # Executions are counted through the Agent counters (kept equal by the finish transaction;
        # tests/integration/test_seed.py checks it): counting 1M Execution nodes takes minutes.
        size = (await client.query(
            "MATCH (a:Agent) WHERE a.tenant_id = $t WITH count(a) AS agents, sum(a.runs) AS executions "
            "MATCH (u:User) WHERE u.tenant_id = $t RETURN agents, executions, count(u) AS users", t=t))[0]
        print(f"graph size (tenant {t}): {size['users']:,} users, {size['agents']:,} agents, "
              f"{size['executions']:,} executions", flush=True)
        market = MarketplaceRepository(client)
        rec = Recommender(client, embedder, market.version_tools)  # one cache, as in the API
        rnd = random.Random(1)
        users = [r["id"] for r in await client.query(
            "MATCH (u:User)-[:BELONGS_TO]->(:Department) WHERE u.tenant_id = $t RETURN u.id AS id LIMIT 500", t=t)]

        async def related(p) -> None:
            """What the API's DataLoaders run for a page: creators by agent id, tools by version id."""
            ids = [a.id for a, _ in p.rows]
            vids = [version_id(a.id, a.active_version or a.latest_version) for a, _ in p.rows]
            await asyncio.gather(market.creators(tenant_id=t, agent_ids=ids),
                                 market.tools_by_version(tenant_id=t, version_ids=vids))

        for sort in ("POPULAR", "RATING", "RECENT", "SUCCESS_RATE"):
            async def page(sort: str = sort) -> None:
                await related(await market.page(tenant_id=t, first=50, sort=sort))

            await timed(f"marketplace first page (50, {sort})", page, args.n)

        async def page_cold() -> None:  # tool lists and creator cards not cached: what the first visitor pays
            market.version_tools.clear()
            market.creator_cards.clear()
            await related(await market.page(tenant_id=t, first=50, sort="POPULAR"))

        await timed("  POPULAR, card caches cleared each time", page_cold, args.n)

        first = await market.page(tenant_id=t, first=50, sort="POPULAR")

        async def second_page() -> None:
            await related(await market.page(tenant_id=t, first=50, sort="POPULAR", after=first.rows[-1][1]))

        await timed("marketplace second page (50, POPULAR)", second_page, args.n)

        async def for_user() -> None:
            await rec.agents_for_user(tenant_id=t, user_id=rnd.choice(users))

        await timed("recommend: agents for my role/department", for_user, args.n)
        text = "an agent that qualifies inbound sales leads"

        async def embed_only() -> None:
            await embedder.embed([text])

        await timed("  (MiniLM embedding of the draft text)", embed_only, args.n)
        vec = (await embedder.embed([text]))[0]

        class _Fixed:  # the query vector precomputed: times the graph part only
            async def embed(self, texts):
                return [vec for _ in texts] if texts == [text] else await embedder.embed(texts)

        graph_rec = Recommender(client, _Fixed(), market.version_tools)

        async def similar_cold() -> None:  # the department's showcase read again: once per refresh in the API
            graph_rec._showcases.clear()
            await graph_rec.similar_builders(tenant_id=t, user_id=rnd.choice(users), text=text)

        await timed("  colleagues, showcase cache cleared each time", similar_cold, args.n)
        for u in users:  # every department's showcase and its versions' tools read once, as in a served API
            await graph_rec.tools_for(tenant_id=t, user_id=u, text=text)

        async def similar() -> None:
            await graph_rec.similar_builders(tenant_id=t, user_id=rnd.choice(users), text=text)

        await timed("recommend: colleagues with similar agents", similar, args.n)

        async def tools() -> None:
            await graph_rec.tools_for(tenant_id=t, user_id=rnd.choice(users), text=text)

        await timed("recommend: tools of similar agents", tools, args.n)
        agent_ids = [a.id for a, _ in first.rows]

        async def detail() -> None:
            aid = rnd.choice(agent_ids)
            await asyncio.gather(
                market.agents_by_ids(tenant_id=t, agent_ids=[aid]), market.creators(tenant_id=t, agent_ids=[aid]),
                market.tools_by_agent(tenant_id=t, agent_ids=[aid]),
                market.resources_by_agent(tenant_id=t, agent_ids=[aid]),
                client.query("MATCH (a:Agent {id: $a})-[:HAS_VERSION]->(v:AgentVersion) RETURN v.version AS n", a=aid),
                market.ratings(tenant_id=t, agent_id=aid), market.run_stats(tenant_id=t, agent_id=aid))

        await timed("agent detail (all parts, concurrent)", detail, args.n)
    finally:
        await client.close()
        if sup is not None:
            sup.stop_all()


if __name__ == "__main__":
    asyncio.run(main())
