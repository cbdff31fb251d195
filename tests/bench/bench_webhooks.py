"""Benchmark: webhook to queued, latency percentiles at a fixed arrival rate (issue 6, figure 3).

Starts ArcadeDB and redis-server on free ports, then the platform in a *separate*
process (``executor=queue``, no workers: a run stops at ``queued``, which is what
is measured), saves an agent and creates a webhook trigger. The load generator
(this process, httpx async) is **open-loop**: request ``i`` is due at
``t0 + i / rate`` whatever happened to earlier ones, and its latency counts from
that due time, so a slow server cannot hide queueing delay (no coordinated
omission).

Phases, each ``--seconds`` long at ``--rate`` requests/s:

1. **baseline**: ``POST /bench/noop`` on the same server process - a route that
   reads the body and answers 202 - the floor of uvicorn + FastAPI + this client;
2. **webhook**: signed ``POST /hooks/{token}`` with a distinct JSON body each: token
   lookup (cached), HMAC check, run input, Execution stored as ``queued`` in the
   graph, job on the Redis queue, ``queued`` event published, 202.

Printed per phase: requests, 202s, errors by status, achieved rate (answers/s),
p50/p95/p99/max latency in ms; then ``webhook p99 / baseline p99`` and one
``BENCH_JSON`` line.

Usage: ``python tests/bench/bench_webhooks.py [--rate 500] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx  # noqa: E402
from fastapi import Request  # noqa: E402  (module level: FastAPI resolves the route's annotations here)

from agentgraph.settings import Settings  # noqa: E402
from agentgraph.supervisor import ServiceSpec, Supervisor, free_port, http_probe  # noqa: E402

SPEC = "name: Bench hook\ndescription: Webhook benchmark.\nsystem_prompt: Answer briefly.\n"


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` in [0, 100] (NaN when empty)."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-int(q * len(s)) // 100) - 1))]


def serve(settings_path: str) -> None:
    """Server mode (child process): the platform plus the baseline route, under uvicorn."""
    import uvicorn
    from fastapi.responses import JSONResponse

    from api import create_app

    settings = Settings.model_validate_json(Path(settings_path).read_text())
    app = create_app(settings, with_ui=False)

    @app.post("/bench/noop", status_code=202)
    async def noop(request: Request) -> JSONResponse:  # the baseline: same server, no work
        await request.body()
        return JSONResponse({"run_id": "noop", "status": "queued"}, status_code=202)

    uvicorn.run(app, host="127.0.0.1", port=settings.api.port, log_level="warning", access_log=False)


async def phase(url: str, bodies: list[tuple[bytes, dict[str, str]]], rate: float) -> dict:
    """Open-loop load: ``len(bodies)`` requests at ``rate``/s; latency from each request's due time."""
    lat: list[float] = []
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(due: float, body: bytes, headers: dict[str, str]) -> None:
            try:
                r = await client.post(url, content=body, headers=headers)
                code = r.status_code
            except httpx.HTTPError:
                code = 0
            codes[code] = codes.get(code, 0) + 1
            if code == 202:
                lat.append((time.perf_counter() - due) * 1000)

        tasks = []
        t0 = time.perf_counter() + 0.05
        for i, (body, headers) in enumerate(bodies):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, body, headers)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    n = len(bodies)
    return {"requests": n, "accepted": codes.get(202, 0), "codes": codes, "elapsed_s": round(elapsed, 2),
            "achieved_rps": round(codes.get(202, 0) / elapsed, 1), "p50_ms": round(pct(lat, 50), 1),
            "p95_ms": round(pct(lat, 95), 1), "p99_ms": round(pct(lat, 99), 1),
            "max_ms": round(max(lat), 1) if lat else float("nan")}


def main() -> None:
    """Run the benchmark (see module docstring); print a table and ``BENCH_JSON``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=500.0, help="arrival rate, requests/s")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import signal

    # SIGTERM (e.g. `timeout`) runs the finally below, so no child service outlives the bench.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from agentgraph.stack import graph_service, redis_service
    from agentgraph.webhooks import signed_headers

    data = Path(tempfile.mkdtemp(prefix="agentgraph-bench-hooks-"))
    settings = Settings(data_dir=data, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"enabled": False}, llm={"scripted": True},
                        api={"port": free_port()}, executor="queue", auth={"required": False})
    settings_path = data / "settings.json"
    settings_path.write_text(settings.model_dump_json())
    sup = Supervisor(data / "logs")
    try:
        sup.start(graph_service(settings, heap_mb=512))
        sup.start(redis_service(settings))
        port = settings.api.port
        sup.start(ServiceSpec(name="api", argv=[sys.executable, __file__, "--serve", str(settings_path)], port=port,
                              probe=http_probe(f"http://127.0.0.1:{port}/healthz"), ready_timeout_s=180))
        base = settings.api.base_url
        with httpx.Client(base_url=base, timeout=60) as c:
            def gql(q: str, **v):
                body = c.post("/graphql", json={"query": q, "variables": v}).json()
                assert "errors" not in body, body
                return body["data"]

            aid = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=SPEC)["saveAgent"]["id"]
            hook = gql("mutation($a: String!) { createWebhookTrigger(agentId: $a) { url secret } }",
                       a=aid)["createWebhookTrigger"]
        n = int(args.rate * args.seconds)
        plain = [(json.dumps({"n": i}).encode(), {"Content-Type": "application/json"}) for i in range(n)]

        def signed(count: int, offset: int) -> list[tuple[bytes, dict[str, str]]]:
            out = []
            for i in range(count):
                body = json.dumps({"event": "deal.closed", "n": offset + i}).encode()
                out.append((body, {"Content-Type": "application/json", **signed_headers(hook["secret"], body)}))
            return out

        # Warm-up (connections, caches, JIT of the graph server), not reported.
        asyncio.run(phase(hook["url"], signed(100, 10_000_000), min(args.rate, 50)))
        asyncio.run(phase(f"{base}/bench/noop", plain[:200], min(args.rate, 200)))
        results = {"baseline": asyncio.run(phase(f"{base}/bench/noop", plain, args.rate)),
                   "webhook": asyncio.run(phase(hook["url"], signed(n, 0), args.rate))}
    finally:
        sup.stop_all()
    print(f"\nwebhook -> queued at {args.rate:.0f} req/s for {args.seconds:.0f} s (open loop; latency from due time)")
    print(f"{'phase':<10}{'sent':>7}{'202':>7}{'other':>22}{'rps':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'max ms':>9}")
    for name, r in results.items():
        other = {k: v for k, v in r["codes"].items() if k != 202} or "-"
        print(f"{name:<10}{r['requests']:>7}{r['accepted']:>7}{str(other):>22}{r['achieved_rps']:>8}"
              f"{r['p50_ms']:>9}{r['p95_ms']:>9}{r['p99_ms']:>9}{r['max_ms']:>9}")
    ratio = results["webhook"]["p99_ms"] / results["baseline"]["p99_ms"] if results["baseline"]["p99_ms"] else None
    print(f"webhook p99 / baseline p99: {ratio:.1f}x" if ratio else "ratio: n/a")
    print("BENCH_JSON " + json.dumps({"rate": args.rate, "seconds": args.seconds, **results,
                                      "p99_ratio": round(ratio, 2) if ratio else None}, default=str))


if __name__ == "__main__":
    main()
