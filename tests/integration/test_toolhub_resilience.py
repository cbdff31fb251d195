"""Retries with backoff, rate limits, response cap and OAuth 2 token reuse on the upstream path.

Same set-up as test_toolhub_documents (stub from the spec behind an MCPToolHost); the
stub injects failures and counts what actually reached it.
"""

from __future__ import annotations

import time

import pytest

from agentgraph.errors import ToolError
from runners._mcp import MCPToolSession
from runners._toolhub_config import ToolConfig
from runners._toolhub_http import ToolRateLimiter
from tests.integration.test_toolhub_documents import CASES, served

pytestmark = pytest.mark.timeout(120)
MUSEUM = CASES[1]
FAST = dict(backoff_initial_s=0.01, backoff_max_s=0.05)


async def _call(s, name="listSpecialEvents", args=None) -> str:
    async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
        return await session.call_tool(name, args if args is not None else {"limit": 1})


@pytest.mark.parametrize("status", [429, 503, 502])
async def test_get_is_retried_on_429_and_5xx(status: int):
    async with served(MUSEUM, config=ToolConfig(max_attempts=3, **FAST)) as s:
        s.stub.fail_next(status, count=2)
        assert "Pirate Coding Workshop" in await _call(s)
    assert len(s.stub.op_calls("listSpecialEvents")) == 3  # two failures, then success


async def test_retries_stop_after_max_attempts_and_report_the_status():
    async with served(MUSEUM, config=ToolConfig(max_attempts=2, **FAST)) as s:
        s.stub.fail_next(503, count=5)
        with pytest.raises(ToolError, match="HTTP 503"):
            await _call(s)
    assert len(s.stub.op_calls("listSpecialEvents")) == 2


async def test_post_is_not_retried_on_500_but_is_on_503():
    body = {"name": "Gala", "location": "Hall", "eventDescription": "x", "dates": ["2024-10-01"], "price": 10}
    async with served(MUSEUM, config=ToolConfig(max_attempts=3, **FAST)) as s:
        s.stub.fail_next(500, count=1)
        with pytest.raises(ToolError, match="HTTP 500"):
            await _call(s, "createSpecialEvent", body)
        assert len(s.stub.op_calls("createSpecialEvent")) == 1  # might have been applied: no retry
        s.stub.fail_next(503, count=1)
        assert "Pirate Coding Workshop" in await _call(s, "createSpecialEvent", body)
        assert len(s.stub.op_calls("createSpecialEvent")) == 3


async def test_retry_after_header_is_honoured_up_to_the_cap():
    async with served(MUSEUM, config=ToolConfig(max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.6)) as s:
        s.stub.fail_next(429, count=1, retry_after="0.5")
        started = time.perf_counter()
        await _call(s)
        assert time.perf_counter() - started >= 0.5
        s.stub.fail_next(429, count=1, retry_after="3600")  # capped at backoff_max_s
        started = time.perf_counter()
        await _call(s)
        assert time.perf_counter() - started < 3


async def test_rate_limit_per_tool_refuses_without_calling_the_api():
    limiter = ToolRateLimiter("async+memory://", tenant_limit=None)
    async with served(MUSEUM, config=ToolConfig(rate_limit="3/minute", **FAST), limiter=limiter) as s:
        for _ in range(3):
            await _call(s)
        with pytest.raises(ToolError) as info:
            await _call(s)
    assert "HTTP 429" in info.value.message and "3 per 1 minute" in info.value.message
    assert "tool 't'" in info.value.message
    assert len(s.stub.op_calls("listSpecialEvents")) == 3


async def test_rate_limit_per_tenant_spans_tools():
    limiter = ToolRateLimiter("async+memory://", tenant_limit="2/minute")
    d1 = await limiter.acquire(tenant_id="acme", tool_id="a", tool_limit=None)
    d2 = await limiter.acquire(tenant_id="acme", tool_id="b", tool_limit=None)
    d3 = await limiter.acquire(tenant_id="acme", tool_id="c", tool_limit=None)
    other = await limiter.acquire(tenant_id="globex", tool_id="a", tool_limit=None)
    assert (d1.ok, d2.ok, d3.ok, other.ok) == (True, True, False, True)
    assert d3.scope == "tenant" and 0 < d3.retry_after_s <= 60
    async with served(MUSEUM, config=ToolConfig(**FAST), limiter=ToolRateLimiter(tenant_limit="1/minute")) as s:
        await _call(s)
        with pytest.raises(ToolError, match="tenant 'tenant-a'"):
            await _call(s)


async def test_rate_limit_in_redis_is_shared(services):
    uri = "async+" + services.redis_url
    a, b = ToolRateLimiter(uri, tenant_limit=None), ToolRateLimiter(uri, tenant_limit=None)
    tool = f"shared-{time.time_ns()}"  # fresh key per run
    assert (await a.acquire(tenant_id="t", tool_id=tool, tool_limit="2/minute")).ok
    assert (await b.acquire(tenant_id="t", tool_id=tool, tool_limit="2/minute")).ok
    assert not (await a.acquire(tenant_id="t", tool_id=tool, tool_limit="2/minute")).ok  # two processes, one budget


async def test_response_size_cap():
    async with served(MUSEUM, config=ToolConfig(max_response_bytes=5_000, **FAST)) as s:
        assert "Pirate" in await _call(s)
        s.stub.pad_bytes = 20_000
        with pytest.raises(ToolError) as info:
            await _call(s)
    assert "HTTP 502" in info.value.message and "max_response_bytes (5000 bytes)" in info.value.message


async def test_timeout_is_reported():
    async with served(MUSEUM, config=ToolConfig(timeout_s=0.3, max_attempts=1, **FAST)) as s:
        s.stub.delay_s = 1.0
        with pytest.raises(ToolError, match="timed out"):
            await _call(s)


async def test_oauth2_token_is_fetched_once_and_refreshed_when_expired():
    payments = CASES[3]
    async with served(payments) as s:
        for _ in range(3):
            await _call(s, "retrieveCustomer", {"customer": "cus_1"})
        assert s.stub.token_requests == 1  # cached across calls
        s.stub.issued.clear()  # the provider revoked every token: 401 -> fetch again once
        await _call(s, "retrieveCustomer", {"customer": "cus_1"})
        assert s.stub.token_requests == 2
    from tests.stubapi import Expect

    short = Expect(kind="oauth2_client_credentials", client_id="ci_live_1", client_secret="cs_live_secret_0123456789",
                   token_ttl_s=20)  # within authlib's 30 s leeway: every call refreshes first
    async with served(payments, expect=short) as s:
        await _call(s, "retrieveCustomer", {"customer": "cus_1"})
        await _call(s, "retrieveCustomer", {"customer": "cus_1"})
        assert s.stub.token_requests == 2
