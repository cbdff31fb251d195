"""Multi-agent teams and delegation end to end on the real stack; scripted LLM (issue 7).

Each docs/examples/team-*.yaml and delegation-*.yaml is parsed and run: member runs
are child Executions (``parent_id``) whose spans nest under the team's trace.
Parallel members are shown to run concurrently (each member's model call waits
until the other has started); supervisor handoffs, delegation depth and cycles.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
MEMBERS = {"billing-agent": "team-member-billing.yaml", "tech-agent": "team-member-tech.yaml",
           "editor-agent": "team-member-editor.yaml"}


def _system(messages) -> str:
    return str(messages[0].get("content") or "") if messages and messages[0].get("role") == "system" else ""


def _user(messages) -> str:
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def _call(name: str, **args) -> dict:
    return {"content": "", "tool_calls": [{"id": f"call_{name}", "type": "function",
                                           "function": {"name": name, "arguments": json.dumps(args)}}]}


class Policy:
    """Members answer by role; supervisors and delegators call the tool that fits, then relay the answer."""

    def __init__(self, barrier: int = 0) -> None:
        self.barrier, self.arrived, self.together = barrier, 0, asyncio.Event()

    async def _meet(self) -> bool:
        """With a barrier, wait until ``barrier`` members are inside a model call at once (True if they were)."""
        if not self.barrier:
            return True
        self.arrived += 1
        if self.arrived >= self.barrier:
            self.together.set()
        try:
            await asyncio.wait_for(self.together.wait(), timeout=10)
            return True
        except TimeoutError:
            return False

    async def __call__(self, messages, info):
        system, user, tools = _system(messages), _user(messages), info.get("tools") or []
        last = messages[-1]
        names = [t["function"]["name"] for t in tools]
        if last.get("role") == "tool":
            return {"content": f"Relayed: {last.get('content')}"}
        if names:
            wants = "billing" if any(w in user.lower() for w in ("invoice", "charged", "refund")) else "tech"
            pick = next((n for n in names if wants in n), names[0])
            key = "task" if pick.startswith("transfer_to_") else "request"
            return _call(pick, **{key: f"Please handle: {user}"})
        if "billing specialist" in system:
            return {"content": f"Billing: refund issued for ({user})" if await self._meet() else "NOT CONCURRENT"}
        if "technical support specialist" in system:
            return {"content": f"Tech: 1. restart ({user})" if await self._meet() else "NOT CONCURRENT"}
        if system.startswith("You are an editor"):
            return {"content": f"Edited: {user}"}
        if "merge specialists" in system:
            return {"content": f"Merged {user.count('### ')} answers"}
        return {"content": f"echo: {user}"}


async def _save(p, spec: AgentSpec, agent_id: str) -> str:
    await p.agents.create(tenant_id=p.tenant_id, agent_id=agent_id, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id, publish=True)
    return agent_id


async def _example(p, name: str, suffix: str) -> str:
    """Save the member examples (ids ``<member>-<suffix>``) and example ``name`` pointing at them."""
    text = (EXAMPLES / name).read_text()
    for member, file in MEMBERS.items():
        if member in text:
            await _save(p, AgentSpec.from_yaml((EXAMPLES / file).read_text()), f"{member}-{suffix}")
            text = text.replace(member, f"{member}-{suffix}")
    return await _save(p, AgentSpec.from_yaml(text), f"{name.removesuffix('.yaml')}-{suffix}")


async def _run(p, aid: str, text: str):
    return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=text)


async def _children(p, e):
    return await p.runs.lifecycle.children(tenant_id=p.tenant_id, execution_id=e.id)


async def test_sequential_example_pipes_outputs(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    aid = await _example(platform, "team-sequential-reply.yaml", "s1")
    e = await _run(platform, aid, "The app crashes on start")
    assert e.status == "succeeded", e.error
    assert e.output == "Edited: Tech: 1. restart (The app crashes on start)"
    kids = await _children(platform, e)
    assert [k.agent_id for k in kids] == ["tech-agent-s1", "editor-agent-s1"]
    assert all(k.parent_id == e.id and k.status == "succeeded" for k in kids)
    assert kids[1].input == kids[0].output  # output of one is the input of the next
    # Both member runs are in the team's execution chain, under a team.member span.
    by_id = {s["span_id"]: s for s in e.spans}
    for k in kids:
        root = by_id[k.spans[0]["span_id"]]
        assert root["name"] == "agent.run" and by_id[root["parent_id"]]["name"] == "team.member"


async def test_parallel_example_runs_members_concurrently_then_merges(platform) -> None:
    policy = Policy(barrier=2)  # a member's model call returns only once both members are in one
    platform.runs.runner.llm = FunctionLLM(policy)
    aid = await _example(platform, "team-parallel-review.yaml", "p1")
    e = await _run(platform, aid, "I was charged twice and the app crashes")
    assert e.status == "succeeded", e.error
    assert e.output == "Merged 2 answers"
    kids = await _children(platform, e)
    assert sorted(k.agent_id for k in kids) == ["billing-agent-p1", "tech-agent-p1"]
    assert all("NOT CONCURRENT" not in (k.output or "") for k in kids), [k.output for k in kids]
    assert max(k.started_at for k in kids) < min(k.ended_at for k in kids)  # their runs overlap in time
    assert any(s["name"] == "team.aggregate" for s in e.spans)


async def test_parallel_concat_and_failed_member(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    spec = AgentSpec.from_yaml((EXAMPLES / "team-parallel-review.yaml").read_text())
    await _save(platform, AgentSpec.from_yaml((EXAMPLES / MEMBERS["tech-agent"]).read_text()), "tech-agent-c1")
    await _save(platform, AgentSpec.from_yaml((EXAMPLES / MEMBERS["billing-agent"]).read_text()), "billing-agent-c1")
    spec.team.members, spec.team.aggregate = ["billing-agent-c1", "tech-agent-c1"], "concat"
    aid = await _save(platform, AgentSpec.parse(spec.model_dump(mode="json")), "concat-team-c1")
    e = await _run(platform, aid, "refund my invoice")
    assert e.status == "succeeded", e.error
    assert e.output.startswith("### billing-agent-c1\nBilling: refund issued")
    assert "### tech-agent-c1\nTech:" in e.output
    spec.team.members = ["billing-agent-c1", "no-such-agent"]
    aid = await _save(platform, AgentSpec.parse(spec.model_dump(mode="json")), "broken-team-c1")
    e = await _run(platform, aid, "refund my invoice")
    assert e.status == "failed" and "no-such-agent" in e.error


async def test_supervisor_example_hands_off(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    aid = await _example(platform, "team-supervisor-support.yaml", "v1")
    e = await _run(platform, aid, "Please refund my invoice")
    assert e.status == "succeeded", e.error
    [kid] = await _children(platform, e)
    assert kid.agent_id == "billing-agent-v1" and kid.input == "Please handle: Please refund my invoice"
    assert e.output == f"Relayed: {kid.output}"
    handoff = next(s for s in e.spans if s["name"] == "tool.call")
    assert handoff["attributes"]["tool.name"] == "transfer_to_billing-agent-v1"
    e = await _run(platform, aid, "The app crashes")
    [kid] = await _children(platform, e)
    assert kid.agent_id == "tech-agent-v1"


async def test_delegation_example_nests_child_runs(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    aid = await _example(platform, "delegation-support-desk.yaml", "d1")
    e = await _run(platform, aid, "The app crashes on start")
    assert e.status == "succeeded", e.error
    [kid] = await _children(platform, e)
    assert kid.agent_id == "tech-agent-d1" and e.output == f"Relayed: {kid.output}"
    call = next(s for s in e.spans if s["name"] == "tool.call")
    assert call["attributes"]["tool.name"] == "ask_tech-agent-d1"
    assert any(s["span_id"] == kid.spans[0]["span_id"] for s in e.spans)


def _delegator(name: str, to: str, max_depth: int | None = None) -> AgentSpec:
    return AgentSpec.parse({"name": name, "description": "d", "system_prompt": f"I am {name}",
                            "memory": {"short_term": False}, "delegates": [{"agent_id": to}],
                            "limits": {"max_steps": 3, **({"max_depth": max_depth} if max_depth else {})}})


async def test_delegation_depth_exceeded_and_cycle(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    # a -> b -> c -> d with a's max_depth 2: c may not start d; nothing is stored for d.
    await _save(platform, _delegator("a", "dd-b", max_depth=2), "dd-a")
    await _save(platform, _delegator("b", "dd-c"), "dd-b")
    await _save(platform, _delegator("c", "dd-d"), "dd-c")
    await _save(platform, AgentSpec(name="d", description="d", system_prompt="leaf"), "dd-d")
    e = await _run(platform, "dd-a", "go")
    assert (e.status, e.error_code) == ("failed", "DELEGATION_DEPTH_EXCEEDED")
    [b] = await _children(platform, e)
    [c] = await _children(platform, b)
    assert (b.agent_id, c.agent_id) == ("dd-b", "dd-c")
    assert await _children(platform, c) == []
    assert c.error_code == "DELEGATION_DEPTH_EXCEEDED" and "dd-a -> dd-b -> dd-c -> dd-d" in c.error
    # x -> y -> x: refused as a cycle.
    await _save(platform, _delegator("x", "cy-y"), "cy-x")
    await _save(platform, _delegator("y", "cy-x"), "cy-y")
    e = await _run(platform, "cy-x", "go")
    assert (e.status, e.error_code) == ("failed", "DELEGATION_CYCLE") and "cy-x -> cy-y -> cy-x" in e.error


def test_team_runs_over_graphql(gql) -> None:
    """parentId and children through the API (served platform, its scripted LLM)."""
    member = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }",
                 y=(EXAMPLES / MEMBERS["tech-agent"]).read_text())["data"]["saveAgent"]["id"]
    team = (EXAMPLES / "team-sequential-reply.yaml").read_text().replace(
        "members: [tech-agent, editor-agent]", f"members: [{member}]")
    save = "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }"
    tid = gql(save, y=team)["data"]["saveAgent"]["id"]
    run = gql("mutation($a: String!) { runAgent(agentId: $a, input: \"my app crashes\") { id status parentId "
              "children { id agentId parentId status spans { name } } } }", a=tid)
    assert "errors" not in run, run
    r = run["data"]["runAgent"]
    assert r["status"] == "succeeded" and r["parentId"] is None
    [kid] = r["children"]
    assert kid["agentId"] == member and kid["parentId"] == r["id"] and kid["spans"][0]["name"] == "agent.run"
    # A member that does not exist is reported when the spec is saved, not at the first run.
    bad = gql(save, y=team.replace(f"members: [{member}]", "members: [no-such-member]"))
    assert bad["errors"][0]["extensions"]["code"] == "NOT_FOUND" and "no-such-member" in bad["errors"][0]["message"]


async def test_parent_timeout_cancels_running_children(platform) -> None:
    async def slow_member(messages, info):
        if "billing specialist" in _system(messages):
            await asyncio.sleep(10)
        return {"content": "late"}

    platform.runs.runner.llm = FunctionLLM(slow_member)
    await _save(platform, AgentSpec.from_yaml((EXAMPLES / MEMBERS["billing-agent"]).read_text()), "billing-agent-t1")
    aid = await _save(platform, AgentSpec.parse({
        "name": "Hasty team", "description": "d", "system_prompt": "p", "agent_type": "team",
        "team": {"pattern": "sequential", "members": ["billing-agent-t1"]}, "limits": {"timeout_s": 1}}), "team-t1")
    e = await _run(platform, aid, "refund")
    assert e.status == "timed_out"
    [kid] = await _children(platform, e)
    assert kid.status == "cancelled" and "parent run stopped" in kid.error
