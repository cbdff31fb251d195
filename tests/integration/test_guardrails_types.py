"""Guardrails and the sandbox hold for every agent type, not only ReAct (issue 7, helper G2).

For a workflow, a team and an external agent each: a run limit stops the run with
``RUN_LIMIT_EXCEEDED``; the output schema is enforced on the final output (one repair);
a sandbox run makes zero requests to the demo CRM / the external stub (counted at the
server); a sandbox run's child runs are sandbox runs. Child runs redact PII like their
parent. Real graph, Redis, CRM over MCP and external stub servers; only the LLM is scripted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM
from tests.external_stubs import SECRETS
from tests.integration.test_guardrails import SCHEMA, Stack, stack  # noqa: F401 - the counted-CRM platform

pytestmark = pytest.mark.timeout(300)
EMAIL = "jane.doe@corp.example"


async def _agent(p: Any, spec: AgentSpec | dict[str, Any], agent_id: str | None = None) -> str:
    spec = spec if isinstance(spec, AgentSpec) else AgentSpec.parse(spec)
    aid = agent_id or f"{spec.slug}-{uuid.uuid4().hex[:8]}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id, publish=True)
    return aid


async def _run(p: Any, aid: str, text: str, **kw: Any):
    return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=text, **kw)


async def _children(p: Any, e: Any) -> list[Any]:
    return await p.runs.lifecycle.children(tenant_id=p.tenant_id, execution_id=e.id)


def _base(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": f"{name} {uuid.uuid4().hex[:5]}", "description": "test agent", "system_prompt": "Be brief.", **kw}


def _searcher(crm: str, **kw: Any) -> dict[str, Any]:
    """A ReAct member that looks a lead up in the CRM once."""
    return _base("Lead searcher", tools=[{"tool_id": crm, "operations": ["searchLeads"]}], **kw)


def _llm(messages, info):
    """Calls searchLeads once when offered, then relays the result; otherwise echoes."""
    tools = [t["function"]["name"] for t in info.get("tools") or []]
    results = [m for m in messages if m.get("role") == "tool"]
    if "searchLeads" in tools and not results:
        return {"content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
            "name": "searchLeads", "arguments": json.dumps({"q": "Ada"})}}]}
    if results:
        return {"content": f"Found: {results[-1]['content']}"}
    return {"content": f"echo: {messages[-1]['content']}"[:200]}


def _workflow(crm: str, **kw: Any) -> dict[str, Any]:
    return _base("Lookup workflow", agent_type="workflow", tools=[{"tool_id": crm, "operations": ["searchLeads"]}],
                 workflow={"steps": [
                     {"id": "lookup", "kind": "tool", "tool": crm, "operation": "searchLeads",
                      "arguments": {"q": "{{ input }}"}},
                     {"id": "write", "prompt": "Summarise: {{ steps.lookup }}"}],
                     "edges": [{"from": "lookup", "to": "write"}]}, **kw)


# --- workflow -----------------------------------------------------------------------------------------
async def test_workflow_limits_schema_and_sandbox(stack: Stack) -> None:  # noqa: F811
    p = stack.p
    p.runs.runner.llm = FunctionLLM(_llm)
    # limits.max_tool_calls applies to tool steps: the step over the limit is never called.
    aid = await _agent(p, _workflow(stack.crm_tool, limits={"max_tool_calls": 0}))
    before = len(stack.crm_requests)
    e = await _run(p, aid, "Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED"), e.error
    assert "limits.max_tool_calls" in e.error and len(stack.crm_requests) == before
    # max_tokens counts the llm steps.
    aid = await _agent(p, _workflow(stack.crm_tool, limits={"max_tokens": 5}))
    e = await _run(p, aid, "Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED") and "max_tokens" in e.error

    # Output schema: checked on the workflow's final output (not on each step), one repair call.
    seen: list[list[dict[str, Any]]] = []

    def fn(messages, info):
        seen.append(messages)
        if "not valid against the required JSON Schema" in messages[-1]["content"]:
            return {"content": '{"lead": "Ada Lovelace", "score": 7}'}
        return {"content": '{"lead": "Ada Lovelace", "score": "high"}'}

    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _workflow(stack.crm_tool, guardrails={"output_schema": SCHEMA}))
    e = await _run(p, aid, "Ada")
    assert e.status == "succeeded", e.error
    assert json.loads(e.output) == {"lead": "Ada Lovelace", "score": 7}
    assert len(seen) == 2 and "JSON Schema" not in seen[0][0]["content"]  # the step is not the final check
    assert "$.score: 'high' is not of type 'integer'" in seen[1][-1]["content"]
    assert sum(1 for s in e.spans if s["attributes"].get("llm.repair")) == 1

    # Sandbox: the tool step is answered from the OpenAPI response schema; the CRM sees nothing.
    p.runs.runner.llm = FunctionLLM(_llm)
    aid = await _agent(p, _workflow(stack.crm_tool))
    before = len(stack.crm_requests)
    e = await _run(p, aid, f"nobody-{uuid.uuid4().hex[:6]}", sandbox=True)
    assert e.status == "succeeded" and e.sandbox, e.error
    assert len(stack.crm_requests) == before
    assert "(sandbox)" in e.output  # generated placeholder values went through the llm step


async def test_workflow_agent_step_child_is_sandbox(stack: Stack) -> None:  # noqa: F811
    p = stack.p
    p.runs.runner.llm = FunctionLLM(_llm)
    member = await _agent(p, _searcher(stack.crm_tool))
    wf = await _agent(p, _base("Delegating workflow", agent_type="workflow", workflow={
        "steps": [{"id": "ask", "kind": "agent", "agent_id": member}]}))
    before = len(stack.crm_requests)
    e = await _run(p, wf, "find Ada", sandbox=True)
    assert e.status == "succeeded" and e.sandbox, e.error
    [child] = await _children(p, e)
    assert child.sandbox and child.agent_id == member and child.status == "succeeded"
    assert len(stack.crm_requests) == before


# --- team ---------------------------------------------------------------------------------------------
async def test_team_limits_cover_member_runs(stack: Stack) -> None:  # noqa: F811
    p = stack.p
    p.runs.runner.llm = FunctionLLM(_llm)
    a = await _agent(p, _searcher(stack.crm_tool))
    b = await _agent(p, _searcher(stack.crm_tool))
    team = await _agent(p, _base("Two searchers", agent_type="team", team={"pattern": "sequential",
                                                                            "members": [a, b]},
                                 limits={"max_tool_calls": 1}))
    before = len(stack.crm_requests)
    e = await _run(p, team, "find Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED"), e.error
    assert "max_tool_calls" in e.error
    assert len(stack.crm_requests) - before == 1  # the second member's call was never made
    kids = await _children(p, e)
    assert sorted(k.status for k in kids) == ["failed", "succeeded"]
    # Usage stays exact: each Execution stores only its own tokens (no double counting).
    ok = next(k for k in kids if k.status == "succeeded")
    assert ok.prompt_tokens > 0 and e.prompt_tokens == 0

    team = await _agent(p, _base("Token-bound team", agent_type="team",
                                 team={"pattern": "sequential", "members": [a]}, limits={"max_tokens": 5}))
    e = await _run(p, team, "find Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED") and "max_tokens" in e.error


async def test_team_output_schema_and_sandbox(stack: Stack) -> None:  # noqa: F811
    p = stack.p
    calls: list[str] = []

    def fn(messages, info):
        calls.append(messages[-1]["content"])
        if "not valid against the required JSON Schema" in messages[-1]["content"]:
            return {"content": '{"lead": "Ada", "score": 3}'}
        return {"content": "Ada looks promising, maybe an 8."}

    p.runs.runner.llm = FunctionLLM(fn)
    member = await _agent(p, _base("Plain member"))
    team = await _agent(p, _base("Scored team", agent_type="team", team={"pattern": "sequential",
                                                                          "members": [member]},
                                 guardrails={"output_schema": SCHEMA}))
    e = await _run(p, team, "score Ada")
    assert e.status == "succeeded", e.error
    assert json.loads(e.output) == {"lead": "Ada", "score": 3} and len(calls) == 2  # member + one repair
    p.runs.runner.llm = FunctionLLM(lambda m, i: {"content": "no JSON at all"})
    e3 = await _run(p, team, "score Bob")
    assert (e3.status, e3.error_code) == ("failed", "OUTPUT_SCHEMA_INVALID") and e3.output is None

    # Sandbox: members are sandbox runs; zero CRM requests (the parallel pattern, concat).
    p.runs.runner.llm = FunctionLLM(_llm)
    a = await _agent(p, _searcher(stack.crm_tool))
    b = await _agent(p, _searcher(stack.crm_tool))
    team = await _agent(p, _base("Parallel searchers", agent_type="team",
                                 team={"pattern": "parallel", "members": [a, b], "aggregate": "concat"}))
    before = len(stack.crm_requests)
    e = await _run(p, team, f"find nobody-{uuid.uuid4().hex[:6]}", sandbox=True)
    assert e.status == "succeeded" and e.sandbox, e.error
    kids = await _children(p, e)
    assert len(kids) == 2 and all(k.sandbox for k in kids)
    assert len(stack.crm_requests) == before


async def test_child_runs_redact_like_their_parent(stack: Stack) -> None:  # noqa: F811
    p = stack.p
    p.runs.runner.llm = FunctionLLM(lambda m, i: {"content": f"Noted: {m[-1]['content']}"})
    member = await _agent(p, _base("No PII settings"))
    team = await _agent(p, _base("PII team", agent_type="team", team={"pattern": "sequential", "members": [member]},
                                 guardrails={"pii": {"enabled": True}}))
    e = await _run(p, team, f"write to {EMAIL}")
    assert e.status == "succeeded", e.error
    [child] = await _children(p, e)
    stored = await p.executions.get(tenant_id=p.tenant_id, execution_id=child.id)
    for blob in (e.input, e.output, e.spans_json, stored.input, stored.output, stored.spans_json):
        assert EMAIL not in blob
    assert "[REDACTED:email]" in stored.input and "[REDACTED:email]" in stored.output
    # The other way round: a redacting member inside a team without PII settings; the team's
    # trace holds the member's spans, so the team's record is redacted with the member's rules.
    member = await _agent(p, _base("PII member", guardrails={"pii": {"enabled": True}}))
    team = await _agent(p, _base("Plain team", agent_type="team", team={"pattern": "sequential",
                                                                         "members": [member]}))
    e = await _run(p, team, f"write to {EMAIL}")
    assert e.status == "succeeded", e.error
    assert EMAIL not in e.spans_json and EMAIL not in e.output


# --- external -----------------------------------------------------------------------------------------
def _external(stubs: Any, **kw: Any) -> dict[str, Any]:
    return _base("REST agent", agent_type="external", external={
        "kind": "rest", "url": stubs.origin["rest"] + "/v1/answer", "auth": {"kind": "bearer", "secret": "g2-rest"},
        "request_template": {"question": "{{input}}", "thread_id": "{{thread_id}}"},
        "response_path": "$.data.answer", **kw.pop("external", {})}, **kw)


async def test_external_limits_schema_and_sandbox(stack: Stack, stubs) -> None:  # noqa: F811
    p = stack.p
    await p.external.secrets.set(tenant_id=p.tenant_id, name="g2-rest", value=SECRETS["rest"])
    calls = stubs.calls["rest"]
    # The remote call is the run's tool call: max_tool_calls 0 refuses it before it is made.
    aid = await _agent(p, _external(stubs, limits={"max_tool_calls": 0}))
    before = len(calls)
    e = await _run(p, aid, "hello")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED") and len(calls) == before

    # Output schema on the remote answer, repaired once by the agent's model.
    def fn(messages, info):
        assert "REST agent got: score Ada" in messages[-2]["content"]  # the remote answer is repaired
        return {"content": '{"lead": "Ada", "score": 5}'}

    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _external(stubs, guardrails={"output_schema": SCHEMA}))
    e = await _run(p, aid, "score Ada")
    assert e.status == "succeeded", e.error
    assert json.loads(e.output) == {"lead": "Ada", "score": 5}
    assert any(s["attributes"].get("llm.repair") for s in e.spans)

    # Sandbox: a recording of a real call with the same input, else output_schema, else a placeholder.
    aid = await _agent(p, _external(stubs, external={"output_schema": {"type": "string", "minLength": 1}}))
    real = await _run(p, aid, "Where is order 42?")
    assert real.status == "succeeded" and real.output == "REST agent got: Where is order 42?"
    before = len(calls)
    box = await _run(p, aid, "Where is order 42?", sandbox=True)
    assert box.status == "succeeded" and box.sandbox and box.output == real.output
    [span] = [s for s in box.spans if s["name"] == "external.call"]
    assert span["attributes"]["sandbox"] is True
    new = await _run(p, aid, "Something never asked", sandbox=True)
    assert new.status == "succeeded" and new.output == "answer (sandbox)"
    plain = await _agent(p, _external(stubs))
    ph = await _run(p, plain, "Anything", sandbox=True)
    assert ph.status == "succeeded" and ph.output.startswith("[sandbox answer]")
    assert len(calls) == before  # zero requests reached the remote platform

    # An external member of a sandbox team is a sandbox child run: not called either.
    team = await _agent(p, _base("Team with external", agent_type="team",
                                 team={"pattern": "sequential", "members": [plain]}))
    e = await _run(p, team, "Anything at all", sandbox=True)
    assert e.status == "succeeded", e.error
    [child] = await _children(p, e)
    assert child.sandbox and child.output.startswith("[sandbox answer]") and len(calls) == before


# --- the pieces, without services -------------------------------------------------------------------
class _Usage:
    def __init__(self, tokens: int = 0, cost: float = 0.0, tools: int = 0) -> None:
        self.prompt_tokens, self.completion_tokens, self.cost_usd, self.tool_calls = tokens, 0, cost, tools


def test_limits_read_the_run_tree_without_copying_usage() -> None:
    from agentgraph.errors import RunError
    from runners._guardrails import RunGuard

    parent = RunGuard(AgentSpec.parse(_base("Team", limits={"max_tokens": 100, "max_tool_calls": 2})))
    child = RunGuard(AgentSpec.parse(_base("Member")))
    parent.bind(_Usage(tokens=10))
    child.bind(_Usage(tokens=60, tools=1), parent)
    assert parent.tree_totals() == (70, 0.0, 1) and parent.usage.prompt_tokens == 10  # read, not added
    child.check_limits(child.usage)  # 70 <= 100
    child.before_tool(child.usage)  # 2 <= 2
    child.usage.tool_calls = 2
    with pytest.raises(RunError) as exc:
        child.before_tool(child.usage)  # the 3rd call of the tree is refused before it is made
    assert exc.value.code == "RUN_LIMIT_EXCEEDED" and "of 'Team" in exc.value.message
    child.usage.prompt_tokens = 95
    with pytest.raises(RunError, match="max_tokens"):
        child.check_limits(child.usage)


def test_merged_redactors_and_external_placeholders() -> None:
    from runners._guardrails import merge_redactors
    from runners._pii import Redactor
    from runners._sandbox import external_sandbox_answer

    a, b = Redactor(["email"]), Redactor([], [("customer_id", r"CUST-\d{6}")])
    both = merge_redactors(a, b)
    assert both.redact(f"{EMAIL} CUST-123456") == "[REDACTED:email] [REDACTED:customer_id]"
    assert merge_redactors(None, b) is b and merge_redactors(a, None) is a and merge_redactors(None, None) is None
    spec = AgentSpec.parse(_external(type("S", (), {"origin": {"rest": "http://127.0.0.1:9"}})(),
                                     external={"output_schema": {"type": "object", "properties": {
                                         "answer": {"type": "string"}, "ok": {"type": "boolean"}}}}))
    assert json.loads(external_sandbox_answer(spec, "x")) == {"answer": "answer (sandbox)", "ok": True}
    assert external_sandbox_answer(None, "x").startswith("[sandbox answer]")
