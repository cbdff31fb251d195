"""Workflow agents end to end on the real stack (graph, Redis, demo CRM over MCP); scripted LLM (issue 7).

Covers the docs/examples/workflow-*.yaml examples: a branch taken and not taken, a
tool step against the demo CRM, a bounded review loop that exits, and one that hits
its bound; plus an ``agent`` step that runs another agent as a nested child run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _system(messages) -> str:
    return str(messages[0].get("content") or "") if messages and messages[0].get("role") == "system" else ""


def _user(messages) -> str:
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


class Policy:
    """Scripted answers keyed on the step's system prompt / user message; records what it saw."""

    def __init__(self, verdicts: list[str] | None = None) -> None:
        self.verdicts = list(verdicts or [])
        self.seen: list[tuple[str, str]] = []

    def __call__(self, messages, info):
        system, user = _system(messages), _user(messages)
        self.seen.append((system[:40], user))
        if user.startswith("Classify"):
            billing = any(w in user.lower() for w in ("invoice", "charged", "refund"))
            return {"content": json.dumps({"category": "billing" if billing else "tech",
                                           "summary": "customer ticket"})}
        if "billing desk" in system:
            return {"content": "Billing reply: the double charge is refunded."}
        if "technical support desk" in system:
            return {"content": "Tech reply: restart the app, then clear the cache."}
        if "review sales emails" in system:
            return {"content": self.verdicts.pop(0) if self.verdicts else "APPROVED"}
        if "sales follow-up" in system:
            return {"content": f"Dear lead, following up. [{user.count('Reviewer feedback')} revisions]"}
        return {"content": f"echo: {user}"}


async def _save(p, path_or_spec, agent_id: str | None = None) -> str:
    spec = path_or_spec if isinstance(path_or_spec, AgentSpec) else AgentSpec.from_yaml(Path(path_or_spec).read_text())
    aid = agent_id or f"{spec.slug}-{id(spec) % 100000}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id, publish=True)
    return aid


async def _run(p, aid: str, text: str):
    return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=text)


@pytest.mark.parametrize("ticket, taken, skipped", [
    ("I was charged twice on my last invoice", "billing", "tech"),
    ("The app crashes when I open settings", "tech", "billing"),
])
async def test_triage_example_takes_one_branch(platform, ticket, taken, skipped) -> None:
    policy = Policy()
    platform.runs.runner.llm = FunctionLLM(policy)
    aid = await _save(platform, EXAMPLES / "workflow-ticket-triage.yaml")
    e = await _run(platform, aid, ticket)
    assert e.status == "succeeded", e.error
    assert e.output.startswith("Billing reply" if taken == "billing" else "Tech reply")
    steps = [s["attributes"]["workflow.step"] for s in e.spans if s["name"] == "workflow.step"]
    assert steps == ["triage", taken] and skipped not in steps
    triage = next(s for s in e.spans if s["attributes"].get("workflow.step") == "triage")
    assert triage["attributes"]["workflow.next"] == taken
    # The branch step's prompt was rendered from the triage step's JSON output.
    assert any("Triage summary: customer ticket" in u for _, u in policy.seen)


async def test_tool_step_and_review_loop_exit(platform) -> None:
    policy = Policy(verdicts=["REVISE: mention the demo", "APPROVED"])
    platform.runs.runner.llm = FunctionLLM(policy)
    aid = await _save(platform, EXAMPLES / "workflow-lead-follow-up.yaml")
    e = await _run(platform, aid, "Ada")
    assert e.status == "succeeded", e.error
    assert e.output == "APPROVED"
    steps = [s["attributes"]["workflow.step"] for s in e.spans if s["name"] == "workflow.step"]
    assert steps == ["lookup", "draft", "review", "draft", "review"]
    # The tool step really called the demo CRM over MCP, and the draft saw its answer.
    call = next(s for s in e.spans if s["name"] == "tool.call")
    assert call["attributes"]["tool.name"] == "searchLeads" and call["status"] != "ERROR"
    drafts = [u for s, u in policy.seen if s.startswith("You write short")]
    assert len(drafts) == 2 and "Ada" in drafts[0] and "Reviewer feedback to address: REVISE" in drafts[1]


