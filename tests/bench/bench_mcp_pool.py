"""Benchmark: pooled MCP sessions vs a session per run, and a tool call through the platform
vs a direct HTTP call to the same API.

    .venv/bin/python tests/bench/bench_mcp_pool.py [--runs 60] [--calls 200]

Set-up (one process, one event loop, 127.0.0.1 free ports): the museum API stub
(tests/stubapi.py, API key checked), an MCPToolHost serving it as tool ``museum``
with the tool hub's upstream client (auth, retries, rate limiter in memory), and
an MCPClientPool.

1. **per run**: what one agent run pays to get a tool ready and call it once -
   (a) before the pool: open an MCP session, ``tools/list``, one call, close;
   (b) pooled: take the shared session (list cached), one call. Median ms, ratio a/b.
2. **per call**: one ``listSpecialEvents`` call through the platform (pooled MCP
   session -> host -> upstream client -> stub) vs the same GET sent directly with a
   keep-alive ``httpx2.AsyncClient``. Median ms, ratio.

Prints a table and one ``BENCH_JSON {...}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

KEY = "bench-key-0123456789abcdef"


async def main(runs: int, calls: int) -> dict:
    import httpx2
    from fastapi import FastAPI

    from runners._mcp import MCPToolHost, MCPToolSession
    from runners._openapi import load_openapi
    from runners._toolhub_config import ToolConfig, ToolCredentials
    from runners._toolhub_http import ToolRateLimiter, build_upstream_client
    from runners._toolhub_pool import MCPClientPool, ToolEndpoint
    from tests.stubapi import Expect, build_stub, serve

    doc = load_openapi((ROOT / "tests/data/openapi/museum-openapi30-apikey.yaml").read_text())
    stub = build_stub(doc.spec, Expect(kind="api_key", name="X-API-Key", value=KEY))
    host = MCPToolHost()
    app = FastAPI()
    app.mount("/tools", host)
    async with serve(stub.app) as stub_url, serve(app) as platform_url:
        creds = ToolCredentials.model_validate({"auth": {"kind": "api_key", "name": "X-API-Key", "value": KEY}})
        client = build_upstream_client(stub_url, creds=creds, config=ToolConfig(), tenant_id="bench", tool_id="museum",
                                       limiter=ToolRateLimiter("async+memory://", tenant_limit="1000000/minute"))
        await host.mount("museum", dataclasses.replace(doc), stub_url, client=client)
        url = f"{platform_url}/tools/museum/mcp"
        args = {"limit": 1}

        async def per_run_unpooled() -> None:
            async with MCPToolSession(url) as s:
                await s.list_tools()
                await s.call_tool("listSpecialEvents", args)

        async def resolver(tool_id: str, tenant_id: str) -> ToolEndpoint:
            return ToolEndpoint(url=url)

        pool = MCPClientPool(resolver)

        async def per_run_pooled() -> None:
            s = await pool.session("museum", "bench")
            await s.list_tools()
            await s.call_tool("listSpecialEvents", args)

        async def timed(fn, n: int) -> list[float]:
            for _ in range(3):  # warm-up
                await fn()
            out = []
            for _ in range(n):
                t = time.perf_counter()
                await fn()
                out.append((time.perf_counter() - t) * 1000)
            return out

        unpooled = await timed(per_run_unpooled, runs)
        pooled = await timed(per_run_pooled, runs)

        session = await pool.session("museum", "bench")
        direct_client = httpx2.AsyncClient(base_url=stub_url, headers={"X-API-Key": KEY})

        async def via_platform() -> None:
            await session.call_tool("listSpecialEvents", args)

        async def direct() -> None:
            r = await direct_client.get("/special-events", params=args)
            r.raise_for_status()
            r.json()

        platform_calls = await timed(via_platform, calls)
        direct_calls = await timed(direct, calls)
        await direct_client.aclose()
        await pool.aclose()
        await host.aclose()

    med = statistics.median
    res = {
        "runs": runs, "calls": calls,
        "per_run_unpooled_ms": round(med(unpooled), 2), "per_run_pooled_ms": round(med(pooled), 2),
        "pool_speedup": round(med(unpooled) / med(pooled), 1),
        "call_platform_ms": round(med(platform_calls), 2), "call_direct_ms": round(med(direct_calls), 2),
        "platform_over_direct": round(med(platform_calls) / med(direct_calls), 1),
        "p95_platform_ms": round(sorted(platform_calls)[int(0.95 * len(platform_calls)) - 1], 2),
        "p95_direct_ms": round(sorted(direct_calls)[int(0.95 * len(direct_calls)) - 1], 2),
    }
    print(f"{'measure':<44} {'median ms':>10}")
    print(f"{'run: open session + list + call + close':<44} {res['per_run_unpooled_ms']:>10}")
    print(f"{'run: pooled session + cached list + call':<44} {res['per_run_pooled_ms']:>10}")
    print(f"{'  -> pooling speed-up (x)':<44} {res['pool_speedup']:>10}")
    print(f"{'call through the platform (MCP, pooled)':<44} {res['call_platform_ms']:>10}")
    print(f"{'direct HTTP call (keep-alive)':<44} {res['call_direct_ms']:>10}")
    print(f"{'  -> platform / direct (x)':<44} {res['platform_over_direct']:>10}")
    print("BENCH_JSON " + json.dumps(res))
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    asyncio.run(main(a.runs, a.calls))
