"""Builder against the real graph and Redis: ranking, refinement threads, repair attempt."""

from __future__ import annotations

import json

import pytest

from agentgraph.errors import InvalidSpecError
from agentgraph.testing import FunctionLLM



async def test_tool_ranking_prefers_crm_for_crm_intents(platform) -> None:
    s = await platform.builder.suggest_tools(tenant_id=platform.tenant_id, intent="look up a sales lead and its company")
    assert s and s[0].tool_id == "demo-crm" and 0.15 <= s[0].score <= 1.0
    assert "searchLeads" in s[0].operations
    none = await platform.builder.suggest_tools(tenant_id=platform.tenant_id, intent="bake sourdough bread at home")
    assert none == []


async def test_one_repair_attempt_then_success(platform) -> None:
    calls = []

    def fn(messages, info):
        calls.append(messages)
        if len(calls) == 1:
            return {"content": json.dumps({"name": "", "description": "x", "system_prompt": "y", "tools": []})}
        assert "invalid" in messages[-1]["content"] and "name" in messages[-1]["content"]
        return {"content": json.dumps({"name": "Fixed", "description": "x", "system_prompt": "y",
                                       "agent_type": "react", "tools": []})}

    platform.builder.llm = FunctionLLM(fn)
    r = await platform.builder.build(tenant_id=platform.tenant_id, message="an agent")
    assert r.spec.name == "Fixed" and r.attempts == 2 and len(calls) == 2


async def test_build_failed_after_repair(platform) -> None:
    platform.builder.llm = FunctionLLM(lambda m, i: {"content": "I cannot do JSON"})
    with pytest.raises(InvalidSpecError) as err:
        await platform.builder.build(tenant_id=platform.tenant_id, message="an agent")
    assert err.value.code == "BUILD_FAILED" and "Rephrase" in err.value.message
    with pytest.raises(InvalidSpecError):
        await platform.builder.build(tenant_id=platform.tenant_id, message="   ")
