"""Prometheus metrics of runs, exposed by the API at ``/metrics``.

Names follow Prometheus conventions (``_total`` counters, base units: seconds,
USD). Every platform process keeps its own :class:`~prometheus_client.CollectorRegistry`
so that several apps in one process (tests) do not collide.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from graph import Execution

# Run latencies span a scripted run (~50 ms) to a slow model (minutes).
RUN_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Tool calls: a local API (~2 ms) to a slow upstream (tens of seconds).
TOOL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RunMetrics:
    """Counters and histograms fed by ``RunService`` after each run.

    Args:
        registry: where the metrics live (a new one by default).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter("agentgraph_runs_total", "Finished runs by status.", ["status"], registry=r)
        self.in_progress = Gauge("agentgraph_runs_in_progress", "Runs executing in this process.", registry=r)
        self.latency = Histogram("agentgraph_run_latency_seconds", "Run wall time by status.", ["status"],
                                 buckets=RUN_BUCKETS_S, registry=r)
        self.tokens = Counter("agentgraph_llm_tokens_total", "LLM tokens by kind (prompt, completion).", ["kind"],
                              registry=r)
        self.cost = Counter("agentgraph_llm_cost_usd_total", "LLM spend in USD (LiteLLM response_cost).", registry=r)
        self.errors = Counter("agentgraph_run_errors_total", "Failed runs by error code (LLM_FAILED = provider).",
                              ["code"], registry=r)
        self.tool_calls = Counter("agentgraph_tool_calls_total", "Tool calls by tool and outcome (ok, error).",
                                  ["tool_id", "outcome"], registry=r)
        self.tool_latency = Histogram("agentgraph_tool_call_latency_seconds", "Tool call latency by tool.",
                                      ["tool_id"], buckets=TOOL_BUCKETS_S, registry=r)
        self.queue_depth = Gauge("agentgraph_queue_depth", "Jobs in the run queue by state "
                                 "(ready: not delivered, in_flight: delivered not acked, delayed: retries).",
                                 ["state"], registry=r)
        #: ``async () -> {state: count}`` read before each scrape (the queue executor's ``JobQueue.depth``).
        self.depth_probe: Callable[[], Awaitable[dict[str, int]]] | None = None

    async def refresh(self) -> None:
        """Update gauges read from elsewhere (queue depth); a failing probe leaves the last values."""
        if self.depth_probe is None:
            return
        try:
            for state, n in (await self.depth_probe()).items():
                self.queue_depth.labels(state).set(n)
        except Exception:  # a scrape must not fail because Redis blinked
            pass

    def observe(self, e: Execution) -> None:
        """Record one finished Execution and the tool calls in its execution chain."""
        self.runs.labels(e.status).inc()
        if e.latency_ms is not None:
            self.latency.labels(e.status).observe(e.latency_ms / 1000)
        self.tokens.labels("prompt").inc(e.prompt_tokens)
        self.tokens.labels("completion").inc(e.completion_tokens)
        self.cost.inc(max(e.cost_usd, 0.0))
        if e.status == "failed":
            self.errors.labels(e.error_code or "UNKNOWN").inc()
        for span in e.spans:
            if span.get("name") != "tool.call":
                continue
            tool_id = str((span.get("attributes") or {}).get("tool.id", "unknown"))
            outcome = "error" if span.get("status") == "ERROR" else "ok"
            self.tool_calls.labels(tool_id, outcome).inc()
            self.tool_latency.labels(tool_id).observe(float(span.get("duration_ms", 0.0)) / 1000)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


__all__ = ["RunMetrics", "RUN_BUCKETS_S", "TOOL_BUCKETS_S"]
