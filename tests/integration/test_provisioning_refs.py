"""Provisioning checks the agents a version runs as children (issue 7, helper V).

Real graph. An agent created without ``saveAgent`` (here: the repository, as templates,
clones and the CLI do) whose team members / workflow agent steps / delegates are
missing, not active or itself fails provisioning with one sentence per problem; once
they are fixed, retrying provisioning activates it. ``saveAgent`` uses the same rule.
"""

from __future__ import annotations

import pytest

from agentgraph.errors import NotFoundError
from agentgraph.spec import AgentSpec


async def _create(p, aid: str, spec: AgentSpec, publish: bool) -> None:
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id, publish=publish)


def _member(name: str) -> AgentSpec:
    return AgentSpec(name=name, description="member", system_prompt="helper")


async def test_provisioning_names_each_bad_agent_and_retry_fixes_it(platform) -> None:
    s = str(id(platform) % 1000000)
    draft, missing, ok, me = f"draft-{s}", f"missing-{s}", f"ok-{s}", f"flow-{s}"
    await _create(platform, ok, _member("Active one"), publish=True)
    await _create(platform, draft, _member("Draft one"), publish=False)
    spec = AgentSpec.parse({
        "name": "Flow with refs", "description": "d", "system_prompt": "p", "agent_type": "workflow",
        "workflow": {"steps": [
            {"id": "a", "kind": "agent", "agent_id": ok},
            {"id": "b", "kind": "agent", "agent_id": missing},
            {"id": "c", "kind": "agent", "agent_id": draft}],
            "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]},
        "delegates": [{"agent_id": me, "description": "myself"}],
    })
    await _create(platform, me, spec, publish=False)
    lc = platform.market.lifecycle
    a = await lc.activate(tenant_id=platform.tenant_id, agent_id=me)
    assert a.status == "failed" and a.active_version is None
    err = a.provisioning_error
    assert f"agent '{missing}' (workflow agent step 'b') does not exist" in err
    assert f"agent '{draft}' (workflow agent step 'c') has no active version (it is draft)" in err
    assert f"agent '{me}' (delegate) is this agent itself" in err
    assert f"'{ok}'" not in err  # the good one is not named

    # Fix: create the missing agent, activate the draft, drop the self-delegation (a new version).
    await _create(platform, missing, _member("Now here"), publish=True)
    assert (await lc.activate(tenant_id=platform.tenant_id, agent_id=draft)).status == "active"
    still = await lc.activate(tenant_id=platform.tenant_id, agent_id=me, retry=True)
    assert still.status == "failed" and still.provisioning_error.count("agent '") == 1
    fixed = spec.model_copy(update={"delegates": []})
    await platform.agents.add_version(tenant_id=platform.tenant_id, agent_id=me, name=fixed.name,
                                      description=fixed.description, agent_type="workflow",
                                      spec_yaml=fixed.to_yaml(), tool_ids=[], created_by=platform.user_id)
    a = await lc.activate(tenant_id=platform.tenant_id, agent_id=me, version=2)
    assert (a.status, a.active_version, a.provisioning_error) == ("active", 2, None)


async def test_save_time_check_is_the_same_rule(platform) -> None:
    s = str(id(platform) % 1000000)
    await _create(platform, f"d2-{s}", _member("Draft two"), publish=False)
    team = AgentSpec.parse({"name": "T", "description": "d", "system_prompt": "p", "agent_type": "team",
                            "team": {"pattern": "sequential", "members": [f"d2-{s}", f"nope-{s}"]}})
    lc = platform.market.lifecycle
    with pytest.raises(NotFoundError) as e:
        await lc.require_agent_refs(tenant_id=platform.tenant_id, spec=team)
    assert f"'nope-{s}' (team member) does not exist" in e.value.message
    assert f"'d2-{s}' (team member) has no active version" in e.value.message
    # An unpublished draft may reference draft members (it is provisioned later); missing ones still fail.
    with pytest.raises(NotFoundError) as e:
        await lc.require_agent_refs(tenant_id=platform.tenant_id, spec=team, need_active=False)
    assert f"nope-{s}" in e.value.message and f"d2-{s}" not in e.value.message