async def test_review_loop_bound_stops_the_run(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy(verdicts=["REVISE: a"] * 10))
    aid = await _save(platform, EXAMPLES / "workflow-lead-follow-up.yaml")
    e = await _run(platform, aid, "Ada")
    assert (e.status, e.error_code) == ("failed", "WORKFLOW_LIMIT")
    assert "review -> draft" in e.error and "max_iterations of 2" in e.error
    steps = [s["attributes"]["workflow.step"] for s in e.spans if s["name"] == "workflow.step"]
    assert steps.count("draft") == 3  # the loop ran to its bound, then stopped


async def test_step_bound_no_route_and_agent_step_child_run(platform) -> None:
    platform.runs.runner.llm = FunctionLLM(Policy())
    helper = await _save(platform, AgentSpec(name="Echo helper", description="echoes", system_prompt="helper",
                                             memory={"short_term": False}))
    spec = AgentSpec.parse({
        "name": "Agent step flow", "description": "d", "system_prompt": "p", "agent_type": "workflow",
        "workflow": {"steps": [
            {"id": "ask", "kind": "agent", "agent_id": helper, "prompt": "from workflow: {{ input }}"},
            {"id": "check", "prompt": "{{ steps.ask }}", "max_iterations": 2}],
            "edges": [{"from": "ask", "to": "check"},
                      {"from": "check", "to": "check", "condition": "contains(output, 'again')"},
                      {"from": "check", "to": "END", "condition": "contains(output, 'stop')"}]}})
    aid = await _save(platform, spec)
    e = await _run(platform, aid, "go again")  # check's echo contains "again": loops on itself until the bound
    assert (e.status, e.error_code) == ("failed", "WORKFLOW_LIMIT") and "'check'" in e.error
    [child] = await platform.runs.lifecycle.children(tenant_id=platform.tenant_id, execution_id=e.id)
    assert child.agent_id == helper and child.parent_id == e.id and child.status == "succeeded"
    assert child.input == "from workflow: go again"
    # The child's own chain is its subtree; the parent's chain contains it, nested under the step.
    assert child.spans[0]["name"] == "agent.run"
    ids = {s["span_id"]: s for s in e.spans}
    child_root = ids[child.spans[0]["span_id"]]
    assert ids[child_root["parent_id"]]["name"] == "workflow.step"
    e2 = await _run(platform, aid, "hello")  # neither condition holds: a clear error, not a silent end
    assert (e2.status, e2.error_code) == ("failed", "WORKFLOW_NO_ROUTE") and "no edge condition matched" in e2.error


async def test_builder_turns_a_routing_intent_into_a_runnable_workflow(platform) -> None:
    from agentgraph.testing import ScriptedLLM

    scripted = ScriptedLLM()
    platform.builder.llm = scripted
    r = await platform.builder.build(tenant_id=platform.tenant_id,
                                     message="Triage an incoming ticket, then route it to billing or tech")
    assert r.spec.agent_type.value == "workflow"
    assert [s.id for s in r.spec.workflow.steps] == ["triage", "billing", "tech"]
    assert '"workflow" follows fixed steps' in scripted.calls[-1]["messages"][0]["content"]  # the type guide
    assert "workflow" in scripted.calls[-1]["response_format"]["schema"]["properties"]["agent_type"]["enum"]
    # The draft runs: the triage step routes a billing ticket to the billing step.
    platform.runs.runner.llm = FunctionLLM(lambda m, i: (
        {"content": json.dumps({"route": "billing", "summary": "s"})} if "Classify" in _user(m)
        else {"content": f"handled by: {_system(m)[:40]}"}))
    aid = await _save(platform, r.spec)
    e = await _run(platform, aid, "I was charged twice")
    assert e.status == "succeeded" and e.output.startswith("handled by: You handle billing tickets.")


async def test_builder_team_draft_without_members_falls_back_to_react(platform) -> None:
    platform.builder.llm = FunctionLLM(lambda m, i: {"content": json.dumps({
        "name": "Helpers", "description": "x", "system_prompt": "y", "agent_type": "team", "tools": []})})
    r = await platform.builder.build(tenant_id=platform.tenant_id, message="a team of helpers")
    assert r.spec.agent_type.value == "react" and r.spec.team is None
