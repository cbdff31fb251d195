"""Benchmark: cost of checkpointing workflow state after every step (issue 7, resume).

Starts a real ``redis-server`` and compiles the workflow graph of ``--steps`` chained
steps with ``runners._workflow.WorkflowRunner._compile``; each step "calls the model"
by sleeping ``--latency-ms`` (a stand-in for a provider). Measured in the same run,
median of ``--runs``:

* ``plain_ms``        - the workflow without a checkpointer (the baseline, as before resume);
* ``checkpointed_ms`` - the same with the Redis checkpointer (one checkpoint per step);
* ``per_step_ms``     - ``(checkpointed - plain) / steps``: what a step's checkpoint costs;
* ``ratio``           - ``checkpointed / plain`` (1.0 = free).

Usage: ``python tests/bench/bench_workflow_checkpoints.py [--runs 7] [--steps 5] [--latency-ms 50]``
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
import uuid
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from opentelemetry import trace  # noqa: E402

from agentgraph.settings import Settings  # noqa: E402
from agentgraph.spec import AgentSpec  # noqa: E402
from agentgraph.stack import redis_service  # noqa: E402
from agentgraph.supervisor import Supervisor, free_port  # noqa: E402
from memory import open_checkpointer  # noqa: E402
from runners._workflow import WorkflowRunner  # noqa: E402


def _spec(steps: int) -> AgentSpec:
    ids = [f"s{i}" for i in range(steps)]
    return AgentSpec.parse({
        "name": "Bench flow", "description": "d", "system_prompt": "p", "agent_type": "workflow",
        "workflow": {"steps": [{"id": i, "prompt": "{{ output if output else input }}"} for i in ids],
                     "edges": [{"from": a, "to": b} for a, b in zip(ids, ids[1:])]}})


async def bench(url: str, runs: int, steps: int, latency_s: float) -> dict[str, float]:
    spec = _spec(steps)

    async def run_step(step, variables) -> str:
        await asyncio.sleep(latency_s)
        return f"{step.id} done"

    wf = WorkflowRunner(subs=None)  # type: ignore[arg-type]
    first = {"input": "go", "output": "", "steps": {}, "iterations": {}, "edges": {}, "total": 0, "next": ""}
    async with open_checkpointer(url) as saver:
        runner = SimpleNamespace(tracer=trace.get_tracer("bench"), checkpointer=saver)
        plain = wf._compile(runner, spec, run_step)
        saved = wf._compile(runner, spec, run_step, saver)

        async def once(graph, checkpointed: bool) -> float:
            config = {"recursion_limit": steps + 5}
            if checkpointed:
                rid = f"run_{uuid.uuid4().hex}"
                config |= {"configurable": {"thread_id": f"workflow:{rid}"}, "metadata": {"run_id": rid}}
            started = time.perf_counter()
            state = await graph.ainvoke(dict(first), config)
            assert state["total"] == steps
            return (time.perf_counter() - started) * 1000

        await once(plain, False), await once(saved, True)  # warm-up: imports, connections
        p, c = [], []
        for _ in range(runs):  # interleaved: drift hits both alike
            p.append(await once(plain, False))
            c.append(await once(saved, True))
    plain_ms, ck_ms = statistics.median(p), statistics.median(c)
    return {"steps": steps, "latency_ms": latency_s * 1000, "plain_ms": round(plain_ms, 1),
            "checkpointed_ms": round(ck_ms, 1), "per_step_ms": round((ck_ms - plain_ms) / steps, 2),
            "ratio": round(ck_ms / plain_ms, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    settings = Settings(data_dir=data, redis={"port": free_port()})
    sup = Supervisor(data / "logs")
    try:
        sup.start(redis_service(settings))
        print(json.dumps(asyncio.run(bench(settings.redis_url, args.runs, args.steps, args.latency_ms / 1000))))
    finally:
        sup.stop_all()


if __name__ == "__main__":
    main()
