"""Benchmark (issue 6, figure 2): sustained runs per second through the queue, 0 lost.

Starts the real services (ArcadeDB, redis-server, demo CRM), the platform API in this
process (it serves the MCP tools; ``executor='queue'``) and ``--workers`` real
``agentgraph worker`` processes. Each run: the scripted LLM (instant) calls the demo
CRM's ``searchLeads`` once over MCP, then answers. The script submits ``--runs`` runs
through ``RunService.run`` (what ``runAgent`` does, without HTTP) with 16 submitters
and waits until every run has ended.

Prints: submit rate; sustained throughput (first submit -> last run ended); runs
lost (submitted but not ended: must be 0) and runs per status; run latency p50/p95
from the Executions; and *where the time goes*: CPU seconds per run of each process
(API/submitter, workers, ArcadeDB, Redis, demo CRM) measured with psutil over the
same interval, against the machine's wall-clock capacity (cores x seconds).

Baseline in the same run (``--bare-runs``, before the workers start): the same graph with
no platform at all, compiled once, invoked concurrently in this process; its CPU cost per
run gives the most runs/s these cores could sustain if the platform cost nothing.

Usage: ``python tests/bench/bench_throughput.py [--runs 2000] [--workers 2] [--concurrency 16] [--bare-runs 300]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402

from agentgraph.cli._up import _CHILD_ENV_DEFAULTS, settings_env  # noqa: E402
from agentgraph.settings import Settings  # noqa: E402
from agentgraph.spec import AgentSpec  # noqa: E402
from agentgraph.stack import demo_crm_service, graph_service, redis_service  # noqa: E402
from agentgraph.supervisor import Supervisor, free_port  # noqa: E402

TERMINAL = {"succeeded", "failed", "cancelled", "timed_out"}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` in [0, 100]."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))] if s else float("nan")


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (and their children) so far."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def bare_ceiling(p, spec: AgentSpec, runs: int, *, concurrency: int) -> dict:
    """Baseline: the same agent graph with no platform at all, as fast as this one process goes.

    The agent's LangGraph graph compiled once with its checkpointer, its MCP session opened
    once, ``ainvoke`` on a new thread per run with ``concurrency`` runs in flight; the tool
    is served by this process and calls the demo CRM, as in the measured phase. Returns
    ``{"runs_per_s", "cpu_ms_per_run"}`` (CPU of this process, which also serves the MCP
    tool) and ``ceiling_per_s``: what the machine's cores could sustain at that CPU cost if
    the platform cost nothing (cores x 1000 / cpu_ms_per_run).
    """
    from contextlib import AsyncExitStack

    from langchain_core.messages import HumanMessage

    from runners import RunUsage

    runner = p.runs.runner
    async with AsyncExitStack() as stack:
        defs, routes, _notes = await runner._open_tools(spec, {"demo-crm": p.registry.mcp_url("demo-crm")}, stack,
                                                        p.tenant_id)
        graph = runner._compile(spec, defs, routes, RunUsage())

        async def one(i: int) -> None:
            state = await graph.ainvoke({"messages": [HumanMessage(content="Find lead Ada")], "steps": 0},
                                        {"configurable": {"thread_id": f"bare:{i}"}, "recursion_limit": 20})
            assert "Ada" in str(state["messages"][-1].content)

        for i in range(5):  # warm-up
            await one(-1 - i)
        todo = iter(range(runs))

        async def lane() -> None:
            for i in todo:
                await one(i)

        me = psutil.Process()
        c0, t0 = me.cpu_times(), time.monotonic()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        wall, c1 = time.monotonic() - t0, me.cpu_times()
    cpu_ms = (c1.user + c1.system - c0.user - c0.system) * 1000 / runs
    return {"runs": runs, "runs_per_s": round(runs / wall, 1), "cpu_ms_per_run": round(cpu_ms, 2),
            "ceiling_per_s": round(psutil.cpu_count() * 1000 / cpu_ms, 1)}


async def bench(settings: Settings, sup: Supervisor, args: argparse.Namespace) -> dict:
    import uvicorn

    from api import create_app

    app = create_app(settings, with_ui=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.api.port, log_level="warning"))
    serve = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    p = app.state.platform
    spec = AgentSpec(name="Bench", description="CRM lookups", system_prompt="Use the CRM.",
                     tools=[{"tool_id": "demo-crm", "operations": ["searchLeads"]}])
    agents = []
    for k in range(args.agents):  # runs spread over several agents, as on a real platform
        a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=f"bench-throughput-{k}", name=f"Bench {k}",
                                     description="d", agent_type="react", spec_yaml=spec.to_yaml(),
                                     tool_ids=["demo-crm"], created_by=p.user_id)
        agents.append(a.id)

    bare = await bare_ceiling(p, spec, args.bare_runs, concurrency=16) if args.bare_runs else None

    async def ended() -> Counter:
        total: Counter = Counter()
        for aid in agents:
            total.update(await p.runs.lifecycle.count_by_status(tenant_id=p.tenant_id, agent_id=aid))
        return total
    env = {**os.environ, **_CHILD_ENV_DEFAULTS, **settings_env(settings)}
    logs = settings.data_dir / "logs"
    workers = []
    for i in range(args.workers):
        out = open(logs / f"worker-{i + 1}.log", "wb")
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "agentgraph.cli", "worker", "--concurrency", str(args.concurrency),
             "--metrics-port", "0"], env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
    try:
        deadline = time.monotonic() + 180
        while sum(b"consuming" in (logs / f"worker-{i + 1}.log").read_bytes() for i in range(args.workers)) \
                < args.workers:
            assert time.monotonic() < deadline, "workers did not start"
            await asyncio.sleep(0.2)
        # Warm-up: each worker opens its pools and MCP sessions.
        warm = [await p.runs.run(tenant_id=p.tenant_id, user_id=None, agent_id=aid, input="Find lead Ada")
                for aid in agents for _ in range(2)]
        while sum(n for st, n in (await ended()).items() if st in TERMINAL) < len(warm):
            await asyncio.sleep(0.1)

        pids = {"api+submitter": [os.getpid()], "workers": [w.pid for w in workers],
                **{s.spec.name: [s.process.pid] for s in sup.running}}
        cpu0 = {k: cpu_s(v) for k, v in pids.items()}
        ids: list[str] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.runs):
            queue.put_nowait(i)

        async def submitter() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                e = await p.runs.run(tenant_id=p.tenant_id, user_id=None, agent_id=agents[i % len(agents)],
                                     input=f"Find lead Ada ({i})")
                ids.append(e.id)

        t0 = time.monotonic()
        await asyncio.gather(*(submitter() for _ in range(16)))
        submitted_s = time.monotonic() - t0
        target = len(warm) + args.runs
        while True:
            counts = await ended()
            if sum(n for s, n in counts.items() if s in TERMINAL) >= target:
                break
            if time.monotonic() - t0 > args.timeout:
                break
            await asyncio.sleep(0.1)
        total_s = time.monotonic() - t0
        cpu = {k: cpu_s(v) - cpu0[k] for k, v in pids.items()}
        wanted = set(ids)
        execs = [e for aid in agents
                 for e in await p.executions.list(tenant_id=p.tenant_id, agent_id=aid, limit=target * 2)
                 if e.id in wanted]
        statuses = Counter(e.status for e in execs)
        errors = Counter(f"{e.error_code}: {(e.error or '')[:160]}" for e in execs if e.status != "succeeded")
        ended = sum(n for s, n in statuses.items() if s in TERMINAL)
        lat = [e.latency_ms for e in execs if e.latency_ms is not None]
        tool_calls = sum(1 for e in execs[:50] for s in e.spans if s["name"] == "tool.call")
        return {"runs": args.runs, "agents": args.agents, "workers": args.workers, "concurrency": args.concurrency,
                "submit_per_s": round(args.runs / submitted_s, 1), "runs_per_s": round(ended / total_s, 1),
                "elapsed_s": round(total_s, 2), "lost": args.runs - ended, "statuses": dict(statuses),
                "run_latency_ms": {"p50": round(pct(lat, 50), 1), "p95": round(pct(lat, 95), 1)},
                "tool_calls_in_first_50": tool_calls, "errors": dict(errors.most_common(5)),
                "cpu_ms_per_run": {k: round(v * 1000 / max(ended, 1), 2) for k, v in cpu.items()},
                "cpu_capacity_ms_per_run": round(psutil.cpu_count() * total_s * 1000 / max(ended, 1), 2),
                "bare": bare}
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        server.should_exit = True
        await serve


def main() -> None:
    """Run the benchmark and print a summary plus one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--agents", type=int, default=8, help="agents the runs are spread over (round robin)")
    ap.add_argument("--timeout", type=float, default=900, help="give up waiting after this many seconds")
    ap.add_argument("--bare-runs", type=int, default=300,
                    help="runs of the bare-graph baseline (no platform; 0 skips it)")
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    settings = Settings(data_dir=data, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"port": free_port()}, llm={"scripted": True},
                        api={"port": free_port()}, auth={"required": False}, executor="queue",
                        workers={"concurrency": args.concurrency, "visibility_timeout_s": 30},
                        # the tenant's default tool-call limit (600/minute, a product guard) would fail runs
                        # as soon as the machine sustains more than 10 runs/s: lifted for the measurement
                        toolhub={"tenant_rate_limit": "1000000/minute"})
    sup = Supervisor(data / "logs")
    try:
        for spec in (graph_service(settings, heap_mb=768), redis_service(settings), demo_crm_service(settings)):
            sup.start(spec)
        r = asyncio.run(bench(settings, sup, args))
    finally:
        sup.stop_all()
    print(f"{r['runs']} runs, {r['workers']} workers x concurrency {r['concurrency']} "
          "(scripted LLM, 1 MCP tool call to the demo CRM per run)")
    print(f"submitted at {r['submit_per_s']} runs/s; sustained {r['runs_per_s']} runs/s over {r['elapsed_s']} s "
          "(target >= 300)")
    print(f"lost: {r['lost']}; statuses: {r['statuses']}; run latency p50 {r['run_latency_ms']['p50']} ms, "
          f"p95 {r['run_latency_ms']['p95']} ms")
    for err, n in r["errors"].items():
        print(f"  {n} x {err}")
    print(f"CPU ms per run (capacity {r['cpu_capacity_ms_per_run']} ms/run on {psutil.cpu_count()} cores):")
    for k, v in sorted(r["cpu_ms_per_run"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:<14} {v:>8.2f}")
    if r["bare"]:
        b = r["bare"]
        print(f"baseline, the bare LangGraph graph in one process (no platform, no queue, no graph writes): "
              f"{b['runs_per_s']} runs/s at {b['cpu_ms_per_run']} CPU ms/run -> at most {b['ceiling_per_s']} runs/s "
              f"on {psutil.cpu_count()} cores with zero platform cost")
        print(f"ratio sustained / bare ceiling: {r['runs_per_s'] / b['ceiling_per_s']:.2f}")
    print(json.dumps({"bench": "throughput", **r}))


if __name__ == "__main__":
    main()
