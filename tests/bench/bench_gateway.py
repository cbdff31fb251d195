"""Gateway overhead vs a bare ``litellm.acompletion`` with ``mock_response`` (no network).

Three timings per call, sequential (so they measure overhead, not concurrency):

* ``bare``: ``litellm.acompletion(model=..., mock_response=...)``;
* ``router``: our :class:`LiteLLMGateway` (LiteLLM Router + conversion to Completion);
* ``metered``: the platform path, :class:`MeteredGateway` over that router with a
  budget that applies (Redis reserve + settle Lua scripts, usage counters).
  Needs ``redis-server`` on PATH (started on a free port, stopped at the end).

Run: ``.venv/bin/python tests/bench/bench_gateway.py [N]`` (default 300 calls each).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from agentgraph.budgets import Budget, BudgetGuard, CallScope  # noqa: E402
from agentgraph.costs import UsageMeter  # noqa: E402
from agentgraph.gateway import LiteLLMGateway  # noqa: E402
from agentgraph.metering import MeteredGateway, call_scope  # noqa: E402
from agentgraph.supervisor import free_port  # noqa: E402

MSG = [{"role": "user", "content": "Summarise the quarterly report in one line."}]
REPLY = "Revenue grew; costs fell."
MODEL = [{"model_name": "gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-bench"}}]


def pct(xs: list[float], p: float) -> float:
    return statistics.quantiles(xs, n=100)[int(p) - 1]


async def timed(fn, n: int) -> list[float]:
    for _ in range(20):  # warm-up (imports, tokenizer, pools)
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def main(n: int) -> None:
    port = free_port()
    tmp = tempfile.mkdtemp()
    proc = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    try:
        rds = aioredis.from_url(f"redis://127.0.0.1:{port}/0")
        for _ in range(50):
            try:
                await rds.ping()
                break
            except Exception:
                await asyncio.sleep(0.1)
        router = LiteLLMGateway(MODEL, num_retries=0)
        guard = BudgetGuard(rds)
        await guard.put(Budget(id="b1", tenant_id="bench", name="bench", scope="tenant", scope_id="bench",
                               period="month", limit_usd=1e6))
        metered = MeteredGateway(router, router=router, guard=guard, meter=UsageMeter(rds), default_tenant="bench")

        async def bare():
            await litellm.acompletion(model="openai/gpt-4o-mini", messages=MSG, mock_response=REPLY, max_tokens=32,
                                      api_key="sk-bench")

        async def via_router():
            await router.complete(MSG, model="gpt-4o-mini", max_tokens=32, mock_response=REPLY)

        async def via_metered():
            with call_scope(CallScope(tenant_id="bench", user_id="u", agent_id="a")):
                await metered.complete(MSG, model="gpt-4o-mini", max_tokens=32, mock_response=REPLY)

        results = {name: await timed(fn, n) for name, fn in
                   (("bare litellm.acompletion", bare), ("gateway (Router)", via_router),
                    ("metered gateway (+budget, usage)", via_metered))}
        base = statistics.median(results["bare litellm.acompletion"])
        print(f"calls per variant: {n} (sequential, mock_response, after 20 warm-up calls)")
        print(f"{'variant':36} {'p50 ms':>8} {'p95 ms':>8} {'ratio p50':>10}")
        for name, xs in results.items():
            print(f"{name:36} {statistics.median(xs):8.2f} {pct(xs, 95):8.2f} {statistics.median(xs) / base:10.2f}x")
        await rds.aclose()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
