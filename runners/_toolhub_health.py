"""Tool health: "Test connection", the scheduled health check, and usage statistics flushing.

* :meth:`ToolHealth.test` probes one tool now: an OpenAPI tool with a GET of its
  ``health_path``, else of a *safe* operation (a GET with no required parameter,
  health/status/ping-like names first), else of its base URL - through the
  tool's own client, so credentials are checked too; an external MCP server by
  opening a session and listing its tools. The outcome is stored on the Tool.
* :meth:`ToolHealth.start` runs a background task in the API process that
  checks every tool each ``health_interval_s`` and writes pending call
  statistics to the graph each ``stats_flush_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agentgraph.errors import AgentGraphError
from graph import Tool

from runners._toolhub import ToolHub, _config
from runners._toolhub_config import OperationRules
from runners._toolhub_http import CredentialAuth, ProbeResult, build_upstream_client, probe
from runners._mcp import MCPToolSession
from runners._periodic import Periodic

__all__ = ["ToolHealth", "safe_probe_path"]

log = logging.getLogger("agentgraph.toolhub")
_HEALTHY_NAMES = ("health", "healthz", "status", "ping", "ready", "version")


def safe_probe_path(tool: Tool) -> tuple[str, bool]:
    """The path "Test connection" GETs, and whether any non-5xx answer counts as up.

    Returns:
        ``(path, lenient)``: ``health_path`` when configured; else the first
        allowed GET operation without path template or required parameter
        (health-like names first); else ``"/"`` with ``lenient=True`` (the
        base URL need not be a route).
    """
    cfg = _config(tool)
    if cfg.health_path:
        return cfg.health_path, False
    rules = OperationRules(allow=tool.allow, deny=tool.deny)
    spec = tool.openapi or {}
    candidates: list[tuple[int, str]] = []
    for path, item in (spec.get("paths") or {}).items():
        op = item.get("get") if isinstance(item, dict) else None
        if not isinstance(op, dict) or "{" in path:
            continue
        params = list(op.get("parameters") or []) + list(item.get("parameters") or [])
        if any(p.get("required") for p in params if isinstance(p, dict)):
            continue
        if not rules.allows(str(op.get("operationId", "")), "GET", path, tuple(op.get("tags") or ())):
            continue
        name = f"{path} {op.get('operationId', '')}".lower()
        candidates.append((0 if any(h in name for h in _HEALTHY_NAMES) else 1, path))
    if candidates:
        return min(candidates)[1], False
    return "/", True


class ToolHealth:
    """Connection tests, scheduled health checks and statistics flushing for a :class:`ToolHub`.

    Args:
        hub: the tool hub.
        health_interval_s: period of the scheduled check, seconds (0: no schedule).
        stats_flush_s: period of statistics flushing, seconds (0: only on demand).
    """

    def __init__(self, hub: ToolHub, *, health_interval_s: float = 300.0, stats_flush_s: float = 10.0) -> None:
        self.hub = hub
        self.health_interval_s = health_interval_s
        self.stats_flush_s = stats_flush_s
        self._loops: list[Periodic] = []
        self._flush_lock = asyncio.Lock()
        self.checks_run = 0  # completed scheduled rounds (tests read it)

    async def test(self, *, tenant_id: str, tool_id: str, store: bool = True) -> ProbeResult:
        """Probe one tool now (see module docstring) and store the outcome on the Tool.

        Raises:
            NotFoundError: no such tool in the tenant.
        """
        tool = await self.hub.tools.get(tenant_id=tenant_id, tool_id=tool_id)
        try:
            creds = await self.hub._creds(tenant_id, tool_id)
        except AgentGraphError as exc:
            result = ProbeResult(False, "down", 0.0, None, exc.message)
        else:
            cfg = _config(tool)
            if tool.kind == "mcp" and tool.server_url:
                result = await self._test_mcp(tool.server_url, CredentialAuth(creds, timeout_s=cfg.timeout_s),
                                              cfg.timeout_s)
            else:
                path, lenient = safe_probe_path(tool)
                # One attempt: a health check reports the state now; retries would hide flapping.
                client = build_upstream_client(tool.base_url, creds=creds, config=cfg.model_copy(
                    update={"max_attempts": 1}), limiter=None, tenant_id=tenant_id, tool_id=tool_id)
                try:
                    result = await probe(client, path, any_status_ok=lenient)
                finally:
                    await client.aclose()
                    await client.auth.aclose()  # type: ignore[union-attr]
        if store:
            await self.hub.repo.set_health(tenant_id=tenant_id, tool_id=tool_id, status=result.status,
                                           latency_ms=result.latency_ms, message=result.message)
        return result

    @staticmethod
    async def _test_mcp(url: str, auth: CredentialAuth, timeout_s: float) -> ProbeResult:
        started = time.perf_counter()
        try:
            async with MCPToolSession(url, timeout_s=timeout_s, auth=auth) as s:
                n = len(await s.list_tools())
        except AgentGraphError as exc:
            return ProbeResult(False, "down", (time.perf_counter() - started) * 1000, None, exc.message)
        finally:
            await auth.aclose()
        ms = (time.perf_counter() - started) * 1000
        return ProbeResult(True, "up", ms, None, f"MCP server answered: {n} tools listed.")

    async def check_all(self, *, tenant_id: str | None = None) -> dict[str, ProbeResult]:
        """Probe every tool of one tenant, or of every tenant (``None``: the scheduled check); one failure
        never stops the round."""
        out: dict[str, ProbeResult] = {}
        tools = await (self.hub.tools.list(tenant_id=tenant_id) if tenant_id else self.hub.tools.list_all_tenants())
        for tool in tools:
            try:
                out[tool.id] = await self.test(tenant_id=tool.tenant_id, tool_id=tool.id)
            except Exception:  # a tool deleted meanwhile, a graph hiccup: next round retries
                log.exception("health check of tool %s failed", tool.id)
        self.checks_run += 1
        return out

    async def flush_stats(self) -> int:
        """Write pending call statistics to the graph; returns how many tools were updated."""
        async with self._flush_lock:  # one read-modify-write per tool at a time
            batches = self.hub.pool.stats.drain()
            n = 0
            for (tenant_id, tool_id), batch in batches.items():
                try:
                    if await self.hub.repo.merge_stats(tenant_id=tenant_id, tool_id=tool_id,
                                                       latencies_ms=batch.latencies_ms, errors=batch.errors):
                        n += 1
                except Exception:
                    log.exception("could not store call statistics of tool %s", tool_id)
            return n

    def start(self) -> None:
        """Start the background loops (call from the API's event loop)."""
        if self.health_interval_s > 0:
            self._loops.append(Periodic(self.check_all, self.health_interval_s, name="toolhub-health"))
        if self.stats_flush_s > 0:
            self._loops.append(Periodic(self.flush_stats, self.stats_flush_s, name="toolhub-stats"))
        for loop in self._loops:
            loop.start()

    async def aclose(self) -> None:
        """Stop the loops and flush what is pending."""
        for loop in self._loops:
            await loop.stop()
        self._loops.clear()
        try:
            await self.flush_stats()
        except Exception:
            log.exception("final statistics flush failed")
