"""The real local model (llama.cpp server + Gemma 3 270M): structure only.

It is a small base model, so the prose is weak; what must hold is that the builder
gets a valid AgentSpec out of it through structured output and that a run on it
completes and is stored with its execution chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from agentgraph.gateway import LiteLLMGateway, build_gateway
from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec
from agentgraph.stack import llm_service
from agentgraph.supervisor import Supervisor, free_port

pytestmark = pytest.mark.local_llm


@pytest.fixture(scope="module")
def local_settings(services: Settings, platform_url: str) -> Iterator[Settings]:
    settings = services.model_copy(deep=True)
    settings.llm.scripted = False
    settings.llm.local_port = free_port()
    settings.demo.register_on_start = False
    sup = Supervisor(settings.data_dir / "logs")
    try:
        sup.start(llm_service(settings))
        yield settings
    finally:
        sup.stop_all()


@pytest.fixture(scope="module")
async def local_platform(local_settings: Settings) -> AsyncIterator:
    from api._platform import Platform

    gateway = build_gateway(local_settings)
    assert isinstance(gateway, LiteLLMGateway)
    platform = await Platform.start(local_settings, llm=gateway)
    try:
        yield platform
    finally:
        await platform.close()


async def test_local_model_builds_valid_spec_and_run_completes(local_platform) -> None:
    p = local_platform
    result = await p.builder.build(
        tenant_id=p.tenant_id, message="I need an agent that looks up a lead in our CRM and drafts a follow-up email"
    )
    spec = result.spec
    assert isinstance(spec, AgentSpec)
    assert AgentSpec.from_yaml(spec.to_yaml()) == spec
    assert result.suggestions and result.suggestions[0].tool_id == "demo-crm"
    assert set(spec.tool_ids) <= {s.tool_id for s in result.suggestions}  # only ranked candidates
    spec.limits.timeout_s = 300
    spec.model.max_tokens = 64  # keep the run short on 2 cores
    agent, version = await p.agents.create(
        tenant_id=p.tenant_id, agent_id="local-llm-check", name=spec.name, description=spec.description,
        agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids, created_by=p.user_id,
        publish=True,
    )
    execution = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent.id,
                                 input="Find lead Ada Lovelace and draft a follow-up")
    assert execution.status == "succeeded", execution.error
    assert execution.output and execution.completion_tokens > 0 and execution.prompt_tokens > 0
    assert execution.model
    assert any(s["name"] == "llm.call" for s in execution.spans)
    stored = await p.executions.get(tenant_id=p.tenant_id, execution_id=execution.id)
    assert stored.status == "succeeded" and stored.version == version.version


async def test_local_model_drafts_for_type_intents_are_valid(local_platform) -> None:
    """Issue 7, structure only: the real model's draft for a scheduled report is a valid spec with a schedule."""
    from agentgraph.spec import AgentType

    p = local_platform
    r = await p.builder.build(tenant_id=p.tenant_id, message="Every morning summarise yesterday's tickets into a report")
    assert r.spec.agent_type in set(AgentType) and AgentSpec.from_yaml(r.spec.to_yaml()) == r.spec
    assert [t.kind for t in r.spec.triggers] == ["calendar"]  # builder._types_draft: recurring requests
    assert r.spec.agent_type != AgentType.react  # a react draft of a report request becomes a producer
