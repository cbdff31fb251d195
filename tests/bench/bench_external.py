"""Overhead of the external-agent adapters over a bare HTTP call (no platform services).

Starts the local platform stubs (tests/external_stubs.py) and, per adapter, times
``adapter.execute`` (request template, auth header, HTTP call, JSONPath / dotted
response mapping, output schema) against a bare ``httpx`` POST of the same body to
the same stub with a fresh client each time (the adapters also open one per call).
Prints the median over ``--runs`` calls in milliseconds and the ratio to the bare
baseline measured in the same run (the baseline shares one TLS context, as the adapters do). CrewAI is left out (its latency is its polling).

    .venv/bin/python -m tests.bench.bench_external --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from agentgraph.spec import ExternalAgentConfig
from runners import ExternalContext, build_adapter
from tests.external_stubs import SECRETS, StubServer

CTX = ExternalContext(tenant_id="bench", agent_id="bench", run_id="run-bench", thread_id="thr-bench")


def _configs(origin: dict[str, str]) -> dict[str, tuple[dict, str | None]]:
    return {
        "rest": ({"kind": "rest", "url": origin["rest"] + "/v1/answer", "response_path": "$.data.answer",
                  "auth": {"kind": "bearer", "secret": "s"}, "output_schema": {"type": "string"}}, SECRETS["rest"]),
        "n8n": ({"kind": "n8n", "url": origin["n8n"] + "/webhook/support-agent", "response_path": "reply",
                 "auth": {"kind": "header", "header": "X-N8N-Key", "secret": "s"}}, SECRETS["n8n"]),
        "zapier": ({"kind": "zapier", "url": origin["zapier"] + "/hooks/catch/1/a/"}, None),
        "langserve": ({"kind": "langserve", "url": origin["langserve"] + "/support"}, None),
        "langgraph": ({"kind": "langgraph", "url": origin["langgraph"], "assistant_id": "support",
                       "auth": {"kind": "header", "header": "x-api-key", "secret": "s"}}, SECRETS["langgraph"]),
    }


async def _time(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return statistics.median(out)


async def main(runs: int) -> None:
    server = StubServer()
    stubs = server.start()
    try:
        ctx = httpx.create_ssl_context()

        async def bare() -> None:
            async with httpx.AsyncClient(verify=ctx) as client:
                r = await client.post(stubs.origin["rest"] + "/v1/answer", json={"input": "hello"},
                                      headers={"Authorization": f"Bearer {SECRETS['rest']}"})
                r.json()

        await _time(bare, 5)  # warm-up
        base = await _time(bare, runs)
        print(f"{'bare httpx POST':<16} {base:8.2f} ms  x1.00")
        for name, (cfg, secret) in _configs(stubs.origin).items():
            agent = build_adapter(ExternalAgentConfig.model_validate(cfg), secret=secret)
            await agent.execute("hello", CTX)  # warm-up (imports, JSONPath compile)
            ms = await _time(lambda: agent.execute("hello", CTX), runs)
            print(f"{name:<16} {ms:8.2f} ms  x{ms / base:.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    asyncio.run(main(ap.parse_args().runs))
