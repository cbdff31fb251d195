"""Benchmark (issue 6, figure 1): platform overhead per run against the bare LangGraph graph.

Same process, same event loop, same checkpointer (``AsyncValkeySaver`` on the same
redis-server), same instant stub LLM (one tool call, then an answer) and the same
MCP tool (``demo-crm`` ``searchLeads``, served by the platform at
``/tools/demo-crm/mcp`` and calling the demo CRM over HTTP):

* ``bare``      - the agent's LangGraph graph compiled once, its MCP session opened
  once, ``graph.ainvoke`` per run on a new thread (what a hand-written LangGraph
  app does);
* ``runner``    - ``AgentRunner.run`` (binds the runner's shared compiled graph to the
  run and takes pooled tool sessions per run; no Execution record);
* ``platform``  - ``RunService.run`` inline: version lookup, Execution create (written
  while the graph runs) and finish in the graph (compare-and-set with the Agent's
  counters and the user's USES edge in one statement), run events on Redis, spans
  collected and stored, metrics (what ``runAgent`` does without the HTTP/GraphQL layer).

The three are interleaved run by run so drift on the shared machine hits all alike.
Prints p50/p95 per variant and the ratios ``platform_p50 / bare_p50`` (target
<= 1.25) and ``runner_p50 / bare_p50``, then one JSON line.

Usage: ``python tests/bench/bench_overhead_ratio.py [--runs 100]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
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


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` in [0, 100]."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def stub_llm() -> FunctionLLM:
    """Instant model: call ``searchLeads`` once, then answer from the tool result."""

    def fn(messages, info):
        if messages[-1].get("role") == "tool":
            return {"content": "Found: " + str(messages[-1].get("content"))[:80]}
        return {"content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "searchLeads", "arguments": json.dumps({"q": "Ada"})}}]}

    return FunctionLLM(fn)


async def bench(settings: Settings, runs: int) -> dict:
    import uvicorn
    from langchain_core.messages import HumanMessage

    from api import create_app
    from runners import RunUsage

    app = create_app(settings, llm=stub_llm(), with_ui=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.api.port, log_level="warning",
                                           lifespan="on"))
    serve = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    p = app.state.platform
    spec = AgentSpec(name="Bench", description="CRM lookups", system_prompt="Use the CRM.",
                     tools=[{"tool_id": "demo-crm", "operations": ["searchLeads"]}])
    agent, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id="bench-overhead", name="Bench", description="d",
                                     agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=["demo-crm"],
                                     created_by=p.user_id)
    runner = p.runs.runner
    urls = {"demo-crm": p.registry.mcp_url("demo-crm")}
    async with AsyncExitStack() as stack:
        defs, routes, _notes = await runner._open_tools(spec, urls, stack, p.tenant_id)
        graph = runner._compile(spec, defs, routes, RunUsage())

        async def bare(i: int) -> None:
            cfg = {"configurable": {"thread_id": f"bare:{i}"}, "recursion_limit": 20}
            state = await graph.ainvoke({"messages": [HumanMessage(content="Find lead Ada")], "steps": 0}, cfg)
            assert "Found" in state["messages"][-1].content

        async def via_runner(i: int) -> None:
            out = await runner.run(spec, "Find lead Ada", thread_key=f"runner:{i}", tool_urls=urls,
                                   tenant_id=p.tenant_id)
            assert "Found" in out.output

        async def via_platform(i: int) -> None:
            e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent.id, input="Find lead Ada")
            assert e.status == "succeeded", (e.error_code, e.error)

        variants = {"bare": bare, "runner": via_runner, "platform": via_platform}
        for fn in variants.values():  # warm-up: imports, pools, first checkpoint keys
            for i in range(3):
                await fn(-1 - i)
        times: dict[str, list[float]] = {k: [] for k in variants}
        for i in range(runs):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                await fn(i)
                times[name].append((time.perf_counter() - t0) * 1000)
    server.should_exit = True
    await serve
    return times


def main() -> None:
    """Run the benchmark and print a table plus one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    settings = Settings(data_dir=data, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"port": free_port()}, llm={"scripted": True},
                        api={"port": free_port()}, auth={"required": False}, executor="inline")
    sup = Supervisor(data / "logs")
    try:
        for spec in (graph_service(settings, heap_mb=512), redis_service(settings), demo_crm_service(settings)):
            sup.start(spec)
        times = asyncio.run(bench(settings, args.runs))
    finally:
        sup.stop_all()
    summary = {k: {"p50_ms": round(pct(v, 50), 2), "p95_ms": round(pct(v, 95), 2)} for k, v in times.items()}
    ratio = summary["platform"]["p50_ms"] / summary["bare"]["p50_ms"]
    print(f"runs: {args.runs} per variant, interleaved (instant stub LLM, 1 MCP tool call to the demo CRM)")
    print(f"{'variant':<10} {'p50 ms':>9} {'p95 ms':>9}")
    for k, v in summary.items():
        print(f"{k:<10} {v['p50_ms']:>9.2f} {v['p95_ms']:>9.2f}")
    print(f"ratio platform_p50 / bare_p50: {ratio:.2f} (target <= 1.25)")
    print(f"ratio runner_p50 / bare_p50:   {summary['runner']['p50_ms'] / summary['bare']['p50_ms']:.2f}")
    print(json.dumps({"bench": "overhead_ratio", "runs": args.runs, **summary, "ratio_platform_bare_p50": round(ratio, 3)}))


if __name__ == "__main__":
    main()
