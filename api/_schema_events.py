"""GraphQL for run events and monitoring (issue 6).

Queries ``runEvents(runId)`` (stored history), ``runStats(sinceHours, bucketMinutes)``;
mutation ``analyzeRun(id)`` (root-cause notes from the LLM); subscriptions
``runEvents(runId, after)`` (until the run ends) and ``tenantRunEvents`` (new events of
every run of the tenant) over graphql-transport-ws, fed by Redis Streams.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.budgets import CallScope
from agentgraph.metering import call_scope
from graph import RunStats as RunStatsRecord
from graph import run_stats
from runners import RunEvent, RunEventBus, tenant_stream_key

from api._platform import Platform
from api._run_events import run_event_stream

#: Spans sent to the analysis prompt (the run's first ones; a typical run has < 30).
MAX_SPANS = 60
ANALYSIS_PROMPT = (
    "You are a reliability engineer. Read the execution chain of one AI-agent run (spans with durations, "
    "statuses and attributes) and write root-cause notes: what happened, the most likely cause of any failure "
    "or slowness (name the span), and one concrete fix. Be brief: at most 8 bullet points.")


def _p(info: Info) -> Platform:
    return info.context["platform"]


@strawberry.type(description="A status change of a run (queued, running, succeeded, failed, cancelled, timed_out).")
class RunEventItem:
    id: str = strawberry.field(description="Stream entry id; pass it as `after` (or SSE Last-Event-ID) to resume.")
    run_id: str
    tenant_id: str
    agent_id: str
    type: str
    status: str
    at: str
    data: JSON

    @classmethod
    def of(cls, e: RunEvent) -> "RunEventItem":
        return cls(id=e.id, run_id=e.run_id, tenant_id=e.tenant_id, agent_id=e.agent_id, type=e.type,
                   status=e.status, at=e.at, data=e.data)


@strawberry.type(description="Runs started in one time bucket.")
class RunStatsBucket:
    start: str
    counts: JSON = strawberry.field(description="Runs by status, e.g. {\"succeeded\": 3, \"failed\": 1}.")
    cost_usd: float
    p50_ms: float | None
    p95_ms: float | None


@strawberry.type(description="Spend of one agent in the window.")
class AgentCostItem:
    agent_id: str
    runs: int
    cost_usd: float


@strawberry.type(name="RunStatsSummary", description="Run statistics of the tenant over a window (Monitoring tab).")
class RunStats:
    since: str
    bucket_minutes: int
    buckets: list[RunStatsBucket]
    total_runs: int
    by_status: JSON
    cost_usd: float
    p50_ms: float | None
    p95_ms: float | None
    top_agents: list[AgentCostItem]

    @classmethod
    def of(cls, s: RunStatsRecord) -> "RunStats":
        return cls(since=s.since, bucket_minutes=s.bucket_minutes, total_runs=s.total_runs, by_status=s.by_status,
                   cost_usd=s.cost_usd, p50_ms=s.p50_ms, p95_ms=s.p95_ms,
                   buckets=[RunStatsBucket(start=b.start, counts=b.counts, cost_usd=b.cost_usd, p50_ms=b.p50_ms,
                                           p95_ms=b.p95_ms) for b in s.buckets],
                   top_agents=[AgentCostItem(agent_id=a.agent_id, runs=a.runs, cost_usd=a.cost_usd)
                               for a in s.top_agents])


@strawberry.type(description="Root-cause notes on a run, written by the LLM from its execution chain.")
class RunAnalysis:
    run_id: str
    status: str
    notes: str
    model: str


def chain_summary(execution: Any) -> str:
    """The run and its spans as compact text for the analysis prompt (bounded: ``MAX_SPANS`` spans)."""
    lines = [f"run {execution.id} agent {execution.agent_id} v{execution.version} status {execution.status}",
             f"latency_ms {execution.latency_ms} cost_usd {execution.cost_usd} model {execution.model}",
             f"input: {execution.input[:500]}"]
    if execution.output:
        lines.append(f"output: {execution.output[:500]}")
    if execution.error:
        lines.append(f"error [{execution.error_code}]: {execution.error[:800]}")
    lines.append("spans (name | parent | duration_ms | status | attributes):")
    for s in execution.spans[:MAX_SPANS]:
        attrs = json.dumps(s.get("attributes") or {}, default=str)[:300]
        lines.append(f"- {s['name']} | {s.get('parent_id') or '-'} | {s['duration_ms']:.1f} | {s['status']} | {attrs}")
    if len(execution.spans) > MAX_SPANS:
        lines.append(f"... {len(execution.spans) - MAX_SPANS} more spans")
    return "\n".join(lines)


@strawberry.type
class EventsQuery:
    @strawberry.field(description="Stored events of a run, oldest first (kept 24 h after the last one).")
    async def run_events(self, info: Info, run_id: str) -> list[RunEventItem]:
        p = _p(info)
        await p.executions.get(tenant_id=p.tenant_id, execution_id=run_id)  # tenant check (NOT_FOUND)
        return [RunEventItem.of(e) for e in await RunEventBus(p.redis).history(run_id)]

    @strawberry.field(description="Runs by status over time, cost over time, p50/p95 latency (ms), costly agents.")
    async def run_stats(self, info: Info, since_hours: float = 24.0, bucket_minutes: int = 60) -> RunStats:
        p = _p(info)
        return RunStats.of(await run_stats(p.graph, tenant_id=p.tenant_id, since_hours=since_hours,
                                           bucket_minutes=bucket_minutes))


@strawberry.type
class EventsMutation:
    @strawberry.mutation(description="Send a run's execution chain to the LLM and return root-cause notes.")
    async def analyze_run(self, info: Info, id: strawberry.ID) -> RunAnalysis:
        p = _p(info)
        e = await p.executions.get(tenant_id=p.tenant_id, execution_id=str(id))
        messages = [{"role": "system", "content": ANALYSIS_PROMPT},
                    {"role": "user", "content": chain_summary(e)}]
        model = p.settings.llm.default_model or "default"
        # Attributed to the caller and the run's agent (budgets and usage, issue 4).
        with call_scope(CallScope(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=e.agent_id)):
            c = await p.llm.complete(messages, model=model, temperature=0.0, max_tokens=400)
        notes = str(c.message.get("content") or "").strip() or "(the model returned no notes)"
        return RunAnalysis(run_id=e.id, status=e.status, notes=notes, model=c.model)


@strawberry.type
class EventsSubscription:
    @strawberry.subscription(description="Status events of a run from `after` (default: the start) until it ends.")
    async def run_events(self, info: Info, run_id: str, after: str | None = None) -> AsyncGenerator[RunEventItem, None]:
        stream = await run_event_stream(_p(info), run_id, after=after)
        async for event in stream:
            if event is not None:
                yield RunEventItem.of(event)

    @strawberry.subscription(description="New status events of every run of the tenant (never ends).")
    async def tenant_run_events(self, info: Info) -> AsyncGenerator[RunEventItem, None]:
        p = _p(info)
        async for event in RunEventBus(p.redis).follow(tenant_stream_key(p.tenant_id), after="$",
                                                       stop_at_terminal=False):
            if event is not None:
                yield RunEventItem.of(event)


__all__ = ["EventsMutation", "EventsQuery", "EventsSubscription", "chain_summary"]
