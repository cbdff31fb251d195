"""Budget enforcement against the real Redis of the ``services`` fixture.

The race test fires 200 concurrent metered calls (LiteLLM ``mock_response``, priced
from LiteLLM's local cost map) at one budget: spend must stay <= 110 % of the limit,
calls past it fail with BUDGET_EXCEEDED naming the budget, and the 80 % warning
fires exactly once.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis

from agentgraph.budgets import Budget, BudgetGuard, CallScope, period_window
from agentgraph.costs import UsageMeter
from agentgraph.errors import BudgetExceededError
from agentgraph.gateway import LiteLLMGateway
from agentgraph.metering import MeteredGateway, call_scope

MODELS = [{"model_name": "gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-test"}}]
MSG = [{"role": "user", "content": "Summarise the quarterly report in one line."}]
REPLY = "Revenue grew; costs fell."
# LiteLLM's mock reports 20 completion tokens whatever max_tokens says; the guard's
# estimate is only an upper bound when the provider honours max_tokens, so ask for 32.
MAX_TOKENS = 32


@pytest.fixture
async def rds(services):
    client = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(services.redis_url, max_connections=32))
    yield client
    await client.aclose()


def _gateway(rds, events: list) -> tuple[MeteredGateway, BudgetGuard]:
    async def sink(ev) -> None:
        events.append(ev)

    router = LiteLLMGateway(MODELS, num_retries=0)
    guard = BudgetGuard(rds)
    return MeteredGateway(router, router=router, guard=guard, meter=UsageMeter(rds), default_tenant="t",
                          on_event=sink), guard


async def test_budget_race_200_concurrent_calls_never_exceed_110_percent(rds) -> None:
    events: list = []
    gw, guard = _gateway(rds, events)
    tenant = f"race-{uuid.uuid4().hex[:6]}"
    scope = CallScope(tenant_id=tenant, user_id="ada", agent_id="agent-1")
    with call_scope(scope):
        one = await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)  # no budget yet
    assert one.cost_usd > 0
    limit = one.cost_usd * 60  # room for ~60 calls out of 200
    budget = Budget(id=f"bud-{tenant}", tenant_id=tenant, name="Agent-1 daily", scope="agent", scope_id="agent-1",
                    period="day", limit_usd=limit)
    await guard.put(budget)

    async def call() -> str:
        with call_scope(scope):
            try:
                await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)
                return "ok"
            except BudgetExceededError as exc:
                assert "Agent-1 daily" in exc.message and "110%" in exc.message
                return "blocked"

    outcomes = await asyncio.gather(*(call() for _ in range(200)))
    await gw.drain()
    usage = await guard.usage(budget)
    assert usage.spent_usd <= limit * 1.1 + 1e-12, (usage.spent_usd, limit)
    assert usage.reserved_usd == pytest.approx(0.0, abs=1e-12)  # every reservation settled
    ok = outcomes.count("ok")
    assert outcomes.count("blocked") > 0 and ok >= 50  # blocks, but not absurdly early
    assert usage.spent_usd == pytest.approx(ok * one.cost_usd, rel=1e-6)
    kinds = [e.kind for e in events]
    assert kinds.count("warn") == 1 and kinds.count("blocked") == 1  # once per period each
    warn = next(e for e in events if e.kind == "warn")
    assert warn.spent_usd >= 0.8 * limit and warn.budget.id == budget.id
    # The budget's period and the usage counters agree on the spend (per agent, per day).
    rows = await UsageMeter(rds).report(tenant_id=tenant, dimension="agent", days=1)
    assert rows[0].key == "agent-1" and rows[0].calls == ok + 1


async def test_warn_at_80_percent_and_block_message(rds) -> None:
    events: list = []
    gw, guard = _gateway(rds, events)
    tenant = f"warn-{uuid.uuid4().hex[:6]}"
    with call_scope(CallScope(tenant_id=tenant, user_id="bob")):
        one = await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)
        budget = Budget(id=f"bud-{tenant}", tenant_id=tenant, name="Bob weekly", scope="user", scope_id="bob",
                        period="week", limit_usd=one.cost_usd * 4.9)
        await guard.put(budget)
        for _ in range(3):
            await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)
        await gw.drain()
        assert events == []  # 61 %: no warning yet
        await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)
        await gw.drain()
        assert [e.kind for e in events] == ["warn"]  # 82 %
        assert events[0].payload()["event"] == "budget.warn"
        for _ in range(10):
            try:
                await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)
            except BudgetExceededError as exc:
                assert exc.code == "BUDGET_EXCEEDED"
                assert "Bob weekly" in exc.message and "user 'bob'" in exc.message and "updateBudget" in exc.message
                assert period_window("week")[2].isoformat() in exc.message
                break
        else:
            pytest.fail("the budget never blocked")
    # Another user of the tenant is not affected by Bob's budget.
    with call_scope(CallScope(tenant_id=tenant, user_id="carol")):
        await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=REPLY)


async def test_failed_call_releases_its_reservation(rds) -> None:
    gw, guard = _gateway(rds, [])
    tenant = f"rel-{uuid.uuid4().hex[:6]}"
    budget = Budget(id=f"bud-{tenant}", tenant_id=tenant, name="T", scope="tenant", scope_id=tenant, period="month",
                    limit_usd=1.0)
    await guard.put(budget)
    with call_scope(CallScope(tenant_id=tenant)), pytest.raises(Exception):
        await gw.complete(MSG, model="gpt-4o-mini", max_tokens=MAX_TOKENS, mock_response=Exception("provider down"))
    usage = await guard.usage(budget)
    assert usage.reserved_usd == 0.0 and usage.spent_usd == 0.0
