"""MCPClientPool: sessions shared across runs per (tool, tenant), reopened when invalidated or broken."""

from __future__ import annotations

import asyncio

import pytest

from runners._toolhub_pool import MCPClientPool, ToolEndpoint
from tests.integration.test_toolhub_documents import CASES, served

pytestmark = pytest.mark.timeout(120)


async def test_sessions_are_shared_per_tool_and_tenant():
    async with served(CASES[1]) as s:
        resolved: list[tuple[str, str]] = []

        async def resolver(tool_id: str, tenant_id: str) -> ToolEndpoint:
            resolved.append((tool_id, tenant_id))
            return ToolEndpoint(url=f"{s.platform_url}/tools/{tool_id}/mcp", allowed=lambda n: n != "deleteSpecialEvent")

        pool = MCPClientPool(resolver)
        try:
            first = await pool.session("t", "acme")
            tools = {t["function"]["name"] for t in await first.list_tools()}
            assert "listSpecialEvents" in tools and "deleteSpecialEvent" not in tools  # tool-level rules
            # Ten "runs" at once: one session, opened once.
            sessions = await asyncio.gather(*(pool.session("t", "acme") for _ in range(10)))
            assert all(x is first for x in sessions) and pool.opened == 1
            texts = await asyncio.gather(*(x.call_tool("listSpecialEvents", {"limit": 1}) for x in sessions))
            assert all("Pirate" in t for t in texts)
            other = await pool.session("t", "globex")  # another tenant: its own session
            assert other is not first and pool.opened == 2
            batches = pool.stats.drain()
            assert len(batches[("acme", "t")].latencies_ms) == 10 and batches[("acme", "t")].errors == 0
            await pool.invalidate("t")
            again = await pool.session("t", "acme")
            assert again is not first and pool.opened == 3
            again.broken = True  # e.g. a transport failure seen during a call
            assert await pool.session("t", "acme") is not again and pool.opened == 4
            assert resolved.count(("t", "acme")) == 3
        finally:
            await pool.aclose()
