"""runStats bucketing without a graph: a fake client returns Execution rows."""

from __future__ import annotations

from datetime import datetime, timezone

from graph import run_stats

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


class FakeClient:
    def __init__(self, rows):
        self.rows, self.calls = rows, []

    async def query(self, cypher, **params):
        self.calls.append(params)
        return [r for r in self.rows if r["at"] >= params["since"]]


def _row(at: str, status: str, latency, cost: float, agent: str) -> dict:
    return {"at": at, "status": status, "latency_ms": latency, "cost_usd": cost, "agent_id": agent}


async def test_buckets_totals_percentiles_and_top_agents() -> None:
    rows = [_row("2026-01-01T11:01:00.000+00:00", "succeeded", 100.0, 0.01, "a"),
            _row("2026-01-01T11:02:00.000+00:00", "failed", 300.0, 0.02, "b"),
            _row("2026-01-01T11:31:00.000+00:00", "succeeded", 200.0, 0.05, "b"),
            _row("2026-01-01T11:59:59.000+00:00", "queued", None, 0.0, "a"),
            _row("2026-01-01T09:00:00.000+00:00", "succeeded", 1.0, 9.0, "old")]  # outside the window
    client = FakeClient(rows)
    s = await run_stats(client, tenant_id="t", since_hours=1, bucket_minutes=30, now=NOW)
    assert client.calls[0] == {"tid": "t", "since": "2026-01-01T11:00:00.000+00:00"}
    assert [b.start for b in s.buckets] == ["2026-01-01T11:00:00+00:00", "2026-01-01T11:30:00+00:00",
                                            "2026-01-01T12:00:00+00:00"]
    assert s.buckets[0].counts == {"succeeded": 1, "failed": 1} and s.buckets[1].counts == {"succeeded": 1, "queued": 1}
    assert (s.buckets[0].p50_ms, s.buckets[0].p95_ms) == (100.0, 300.0)
    assert s.total_runs == 4 and s.by_status == {"succeeded": 2, "failed": 1, "queued": 1}
    assert round(s.cost_usd, 6) == 0.08 and (s.p50_ms, s.p95_ms) == (200.0, 300.0)  # queued run has no latency
    assert [(a.agent_id, a.runs, round(a.cost_usd, 6)) for a in s.top_agents] == [("b", 2, 0.07), ("a", 2, 0.01)]


async def test_bucket_width_is_widened_for_long_windows() -> None:
    s = await run_stats(FakeClient([]), tenant_id="t", since_hours=24 * 30, bucket_minutes=1, now=NOW)
    assert s.bucket_minutes >= 22 and len(s.buckets) <= 2001 and s.total_runs == 0 and s.p50_ms is None
