"""Run statistics for the Monitoring tab: runs by status over time, cost, latency percentiles, costly agents.

Computed from Execution nodes (``started_at``, ``status``, ``latency_ms``,
``cost_usd``, ``agent_id``) of one tenant in a time window. The graph returns the
few properties needed and Python buckets them: Cypher date arithmetic differs
between ArcadeDB and Neo4j, while ISO 8601 UTC strings compare correctly as text,
so the window filter stays in the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from graph._client import GraphClient

#: Most buckets returned (bounds memory and plot size; ~1 week at 5-min buckets would be 2016).
MAX_BUCKETS = 2000


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))  # ceil(q/100 * n)
    return float(ordered[rank - 1])


@dataclass
class RunBucket:
    """Runs started in ``[start, start + bucket)``: counts by status, cost, latency percentiles (ms)."""

    start: str
    counts: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None


@dataclass
class AgentCost:
    """Spend of one agent in the window."""

    agent_id: str
    runs: int
    cost_usd: float


@dataclass
class RunStats:
    """Window summary: ``buckets`` oldest first; totals; ``top_agents`` by cost, highest first."""

    since: str
    bucket_minutes: int
    buckets: list[RunBucket]
    total_runs: int
    by_status: dict[str, int]
    cost_usd: float
    p50_ms: float | None
    p95_ms: float | None
    top_agents: list[AgentCost]


def _floor(ts: datetime, start: datetime, width: timedelta) -> datetime:
    return start + ((ts - start) // width) * width


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(timezone.utc)


async def run_stats(client: GraphClient, *, tenant_id: str, since_hours: float = 24.0, bucket_minutes: int = 60,
                    now: datetime | None = None, top: int = 5) -> RunStats:
    """Statistics of the tenant's runs started in the last ``since_hours``.

    Args:
        since_hours: window length, hours (> 0).
        bucket_minutes: bucket width, minutes (>= 1); widened when the window would exceed
            :data:`MAX_BUCKETS` buckets.
        now: end of the window (tests); default the current UTC time.
        top: how many agents ``top_agents`` lists.

    Latency percentiles count finished runs only (those with ``latency_ms``).
    """
    now = now or datetime.now(timezone.utc)
    bucket_minutes = max(1, int(bucket_minutes))
    since_hours = max(since_hours, 1 / 60)
    if since_hours * 60 / bucket_minutes > MAX_BUCKETS:
        bucket_minutes = int(-(-since_hours * 60 // MAX_BUCKETS))
    width = timedelta(minutes=bucket_minutes)
    start = now - timedelta(hours=since_hours)
    # Align buckets to whole multiples of the width since the epoch, so plots do not shift each refresh.
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    start = _floor(start, epoch, width)
    rows = await client.query(
        """
        MATCH (e:Execution) WHERE e.tenant_id = $tid AND e.started_at >= $since
          AND coalesce(e.sandbox, false) = false
        RETURN e.started_at AS at, e.status AS status, e.latency_ms AS latency_ms, e.cost_usd AS cost_usd,
               e.agent_id AS agent_id
        """,
        tid=tenant_id, since=start.isoformat(timespec="milliseconds"))
    buckets: dict[datetime, RunBucket] = {}
    lat: dict[datetime, list[float]] = {}
    t = start
    while t <= now:
        buckets[t] = RunBucket(start=t.isoformat(timespec="seconds"))
        lat[t] = []
        t += width
    by_status: dict[str, int] = {}
    agents: dict[str, AgentCost] = {}
    all_lat: list[float] = []
    total_cost = 0.0
    for r in rows:
        try:
            at = _parse(r["at"])
        except (TypeError, ValueError):
            continue
        key = _floor(at, start, width)
        b = buckets.get(key)
        if b is None:  # started after `now` (clock skew between processes)
            continue
        status = r["status"] or "unknown"
        cost = float(r["cost_usd"] or 0.0)
        b.counts[status] = b.counts.get(status, 0) + 1
        b.cost_usd += cost
        by_status[status] = by_status.get(status, 0) + 1
        total_cost += cost
        a = agents.setdefault(r["agent_id"] or "?", AgentCost(agent_id=r["agent_id"] or "?", runs=0, cost_usd=0.0))
        a.runs += 1
        a.cost_usd += cost
        if r["latency_ms"] is not None:
            lat[key].append(float(r["latency_ms"]))
            all_lat.append(float(r["latency_ms"]))
    for key, b in buckets.items():
        b.p50_ms, b.p95_ms = percentile(lat[key], 50), percentile(lat[key], 95)
    ranked = sorted(agents.values(), key=lambda a: (-a.cost_usd, -a.runs, a.agent_id))[:top]
    return RunStats(since=start.isoformat(timespec="seconds"), bucket_minutes=bucket_minutes,
                    buckets=list(buckets.values()), total_runs=sum(by_status.values()), by_status=by_status,
                    cost_usd=total_cost, p50_ms=percentile(all_lat, 50), p95_ms=percentile(all_lat, 95),
                    top_agents=ranked)


__all__ = ["AgentCost", "RunBucket", "RunStats", "percentile", "run_stats"]
