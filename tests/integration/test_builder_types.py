"""The builder drafts the built-in types (issue 7): real graph, Redis and embeddings; scripted models."""

from __future__ import annotations

import json

from agentgraph.spec import AgentSpec, AgentType
from agentgraph.testing import FunctionLLM, ScriptedLLM

TICKETS = "Every morning summarise yesterday's tickets into a report"


async def test_report_intent_becomes_scheduled_producer(platform) -> None:
    seen: list[dict] = []

    def fn(messages, info):
        seen.append({"system": messages[0]["content"], "schema": info["response_format"]["schema"]})
        return {"content": json.dumps({
            "name": "Daily ticket report", "description": "Summarises yesterday's tickets into a PDF report.",
            "system_prompt": "You summarise the support tickets of the previous day into a short report.",
            "agent_type": "producer", "tools": [], "schedule": "0 7 * * *"})}

    platform.builder.llm = FunctionLLM(fn)
    r = await platform.builder.build(tenant_id=platform.tenant_id, message=TICKETS)
    assert r.spec.agent_type == AgentType.producer and r.attempts == 1
    [trigger] = r.spec.triggers
    assert (trigger.kind, trigger.schedule, trigger.timezone, trigger.input) == ("calendar", "0 7 * * *", "UTC", TICKETS)
    # A real model is told what each type is for and may answer any AgentType value.
    assert '"producer" creates files' in seen[0]["system"] and "schedule:" in seen[0]["system"]
    assert set(seen[0]["schema"]["properties"]["agent_type"]["enum"]) == {t.value for t in AgentType}
    assert seen[0]["schema"]["properties"]["schedule"]["maxLength"] == 40
    assert AgentSpec.from_yaml(r.spec_yaml) == r.spec  # the draft saves as it is


async def test_scripted_model_still_lands_on_producer_with_schedule(platform) -> None:
    # The ScriptedLLM answers "react" (first enum value) and a non-cron schedule: the deterministic touches fix both.
    platform.builder.llm = ScriptedLLM()
    r = await platform.builder.build(tenant_id=platform.tenant_id, message=TICKETS)
    assert r.spec.agent_type == AgentType.producer
    assert [(t.name, t.schedule) for t in r.spec.triggers] == [("schedule", "0 8 * * *")]
    plain = await platform.builder.build(tenant_id=platform.tenant_id, message="look up a sales lead and its company")
    assert plain.spec.agent_type == AgentType.react and plain.spec.triggers == []


async def test_model_choices_of_qa_and_conversational_are_kept(platform) -> None:
    def draft(agent_type: str):
        return FunctionLLM(lambda m, i: {"content": json.dumps({
            "name": "Helper", "description": "Helps.", "system_prompt": "You help.", "agent_type": agent_type,
            "tools": [], "schedule": ""})})

    for agent_type in ("qa", "conversational"):
        platform.builder.llm = draft(agent_type)
        r = await platform.builder.build(tenant_id=platform.tenant_id, message="an assistant for new employees")
        assert r.spec.agent_type.value == agent_type and r.spec.triggers == []
