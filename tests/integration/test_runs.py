"""Run failure modes are stored, not lost: timeout and LLM failure (real graph + Redis)."""

from __future__ import annotations

import asyncio

import pytest

from agentgraph.errors import LLMError, NotFoundError, UserError
from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM



async def _agent(p, name: str, timeout_s: float = 120.0) -> str:
    spec = AgentSpec(name=name, description="d", system_prompt="p", limits={"timeout_s": timeout_s})
    a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=f"{name}-{id(spec)}", name=name, description="d",
                                 agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return a.id


async def test_timeout_is_stored_as_timed_out_with_code(platform) -> None:
    async def slow(messages, info):
        await asyncio.sleep(5)
        return {"content": "too late"}

    platform.runs.runner.llm = FunctionLLM(slow)
    aid = await _agent(platform, "slow", timeout_s=0.3)
    e = await platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id, agent_id=aid, input="hi")
    assert e.status == "timed_out" and e.error_code == "RUN_TIMEOUT" and "timeout_s" in e.error
    assert e.latency_ms is not None and e.latency_ms < 3000
    stored = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=e.id)
    assert stored.status == "timed_out" and stored.ended_at


async def test_llm_failure_is_stored_with_partial_usage(platform) -> None:
    def boom(messages, info):
        raise LLMError("provider down")

    platform.runs.runner.llm = FunctionLLM(boom)
    aid = await _agent(platform, "broken")
    e = await platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id, agent_id=aid, input="hi")
    assert (e.status, e.error_code, e.error) == ("failed", "LLM_FAILED", "provider down")
    assert any(s["name"] == "agent.run" and s["status"] == "ERROR" for s in e.spans)


async def test_bad_input_and_unknown_agent_store_nothing(platform) -> None:
    before = len(await platform.executions.list(tenant_id=platform.tenant_id, limit=10_000))
    with pytest.raises(UserError, match="empty"):
        await platform.runs.run(tenant_id=platform.tenant_id, user_id=None, agent_id="x", input="  ")
    with pytest.raises(NotFoundError):
        await platform.runs.run(tenant_id=platform.tenant_id, user_id=None, agent_id="no-such-agent", input="hi")
    assert len(await platform.executions.list(tenant_id=platform.tenant_id, limit=10_000)) == before
