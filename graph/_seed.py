"""Synthetic organisation for scale tests (issue 3): ``agentgraph seed`` and ``tests/bench/bench_marketplace.py``.

Writes with batched ``UNWIND`` statements straight over Bolt (a bulk admin tool: it
bypasses the API and its per-mutation checks). Shape, deterministic for a given
``seed``:

* ``departments`` departments, ``teams_per_department`` teams each;
* users with a role (70% operator, 20% viewer, 10% admin), a department and a team;
* ``tools`` tools; agents created by random users, each using 1-3 tools, with one
  AgentVersion; descriptions drawn from a pool of task phrases (their MiniLM
  embeddings are stored when an embedder is given);
* executions: each user has a few favourite agents and runs them; each agent has a
  success probability, so success rates spread; Agent counters (runs, successes,
  latency and cost sums) and ``(:User)-[:USES {frequency}]->(:Agent)`` are aggregated
  from the executions, as the live path does;
* ratings: one in five users rates one favourite;
* then the precomputed recommendation edges (``Recommender.refresh``).
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graph._client import GraphClient
from graph._recommend import Recommender, pack_embedding

_TASKS = ("qualify inbound sales leads", "chase unpaid invoices", "triage support tickets", "summarise meeting notes",
          "answer HR policy questions", "draft marketing emails", "reconcile expense reports", "monitor server alerts",
          "review pull requests", "schedule customer demos", "translate product docs", "answer billing questions",
          "track shipment delays", "onboard new employees", "score churn risk", "prepare board reports",
          "find duplicate CRM contacts", "plan social media posts", "check contract clauses", "forecast pipeline")
_FLAVOURS = ("for the EMEA team", "with CRM lookups", "using the knowledge base", "every morning", "on demand",
             "for key accounts", "in plain English", "with weekly summaries")
_ROLES = ("operator",) * 7 + ("viewer",) * 2 + ("admin",)


@dataclass
class SeedPlan:
    """Sizes of the synthetic organisation (ids are prefixed with ``prefix``)."""

    users: int = 50
    agents: int = 200
    executions: int = 2000
    departments: int = 20
    teams_per_department: int = 5
    tools: int = 50
    favourites: int = 5
    tenant_id: str = "seed"
    prefix: str = "seed"
    seed: int = 42
    batch: int = 5000


@dataclass
class SeedReport:
    """Rows written per kind and the seconds each step took."""

    rows: dict[str, int]
    seconds: dict[str, float]

    @property
    def total_rows(self) -> int:
        """Nodes and relationships written."""
        return sum(self.rows.values())

    @property
    def total_s(self) -> float:
        """Wall time of the whole seed."""
        return sum(self.seconds.values())


async def _batched(client: GraphClient, cypher: str, rows: list[dict[str, Any]], batch: int,
                   **params: Any) -> None:
    for i in range(0, len(rows), batch):
        await client.write(cypher, rows=rows[i:i + batch], **params)


def _spec_yaml(name: str, description: str, tools: list[str]) -> str:
    tool_lines = "".join(f"- tool_id: {t}\n" for t in tools)
    return (f"spec_version: '1'\nname: {name}\ndescription: {description}\nsystem_prompt: You {description}.\n"
            f"agent_type: react\ntools:\n{tool_lines or '[]'}")


async def seed(client: GraphClient, plan: SeedPlan, *, embed: Callable[[list[str]], Any] | None = None,
               progress: Callable[[str, int, float], None] | None = None) -> SeedReport:
    """Write the organisation of ``plan`` (see module docstring); returns counts and timings.

    Args:
        embed: ``async embed(texts) -> vectors`` for description embeddings (optional).
        progress: ``progress(step, rows, seconds)`` after each step (the CLI prints rows/s).
    """
    rnd, p, t = random.Random(plan.seed), plan.prefix, plan.tenant_id
    report = SeedReport(rows={}, seconds={})
    ts = "2026-01-01T00:00:00.000+00:00"

    async def step(name: str, cypher: str, rows: list[dict[str, Any]]) -> None:
        started = time.perf_counter()
        await _batched(client, cypher, rows, plan.batch, tid=t, ts=ts)
        report.rows[name], report.seconds[name] = len(rows), time.perf_counter() - started
        if progress:
            progress(name, len(rows), report.seconds[name])

    await client.write("MERGE (t:Tenant {id: $t}) ON CREATE SET t.name = $t, t.created_at = $ts", t=t, ts=ts)
    deps = [{"id": f"{p}-d{i}", "name": f"Department {i}"} for i in range(plan.departments)]
    await step("departments", "UNWIND $rows AS r CREATE (:Department {id: r.id, tenant_id: $tid, name: r.name, "
               "created_at: $ts})", deps)
    teams = [{"id": f"{d['id']}-t{j}", "name": f"{d['name']} team {j}", "dep": d["id"]}
             for d in deps for j in range(plan.teams_per_department)]
    await step("teams", "UNWIND $rows AS r MATCH (d:Department {id: r.dep}) CREATE (tm:Team {id: r.id, "
               "tenant_id: $tid, name: r.name, department_id: r.dep, created_at: $ts})-[:PART_OF]->(d)",
               teams)
    users = []
    for i in range(plan.users):
        team = rnd.choice(teams)
        users.append({"id": f"{p}-u{i}", "name": f"User {i}", "role": rnd.choice(_ROLES), "dep": team["dep"],
                      "team": team["id"]})
    await step("users", """
        UNWIND $rows AS r MATCH (d:Department {id: r.dep}) MATCH (tm:Team {id: r.team})
        CREATE (u:User {id: r.id, tenant_id: $tid, name: r.name, email: r.id + '@seed.local', role: r.role,
                        department_id: r.dep, team_id: r.team, created_at: $ts})
        CREATE (u)-[:BELONGS_TO]->(d) CREATE (u)-[:MEMBER_OF]->(tm)""", users)
    tools = [{"id": f"{p}-tool{i}", "name": f"Tool {i}"} for i in range(plan.tools)]
    await step("tools", "UNWIND $rows AS r CREATE (:Tool {id: r.id, tenant_id: $tid, name: r.name, description: "
               "r.name, kind: 'openapi', base_url: 'http://127.0.0.1:9', status: 'active', created_at: $ts, "
               "health_status: 'up'})", tools)
    pool = sorted({f"{a} {b}" for a in _TASKS for b in _FLAVOURS})
    vectors = dict(zip(pool, await embed([f"Agent. {d}" for d in pool]))) if embed else {}
    agents, success_p = [], []
    for i in range(plan.agents):
        desc, creator = rnd.choice(pool), rnd.randrange(plan.users)
        picked = [x["id"] for x in rnd.sample(tools, rnd.randint(1, min(3, len(tools))))]
        name = f"{desc.split(' ')[0].capitalize()} agent {i}"
        agents.append({"id": f"{p}-a{i}", "name": name, "description": desc, "creator": users[creator]["id"],
                       "tools": picked, "yaml": _spec_yaml(name, desc, picked),
                       "emb": pack_embedding(vectors[desc]) if desc in vectors else None,
                       "created_at": f"2026-01-{1 + i % 28:02d}T00:00:{i % 60:02d}.{i % 1000:03d}+00:00"})
        success_p.append(rnd.choice((0.5, 0.7, 0.85, 0.95, 0.99)))
    # Executions first (in memory) so the agents' counters and USES edges can be aggregated.
    favs = {u: rnd.sample(range(plan.agents), min(plan.favourites, plan.agents)) for u in range(plan.users)}
    runs, oks, lat, cost = Counter(), Counter(), defaultdict(float), defaultdict(float)
    uses: Counter[tuple[int, int]] = Counter()
    execs = []
    for n in range(plan.executions):
        u = rnd.randrange(plan.users)
        a = rnd.choice(favs[u])
        ok = rnd.random() < success_p[a]
        latency, c = round(rnd.lognormvariate(6.5, 0.6), 1), round(rnd.uniform(0.0001, 0.01), 6)
        runs[a] += 1
        oks[a] += ok
        lat[a] += latency
        cost[a] += c
        uses[(u, a)] += 1
        execs.append({"id": f"{p}-e{n}", "aid": agents[a]["id"], "status": "succeeded" if ok else "failed",
                      "lat": latency, "cost": c, "uid": users[u]["id"]})
    ratings = []
    for u in range(0, plan.users, 5):
        a = rnd.choice(favs[u])
        ratings.append({"id": f"{agents[a]['id']}:{users[u]['id']}", "aid": agents[a]["id"], "uid": users[u]["id"],
                        "stars": rnd.choice((3, 4, 4, 5, 5))})
    rsum, rcount = Counter(), Counter()
    for r in ratings:
        rsum[r["aid"]] += r["stars"]
        rcount[r["aid"]] += 1
    for i, a in enumerate(agents):
        a.update(runs=runs[i], ok=oks[i], lat=lat[i], cost=cost[i], rsum=rsum[a["id"]], rcount=rcount[a["id"]],
                 srate=oks[i] / runs[i] if runs[i] else None,
                 ravg=rsum[a["id"]] / rcount[a["id"]] if rcount[a["id"]] else None)
        # Rank keys as graph._marketplace.RANK_SET computes them.
        a.update(srank=a["srate"] * 1.0e7 + runs[i] if runs[i] else None,
                 rrank=a["ravg"] * 1.0e6 + rcount[a["id"]] + runs[i] / (runs[i] + 1) if rcount[a["id"]] else None)
    await step("agents", """
        UNWIND $rows AS r MATCH (u:User {id: r.creator})
        CREATE (a:Agent {id: r.id, tenant_id: $tid, name: r.name, description: r.description, agent_type: 'react',
                         status: 'active', latest_version: 1, active_version: 1, created_at: r.created_at,
                         updated_at: r.created_at, created_by: r.creator, runs: r.runs, successes: r.ok,
                         latency_sum_ms: r.lat, cost_sum_usd: r.cost, success_rate: r.srate, rating_sum: r.rsum,
                         rating_count: r.rcount, rating_avg: r.ravg, success_rank: r.srank,
                         rating_rank: r.rrank, embedding_b64: r.emb})
        CREATE (v:AgentVersion {id: r.id + ':v1', tenant_id: $tid, agent_id: r.id, version: 1, spec_yaml: r.yaml,
                                spec_hash: '', created_at: r.created_at, created_by: r.creator, tool_ids: r.tools})
        CREATE (a)-[:HAS_VERSION]->(v) CREATE (u)-[:CREATED {at: r.created_at}]->(a)
        CREATE (u)-[:COLLABORATES_ON {role: 'owner'}]->(a)
        WITH v, r UNWIND r.tools AS tid MATCH (tool:Tool {id: tid}) CREATE (v)-[:USES_TOOL]->(tool)""",
               agents)
    await step("executions", """
        UNWIND $rows AS r MATCH (v:AgentVersion {id: r.aid + ':v1'})
        CREATE (e:Execution {id: r.id, tenant_id: $tid, agent_id: r.aid, version: 1, thread_id: r.id,
                             status: r.status, input: 'seed', started_at: $ts, ended_at: $ts, latency_ms: r.lat,
                             prompt_tokens: 0, completion_tokens: 0, cost_usd: r.cost, triggered_by: r.uid,
                             spans_json: '[]'})
        CREATE (e)-[:OF_VERSION]->(v)""", execs)
    use_rows = [{"uid": users[u]["id"], "aid": agents[a]["id"], "f": f} for (u, a), f in uses.items()]
    await step("uses", "UNWIND $rows AS r MATCH (u:User {id: r.uid}) MATCH (a:Agent {id: r.aid}) "
               "CREATE (u)-[:USES {frequency: r.f, last_used: $ts}]->(a)", use_rows)
    await step("ratings", """
        UNWIND $rows AS r MATCH (u:User {id: r.uid}) MATCH (a:Agent {id: r.aid})
        CREATE (rt:Rating {id: r.id, tenant_id: $tid, agent_id: r.aid, user_id: r.uid, stars: r.stars,
                           review: '', created_at: $ts, updated_at: $ts})
        CREATE (u)-[:RATED]->(rt)-[:OF_AGENT]->(a)""", ratings)
    started = time.perf_counter()
    made = await Recommender(client).refresh(tenant_id=t)  # precomputed peer favourites and showcases
    report.rows["recommendations"], report.seconds["recommendations"] = sum(made.values()), time.perf_counter() - started
    if progress:
        progress("recommendations", sum(made.values()), report.seconds["recommendations"])
    return report
