"""Benchmark: one run's platform overhead with a scripted LLM.

Starts the real embedded services (ArcadeDB, redis-server, demo CRM) and the
platform on free ports, saves a CRM agent, then performs N GraphQL ``runAgent``
calls. For each run:

* ``wall_ms``      - client-observed time of the GraphQL mutation;
* ``llm_ms``       - sum of ``llm.call`` span durations (scripted LLM: ~0);
* ``tool_ms``      - sum of ``tool.call`` span durations (MCP -> demo CRM over HTTP);
* ``overhead_ms``  - ``wall_ms - llm_ms - tool_ms``: graph writes, checkpoints,
  MCP session set-up, LangGraph, GraphQL.

Baseline measured in the same run: a direct HTTP GET of the CRM's ``/leads?q=Ada``
(what the tool call does without MCP), so ratios are machine-independent.

Usage: ``python tests/bench/bench_run_overhead.py [--runs 30]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402

from agentgraph.settings import Settings  # noqa: E402
from agentgraph.spec import AgentSpec  # noqa: E402
from agentgraph.stack import demo_crm_service, graph_service, redis_service  # noqa: E402
from agentgraph.supervisor import Supervisor, free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` in [0, 100]."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def main() -> None:
    """Run the benchmark and print a table plus one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    settings = Settings(data_dir=data, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"port": free_port()}, llm={"scripted": True},
                        api={"port": free_port()})
    sup = Supervisor(data / "logs")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest import _ThreadedServer  # the same in-thread uvicorn the tests use

    from api import create_app

    try:
        for spec in (graph_service(settings, heap_mb=512), redis_service(settings), demo_crm_service(settings)):
            sup.start(spec)
        server = _ThreadedServer(create_app(settings, with_ui=False), settings.api.port)
        server.start()
        client = httpx.Client(base_url=settings.api.base_url, timeout=120)

        def gql(q: str, **v):
            body = client.post("/graphql", json={"query": q, "variables": v}).json()
            assert "errors" not in body, body
            return body["data"]

        spec = AgentSpec(name="Bench", description="CRM lookups", system_prompt="Use the CRM.",
                         tools=[{"tool_id": "demo-crm", "operations": ["searchLeads"]}])
        agent = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=spec.to_yaml())["saveAgent"]
        run_q = ("mutation($a: String!, $i: String!) { runAgent(agentId: $a, input: $i) { status latencyMs "
                 "spans { name durationMs } } }")
        gql(run_q, a=agent["id"], i="Find lead Ada Lovelace")  # warm-up (imports, pools)
        rows = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            e = gql(run_q, a=agent["id"], i="Find lead Ada Lovelace")["runAgent"]
            wall = (time.perf_counter() - t0) * 1000
            assert e["status"] == "succeeded"
            llm = sum(s["durationMs"] for s in e["spans"] if s["name"] == "llm.call")
            tool = sum(s["durationMs"] for s in e["spans"] if s["name"] == "tool.call")
            rows.append({"wall_ms": wall, "run_ms": e["latencyMs"], "llm_ms": llm, "tool_ms": tool,
                         "overhead_ms": wall - llm - tool})
        base = []
        with httpx.Client(base_url=settings.demo_crm_url) as crm:  # pooled, like the MCP host's client
            crm.get("/leads", params={"q": "Ada"})
            for _ in range(args.runs):
                t0 = time.perf_counter()
                crm.get("/leads", params={"q": "Ada"})
                base.append((time.perf_counter() - t0) * 1000)
        client.close()
        server.stop()
    finally:
        sup.stop_all()

    summary = {k: {"p50": round(pct([r[k] for r in rows], 50), 2), "p95": round(pct([r[k] for r in rows], 95), 2)}
               for k in rows[0]}
    base_p50 = statistics.median(base)
    print(f"runs: {args.runs} (scripted LLM, 1 MCP tool call per run)")
    print(f"{'metric':<12} {'p50 ms':>10} {'p95 ms':>10}")
    for k, v in summary.items():
        print(f"{k:<12} {v['p50']:>10.2f} {v['p95']:>10.2f}")
    print(f"baseline direct CRM GET p50: {base_p50:.2f} ms")
    print(f"ratio overhead_p50 / baseline_p50: {summary['overhead_ms']['p50'] / base_p50:.1f}x")
    print(f"ratio tool_call_p50 / baseline_p50: {summary['tool_ms']['p50'] / base_p50:.1f}x")
    print(json.dumps({"bench": "run_overhead", "runs": args.runs, **summary, "baseline_crm_get_p50_ms": round(base_p50, 2)}))


if __name__ == "__main__":
    main()
