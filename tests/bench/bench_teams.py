"""Benchmark: multi-agent teams - child-run overhead and parallel speed-up (issue 7).

Starts the real embedded services (ArcadeDB, redis-server, demo CRM) and an in-process
platform whose LLM answers after a fixed ``--latency-ms`` (a FunctionLLM that sleeps,
standing in for a provider). Measured in the same run, median of ``--runs``:

* ``single_ms``     - one member agent run directly (the baseline);
* ``sequential_ms`` - a sequential team of ``--members`` members (each a child run);
* ``parallel_ms``   - a parallel team of the same members (``aggregate: concat``);
* ``workflow_ms``   - a workflow of ``--members`` llm steps (no child runs).

Ratios: ``sequential / (members * single)`` is the cost of running members as nested
child runs (1.0 = free); ``parallel / single`` is ~1 when members really run
concurrently (``members`` when they would not).

Usage: ``python tests/bench/bench_teams.py [--runs 5] [--members 3] [--latency-ms 200]``
"""

from __future__ import annotations

import argparse
import asyncio
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

from agentgraph.settings import Settings  # noqa: E402
from agentgraph.spec import AgentSpec  # noqa: E402
from agentgraph.stack import demo_crm_service, graph_service, redis_service  # noqa: E402
from agentgraph.supervisor import Supervisor, free_port  # noqa: E402
from agentgraph.testing import FunctionLLM  # noqa: E402


async def bench(settings: Settings, runs: int, members: int, latency_s: float) -> dict[str, float]:
    """Median wall times (ms) of each shape (module docstring)."""
    from api._platform import Platform

    p = await Platform.start(settings)
    try:
        async def answer(messages, info):
            await asyncio.sleep(latency_s)
            return {"content": "ok"}

        p.runs.runner.llm = FunctionLLM(answer)

        async def save(spec: AgentSpec, aid: str) -> str:
            await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                                  agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=[],
                                  created_by=p.user_id, publish=True)
            return aid

        ids = [await save(AgentSpec(name=f"m{i}", description="member", system_prompt="answer",
                                    memory={"short_term": False}), f"bench-m{i}") for i in range(members)]
        base = {"description": "d", "system_prompt": "p", "memory": {"short_term": False}}
        shapes = {
            "single_ms": ids[0],
            "sequential_ms": await save(AgentSpec.parse({**base, "name": "seq", "agent_type": "team", "team": {
                "pattern": "sequential", "members": ids}}), "bench-seq"),
            "parallel_ms": await save(AgentSpec.parse({**base, "name": "par", "agent_type": "team", "team": {
                "pattern": "parallel", "members": ids}}), "bench-par"),
            "workflow_ms": await save(AgentSpec.parse({**base, "name": "wf", "agent_type": "workflow", "workflow": {
                "steps": [{"id": f"s{i}"} for i in range(members)],
                "edges": [{"from": f"s{i}", "to": f"s{i + 1}"} for i in range(members - 1)]}}), "bench-wf"),
        }
        out: dict[str, float] = {}
        for name, aid in shapes.items():
            times = []
            for _ in range(runs + 1):  # the first run warms connections and is dropped
                t = time.perf_counter()
                e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="go")
                assert e.status == "succeeded", e.error
                times.append((time.perf_counter() - t) * 1000)
            out[name] = statistics.median(times[1:])
        return out
    finally:
        await p.close()


def main() -> None:
    """Run the benchmark and print a table plus one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=200.0)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    settings = Settings(data_dir=data, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"port": free_port(), "register_on_start": False},
                        llm={"scripted": True}, api={"port": free_port()})
    sup = Supervisor(data / "logs")
    try:
        for spec in (graph_service(settings, heap_mb=512), redis_service(settings), demo_crm_service(settings)):
            sup.start(spec)
        r = asyncio.run(bench(settings, args.runs, args.members, args.latency_ms / 1000))
    finally:
        sup.stop_all()
    n = args.members
    r["child_overhead_ms"] = (r["sequential_ms"] - n * r["single_ms"]) / n
    r["sequential_vs_n_single"] = r["sequential_ms"] / (n * r["single_ms"])
    r["parallel_vs_single"] = r["parallel_ms"] / r["single_ms"]
    r["workflow_vs_n_llm_calls"] = r["workflow_ms"] / (n * args.latency_ms)
    print(f"members={n} latency={args.latency_ms:g} ms runs={args.runs}")
    for k, v in r.items():
        print(f"  {k:26s} {v:9.2f}")
    print(json.dumps({"bench": "teams", "members": n, "latency_ms": args.latency_ms,
                      **{k: round(v, 3) for k, v in r.items()}}))


if __name__ == "__main__":
    main()
