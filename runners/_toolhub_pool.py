"""MCP client sessions pooled per (tool, tenant), shared by every run; call statistics.

Opening an MCP session (HTTP connection, ``initialize`` handshake, ``tools/list``)
costs a few hundred milliseconds; :class:`MCPClientPool` keeps one open
:class:`~runners._mcp.MCPToolSession` per ``(tool_id, tenant_id)`` with its tool
list cached, and hands it to every run. A session is closed and reopened when
the tool changes (:meth:`MCPClientPool.invalidate`), when it broke (a transport
failure), or after ``max_idle_s`` without use; one idle longer than
``ping_after_idle_s`` is pinged before reuse (stateful external servers may have
dropped it).

Each session lives in its own task: anyio task groups inside the MCP client
must be exited by the task that entered them, and runs come and go in other tasks.

:class:`ToolStatsRecorder` collects the latency and outcome of each call for
``ToolHub.flush_stats`` to merge into the graph.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentgraph.errors import ToolError
from runners._mcp import MCPToolSession

__all__ = ["ToolEndpoint", "MCPClientPool", "PooledSession", "ToolStatsRecorder", "CallBatch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolEndpoint:
    """How to reach one tool's MCP server.

    Attributes:
        url: streamable-HTTP endpoint (the platform's ``/tools/{id}/mcp`` or an external server).
        auth: an ``httpx2.Auth`` adding credentials (external servers), or ``None``.
        timeout_s: timeout of each MCP request, seconds.
        allowed: tool-level filter of MCP tool names (allow/deny rules), ``None`` = all.
        rate_limit: coroutine ``() -> str | None`` run before each call; a returned
            text is a refusal message (external servers; OpenAPI tools are limited upstream).
    """

    url: str
    auth: Any = None
    timeout_s: float = 30.0
    allowed: Callable[[str], bool] | None = None
    rate_limit: Callable[[], Awaitable[str | None]] | None = None


Resolver = Callable[[str, str], Awaitable[ToolEndpoint]]


@dataclass
class CallBatch:
    """Calls of one tool since the last drain: latencies (ms) and error count."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


class ToolStatsRecorder:
    """In-memory per-tool call statistics, drained in batches into the graph."""

    def __init__(self) -> None:
        self._batches: dict[tuple[str, str], CallBatch] = {}

    def record(self, *, tenant_id: str, tool_id: str, latency_ms: float, ok: bool) -> None:
        """Count one call (``latency_ms`` wall time of the MCP call as the runner saw it)."""
        b = self._batches.setdefault((tenant_id, tool_id), CallBatch())
        b.latencies_ms.append(latency_ms)
        b.errors += 0 if ok else 1

    def drain(self) -> dict[tuple[str, str], CallBatch]:
        """Take every batch collected so far (``(tenant_id, tool_id) -> CallBatch``)."""
        out, self._batches = self._batches, {}
        return out


class PooledSession:
    """A shared session as the runner sees it: ``list_tools()`` and ``call_tool()``."""

    def __init__(self, pool: MCPClientPool, key: tuple[str, str], endpoint: ToolEndpoint) -> None:
        self._pool = pool
        self.key = key
        self.endpoint = endpoint
        self.session: MCPToolSession | None = None
        self.tools: list[dict[str, Any]] | None = None
        self.broken = False
        self.last_used = time.monotonic()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready), name=f"mcp-pool-{self.key[0]}",
                                         context=contextvars.Context())
        await ready

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        e = self.endpoint
        try:
            async with MCPToolSession(e.url, timeout_s=e.timeout_s, auth=e.auth) as s:
                self.session = s
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not isinstance(exc, (asyncio.CancelledError, Exception)):
                raise
        finally:
            self.session = None

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            except (asyncio.TimeoutError, Exception):
                self._task.cancel()

    async def list_tools(self) -> list[dict[str, Any]]:
        """Cached ``tools/list`` in OpenAI format, filtered by the tool's allow/deny rules."""
        if self.tools is None:
            s = self._require()
            try:
                listed = await s.list_tools()
            except ToolError:
                self.broken = True
                raise
            allowed = self.endpoint.allowed
            self.tools = [t for t in listed if allowed is None or allowed(t["function"]["name"])]
        return [dict(t) for t in self.tools]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call through the shared session; records latency and outcome for the tool's stats.

        Raises:
            ToolError: refused by the rate limit or the tool's rules, or the call failed.
        """
        self.last_used = time.monotonic()
        tenant_id, tool_id = self.key[1], self.key[0]
        if self.endpoint.allowed is not None and not self.endpoint.allowed(name):
            raise ToolError(f"tool {name!r} of {tool_id!r} is denied by the tool's operation rules.")
        started = time.perf_counter()
        ok = False
        try:
            if self.endpoint.rate_limit is not None:
                refusal = await self.endpoint.rate_limit()
                if refusal:
                    raise ToolError(f"tool {name!r} failed (HTTP 429): {refusal}")
            s = self._require()
            text = await s.call_tool(name, arguments)
            ok = True
            return text
        finally:
            if self.session is not None and self.session.broken:
                self.broken = True  # transport failure: the pool reopens it for the next run
            self._pool.stats.record(tenant_id=tenant_id, tool_id=tool_id,
                                    latency_ms=(time.perf_counter() - started) * 1000, ok=ok)

    def _require(self) -> MCPToolSession:
        if self.session is None:
            self.broken = True
            raise ToolError(f"the MCP session to {self.endpoint.url} is closed; the next run reopens it.")
        return self.session


class MCPClientPool:
    """Shared MCP sessions per ``(tool_id, tenant_id)`` (see module docstring).

    Args:
        resolver: ``async resolver(tool_id, tenant_id) -> ToolEndpoint``.
        stats: where call statistics go (a new recorder by default).
        max_idle_s: close sessions unused for this long, seconds.
        ping_after_idle_s: ping a session idle longer than this before reuse, seconds.
    """

    def __init__(self, resolver: Resolver, *, stats: ToolStatsRecorder | None = None, max_idle_s: float = 600.0,
                 ping_after_idle_s: float = 60.0) -> None:
        self.resolver = resolver
        self.stats = stats or ToolStatsRecorder()
        self.max_idle_s = max_idle_s
        self.ping_after_idle_s = ping_after_idle_s
        self._sessions: dict[tuple[str, str], PooledSession] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.opened = 0  # sessions opened since start (tests and benchmarks read it)

    async def session(self, tool_id: str, tenant_id: str) -> PooledSession:
        """The open shared session of a tool for a tenant, opening it on first use.

        Raises:
            ToolError: the tool's MCP server cannot be reached.
            NotFoundError: the tool does not exist (from the resolver).
        """
        key = (tool_id, tenant_id)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = self._sessions.get(key)
            if current is not None and not current.broken:
                idle = time.monotonic() - current.last_used
                if idle > self.max_idle_s or (idle > self.ping_after_idle_s and not await self._ping(current)):
                    current.broken = True
            if current is not None and current.broken:
                self._sessions.pop(key, None)
                await current.close()
                current = None
            if current is None:
                current = PooledSession(self, key, await self.resolver(tool_id, tenant_id))
                await current.open()
                self.opened += 1
                self._sessions[key] = current
            current.last_used = time.monotonic()
            return current

    @staticmethod
    async def _ping(s: PooledSession) -> bool:
        try:
            assert s.session is not None and s.session._client is not None
            await asyncio.wait_for(s.session._client.ping(), timeout=5)
            return True
        except Exception:
            return False

    async def invalidate(self, tool_id: str) -> None:
        """Close every session of a tool (its config, auth or operations changed)."""
        for key in [k for k in self._sessions if k[0] == tool_id]:
            s = self._sessions.pop(key, None)
            if s is not None:
                await s.close()

    async def aclose(self) -> None:
        """Close every pooled session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            await s.close()
