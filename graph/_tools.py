"""Tool-hub writes on Tool nodes: settings, sealed credentials, health, usage statistics.

The sealed credentials (``secrets_enc``, a Fernet token made by the runners'
tool hub) are read and written only here, never returned inside a ``Tool``
record, so no API layer can serialise them by accident.
"""

from __future__ import annotations

import json
import math
from typing import Any

from agentgraph.errors import NotFoundError

from graph._client import GraphClient
from graph._models import Tool, ToolOperation, now_iso
from graph._card_cache import forget_tools

__all__ = ["ToolHubRepository", "STATS_SAMPLE", "percentile"]

#: Latencies kept per tool for p50/p95: the most recent calls (older ones drop out).
STATS_SAMPLE = 1000


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class ToolHubRepository:
    """Tenant-scoped updates of Tool nodes for the tool hub."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def update(self, *, tenant_id: str, tool_id: str, props: dict[str, Any]) -> None:
        """Set properties on a tool (``None`` values remove them).

        Raises:
            NotFoundError: no such tool in the tenant.
        """
        rows = await self.client.write(
            "MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid SET t += $props RETURN t.id AS id",
            id=tool_id, tid=tenant_id, props=props,
        )
        if not rows:
            raise NotFoundError(f"Tool {tool_id!r} does not exist. List tools with `agentgraph tools list`.")
        if "name" in props:
            forget_tools()  # cached version tool lists carry the name (graph._card_cache)

    async def read_sealed(self, *, tenant_id: str, tool_id: str) -> str | None:
        """The tool's sealed credentials (Fernet token) or ``None``.

        Raises:
            NotFoundError: no such tool in the tenant.
        """
        rows = await self.client.query(
            "MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid RETURN t.secrets_enc AS s", id=tool_id, tid=tenant_id
        )
        if not rows:
            raise NotFoundError(f"Tool {tool_id!r} does not exist. List tools with `agentgraph tools list`.")
        return rows[0]["s"]

    async def all_sealed(self) -> list[tuple[str, str, str]]:
        """``(tenant_id, tool_id, token)`` of every tool with credentials (key rotation)."""
        rows = await self.client.query(
            "MATCH (t:Tool) WHERE t.secrets_enc IS NOT NULL RETURN t.tenant_id AS tid, t.id AS id, t.secrets_enc AS s"
        )
        return [(r["tid"], r["id"], r["s"]) for r in rows]

    async def replace_operations(self, *, tenant_id: str, tool_id: str, operations: list[ToolOperation]) -> None:
        """Replace a tool's ToolOperation nodes (external MCP servers re-listed)."""
        ops = [dict(o.model_dump(), id=f"{tool_id}:{o.operation_id}", position=i) for i, o in enumerate(operations)]

        async def work(tx: Any) -> None:
            await tx.run("MATCH (t:Tool {id: $id})-[:HAS_OPERATION]->(o:ToolOperation) WHERE t.tenant_id = $tid "
                         "DETACH DELETE o", id=tool_id, tid=tenant_id)
            await tx.run(
                """
                MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid
                UNWIND $ops AS op
                CREATE (o:ToolOperation {id: op.id, tenant_id: $tid, tool_id: $id, operation_id: op.operation_id,
                                         method: op.method, path: op.path, summary: op.summary, tags: op.tags,
                                         position: op.position})
                CREATE (t)-[:HAS_OPERATION]->(o)
                SET t.operation_count = size($ops)
                """, id=tool_id, tid=tenant_id, ops=ops)

        await self.client.transaction(work)

    async def set_health(self, *, tenant_id: str, tool_id: str, status: str, latency_ms: float | None,
                         message: str) -> None:
        """Store the outcome of a health check (``status`` up/degraded/down; ``latency_ms`` in ms)."""
        await self.update(tenant_id=tenant_id, tool_id=tool_id, props={
            "health_status": status, "health_latency_ms": None if latency_ms is None else round(latency_ms, 3),
            "health_message": message[:500], "health_checked_at": now_iso()})

    async def merge_stats(self, *, tenant_id: str, tool_id: str, latencies_ms: list[float], errors: int) -> Tool | None:
        """Add a batch of calls to a tool's statistics (calls, errors, p50/p95 latency).

        Percentiles are nearest-rank over the last :data:`STATS_SAMPLE` calls.
        Returns ``None`` when the tool no longer exists (deleted meanwhile).
        """
        async def work(tx: Any) -> dict[str, Any] | None:
            rows = await (await tx.run(
                "MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid "
                "RETURN t.stats_calls AS calls, t.stats_errors AS errors, t.stats_sample_json AS sample",
                id=tool_id, tid=tenant_id)).data()
            if not rows:
                return None
            r = rows[0]
            sample = (json.loads(r["sample"]) if r["sample"] else []) + [round(x, 3) for x in latencies_ms]
            sample = sample[-STATS_SAMPLE:]
            calls = int(r["calls"] or 0) + len(latencies_ms)
            errs = int(r["errors"] or 0) + errors
            res = await tx.run(
                """
                MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid
                SET t.stats_calls = $calls, t.stats_errors = $errors, t.stats_error_rate = $rate,
                    t.stats_p50_ms = $p50, t.stats_p95_ms = $p95, t.stats_sample_json = $sample,
                    t.stats_updated_at = $ts
                RETURN properties(t) AS t
                """,
                id=tool_id, tid=tenant_id, calls=calls, errors=errs, rate=errs / calls if calls else 0.0,
                p50=percentile(sample, 50), p95=percentile(sample, 95), sample=json.dumps(sample), ts=now_iso())
            return (await res.data())[0]["t"]

        props = await self.client.transaction(work)
        if props is None:
            return None
        props.pop("operation_count", None)
        return Tool(**props)
