"""Guardrails, run limits, PII redaction and sandbox mode on the real stack (issue 7).

An in-process Platform (real ArcadeDB, Redis) serves its MCP tools from a FastAPI front
app in this event loop; a private demo CRM counts the requests it receives, so a
sandbox run can be shown to call it zero times. Only the LLM is scripted.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request

from agentgraph.demo.crm import OPENAPI_PATH, create_crm_app
from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM, ScriptedLLM
from tests.stubapi import serve

pytestmark = pytest.mark.timeout(300)
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
EMAIL, CARD = "jane.doe@corp.example", "4111 1111 1111 1111"


class _Lazy:
    """ASGI app forwarding to ``app`` once set (the front server starts before the platform)."""

    app: Any = None

    async def __call__(self, scope, receive, send):  # noqa: ANN001
        await self.app(scope, receive, send)


@dataclass
class Stack:
    p: Any
    crm_tool: str
    crm_requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
async def stack(services, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    from api._platform import Platform

    requests: list[str] = []
    crm = create_crm_app()

    @crm.middleware("http")
    async def count(request: Request, call_next):  # noqa: ANN001, ANN202
        requests.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    lazy = _Lazy()
    front = FastAPI()
    front.mount("/tools", lazy)
    async with serve(crm) as crm_url, serve(front) as front_url:
        port = int(front_url.rsplit(":", 1)[1])
        # Its own tenant: the counted CRM must not show up in other tests' tool suggestions.
        tag = uuid.uuid4().hex[:6]
        settings = services.model_copy(update={"api": services.api.model_copy(update={"port": port}),
                                               "tenant_id": f"guardrails-{tag}", "user_id": f"gr-admin-{tag}",
                                               "demo": services.demo.model_copy(update={"register_on_start": False}),
                                               # the session's admin key belongs to the default tenant;
                                               # this tenant's own key file goes to its own data dir
                                               "auth": services.auth.model_copy(update={"bootstrap_api_key": None}),
                                               "data_dir": tmp_path_factory.mktemp("guardrails-data")})
        p = await Platform.start(settings)
        lazy.app = p.host
        try:
            name = f"Counted CRM {uuid.uuid4().hex[:6]}"
            tool = await p.registry.register(tenant_id=p.tenant_id, user_id=p.user_id,
                                             openapi=OPENAPI_PATH.read_text(), base_url=crm_url, name=name)
            yield Stack(p=p, crm_tool=tool.id, crm_requests=requests)
        finally:
            await p.close()


async def _agent(p: Any, spec: AgentSpec) -> str:
    aid = f"{spec.slug}-{uuid.uuid4().hex[:8]}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id)
    return aid


def _spec(**kw: Any) -> AgentSpec:
    return AgentSpec.parse({"name": "guarded", "description": "Answers about leads.", "system_prompt": "Be brief.",
                            **kw})


async def _run(p: Any, aid: str, text: str, **kw: Any):
    return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=text, **kw)


def _tool_then_answer(calls: int, args: dict[str, Any] | None = None, answer: str = "done"):
    """An LLM that calls ``searchLeads`` ``calls`` times, then answers with ``answer`` (and the last result)."""
    seen: list[list[dict[str, Any]]] = []

    def fn(messages, info):  # noqa: ANN001, ANN202
        seen.append(messages)
        results = [m for m in messages if m.get("role") == "tool"]
        if info.get("tools") and len(results) < calls:
            return {"content": "", "tool_calls": [{"id": f"c{len(results)}", "type": "function", "function": {
                "name": "searchLeads", "arguments": json.dumps(args or {"q": f"Ada {len(results)}"})}}]}
        return {"content": f"{answer} {results[-1]['content'] if results else ''}".strip()}
    return fn, seen


class _CostlyLLM(FunctionLLM):
    """FunctionLLM whose every call costs ``cost_usd`` (FunctionLLM reports 0)."""

    def __init__(self, fn, cost_usd: float) -> None:  # noqa: ANN001
        super().__init__(fn)
        self.cost = cost_usd

    async def complete(self, messages, **kw):  # noqa: ANN001, ANN003, ANN201
        c = await super().complete(messages, **kw)
        c.cost_usd = self.cost
        return c


# --- run limits ------------------------------------------------------------------------------------
async def test_each_limit_stops_the_run(stack: Stack) -> None:
    p = stack.p
    fn, _ = _tool_then_answer(3)
    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _spec(tools=[{"tool_id": stack.crm_tool}], limits={"max_tool_calls": 1}))
    before = len(stack.crm_requests)
    e = await _run(p, aid, "find Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED")
    assert "limits.max_tool_calls" in e.error and "2 tool calls" in e.error and "limit is 1" in e.error
    assert len(stack.crm_requests) - before == 1  # the call over the limit was never made

    aid = await _agent(p, _spec(limits={"max_tokens": 5}))
    e = await _run(p, aid, "please say something rather long about leads")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED")
    assert "limits.max_tokens" in e.error and "tokens" in e.error

    fn, seen = _tool_then_answer(3)
    p.runs.runner.llm = _CostlyLLM(fn, 0.02)
    aid = await _agent(p, _spec(tools=[{"tool_id": stack.crm_tool}], limits={"max_cost_usd": 0.03}))
    e = await _run(p, aid, "find Ada")
    assert (e.status, e.error_code) == ("failed", "RUN_LIMIT_EXCEEDED")
    assert "limits.max_cost_usd" in e.error and "0.040000 USD" in e.error
    assert len(seen) == 2  # stopped right after the LLM call that went over

    p.runs.runner.llm = FunctionLLM(_tool_then_answer(1)[0])
    aid = await _agent(p, _spec(tools=[{"tool_id": stack.crm_tool}],
                                limits={"max_tool_calls": 1, "max_tokens": 100_000, "max_cost_usd": 1}))
    assert (await _run(p, aid, "find Ada")).status == "succeeded"  # within every limit


# --- output schema -----------------------------------------------------------------------------------
SCHEMA = {"type": "object", "required": ["lead", "score"], "additionalProperties": False,
          "properties": {"lead": {"type": "string"}, "score": {"type": "integer", "minimum": 0, "maximum": 10}}}


async def test_output_schema_repair_succeeds(stack: Stack) -> None:
    p, seen = stack.p, []

    def fn(messages, info):  # noqa: ANN001, ANN202
        seen.append(messages)
        if "not valid against the required JSON Schema" in messages[-1]["content"]:
            return {"content": '```json\n{"lead": "Ada Lovelace", "score": 8}\n```'}
        return {"content": '{"lead": "Ada Lovelace", "score": "high"}'}

    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _spec(guardrails={"output_schema": SCHEMA}))
    e = await _run(p, aid, "score Ada")
    assert e.status == "succeeded", e.error
    assert json.loads(e.output) == {"lead": "Ada Lovelace", "score": 8}
    assert len(seen) == 2 and "JSON Schema" in seen[0][0]["content"]  # the schema is in the system prompt
    assert "$.score: 'high' is not of type 'integer'" in seen[1][-1]["content"]
    assert any(s["attributes"].get("llm.repair") for s in e.spans)


async def test_output_schema_repair_fails_with_paths(stack: Stack) -> None:
    p = stack.p
    calls: list[int] = []

    def fn(messages, info):  # noqa: ANN001, ANN202
        calls.append(1)
        return {"content": '{"lead": 3, "score": 99}'}

    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _spec(guardrails={"output_schema": SCHEMA}))
    e = await _run(p, aid, "score Ada")
    assert (e.status, e.error_code) == ("failed", "OUTPUT_SCHEMA_INVALID")
    assert "$.lead" in e.error and "$.score" in e.error and e.output is None
    assert len(calls) == 2  # one answer, exactly one repair attempt


# --- blocked topics ----------------------------------------------------------------------------------
async def test_blocked_topic_in_input_and_output(stack: Stack) -> None:
    p, calls = stack.p, []

    def fn(messages, info):  # noqa: ANN001, ANN202
        calls.append(1)
        return {"content": "Sure, here is some Medical   advice for you."}

    p.runs.runner.llm = FunctionLLM(fn)
    aid = await _agent(p, _spec(guardrails={"blocked_topics": ["crypto", "medical advice"]}))
    e = await _run(p, aid, "Should I buy CRYPTO today?")
    assert (e.status, e.error_code) == ("failed", "BLOCKED_TOPIC") and "'crypto'" in e.error
    assert calls == []  # refused before any LLM call
    e = await _run(p, aid, "cryptography basics?")  # whole words only: not blocked on input
    assert (e.status, e.error_code) == ("failed", "BLOCKED_TOPIC") and "'medical advice'" in e.error
    assert e.output is None and "withheld" in e.error and calls == [1]


# --- PII ---------------------------------------------------------------------------------------------
async def test_pii_never_stored_but_the_model_sees_it(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    p = stack.p
    fn, seen = _tool_then_answer(1, {"q": EMAIL}, answer=f"I will write to {EMAIL}.")

    def logged(messages, info):  # noqa: ANN001, ANN202
        logging.getLogger("agentgraph.test").warning("model input: %s", messages[-1]["content"])
        return fn(messages, info)

    p.runs.runner.llm = FunctionLLM(logged)
    aid = await _agent(p, _spec(tools=[{"tool_id": stack.crm_tool}], guardrails={
        "pii": {"enabled": True, "patterns": [{"name": "customer_id", "regex": r"CUST-\d{6}"}]}}))
    text = f"Contact {EMAIL} about card {CARD} and account CUST-123456 from 10.1.2.3"
    with caplog.at_level(logging.WARNING, logger="agentgraph.test"):
        e = await _run(p, aid, text)
    assert e.status == "succeeded", e.error
    assert seen[0][-1]["content"] == text  # the model saw the real input
    stored = await p.executions.get(tenant_id=p.tenant_id, execution_id=e.id)
    events = await p.runs.events.history(e.id)
    blobs = {"input": stored.input, "output": stored.output, "spans": stored.spans_json,
             "events": json.dumps([ev.data for ev in events]), "logs": caplog.text}
    for where, blob in blobs.items():
        for secret in (EMAIL, CARD, "CUST-123456", "10.1.2.3"):
            assert secret not in blob, (where, secret)
    assert "[REDACTED:email]" in stored.input and "[REDACTED:credit_card]" in stored.input
    assert "[REDACTED:customer_id]" in stored.input and "[REDACTED:ipv4]" in stored.input
    assert "[REDACTED:email]" in stored.output and "[REDACTED:email]" in stored.spans_json  # tool arguments
    assert "model input: Contact [REDACTED:email]" in caplog.text
    assert events and events[-1].status == "succeeded"


# --- sandbox -----------------------------------------------------------------------------------------
async def _agent_runs(p: Any, aid: str) -> int:
    rows = await p.graph.query("MATCH (a:Agent {id: $aid}) RETURN coalesce(a.runs, 0) AS n", aid=aid)
    return int(rows[0]["n"])


async def test_sandbox_calls_no_tool_and_replays_the_recording(stack: Stack) -> None:
    p = stack.p
    args = {"q": "Ada"}
    p.runs.runner.llm = FunctionLLM(_tool_then_answer(1, args, answer="Found:")[0])
    aid = await _agent(p, _spec(tools=[{"tool_id": stack.crm_tool}]))
    real = await _run(p, aid, "find Ada")
    assert real.status == "succeeded" and "Ada Lovelace" in real.output and not real.sandbox
    counted = await _agent_runs(p, aid)
    before = len(stack.crm_requests)
    box = await _run(p, aid, "find Ada", sandbox=True)
    assert box.status == "succeeded" and box.sandbox
    assert box.output == real.output  # the recorded answer
    assert len(stack.crm_requests) == before  # zero requests reached the CRM
    # Arguments never recorded: an answer generated from the OpenAPI response schema.
    p.runs.runner.llm = FunctionLLM(_tool_then_answer(1, {"q": "never seen"}, answer="Found:")[0])
    gen = await _run(p, aid, "find someone new", sandbox=True)
    assert gen.status == "succeeded" and gen.sandbox and len(stack.crm_requests) == before
    payload = json.loads(gen.output.removeprefix("Found:").strip())
    assert isinstance(payload, list) and {"id", "name", "email"} <= set(payload[0])
    assert await _agent_runs(p, aid) == counted  # sandbox runs are not in the statistics


async def test_compare_versions_and_generated_inputs(stack: Stack) -> None:
    from runners import compare_versions, generate_test_inputs

    p = stack.p

    def fn(messages, info):  # noqa: ANN001, ANN202
        style = "FORMAL" if "formal" in messages[0]["content"] else "casual"
        return {"content": f"{style}\nanswer to: {messages[-1]['content']}"}

    p.runs.runner.llm = FunctionLLM(fn)
    v1 = _spec(system_prompt="Be casual.")
    aid = await _agent(p, v1)
    await p.agents.add_version(tenant_id=p.tenant_id, agent_id=aid, name=v1.name, description=v1.description,
                               agent_type="react", spec_yaml=_spec(system_prompt="Be formal.").to_yaml(), tool_ids=[],
                               created_by=p.user_id)
    inputs = await generate_test_inputs(ScriptedLLM(), v1, 3)
    assert len(inputs) == 3 and all(i.strip() for i in inputs)
    rows = await compare_versions(p.runs, tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, version_a=1,
                                  version_b=2, inputs=inputs[:2])
    assert len(rows) == 2
    for r in rows:
        assert r.a.sandbox and r.b.sandbox and r.a.version == 1 and r.b.version == 2
        assert "-casual" in r.diff and "+FORMAL" in r.diff and r.diff.startswith("--- v1\n+++ v2")


# --- docs/examples/guardrails-*.yaml ---------------------------------------------------------------
def _example_llm(messages, info):  # noqa: ANN001, ANN202
    """Answers each example: a tool call when tools are offered, JSON when a schema is asked for."""
    system, last = messages[0]["content"], messages[-1]
    if info.get("tools") and last["role"] == "user":
        name = info["tools"][0]["function"]["name"]
        return {"content": "", "tool_calls": [{"id": "c1", "type": "function",
                                               "function": {"name": name, "arguments": json.dumps({"q": "Ada"})}}]}
    if "JSON Schema" in system:
        return {"content": json.dumps({"sentiment": "positive", "summary": "Happy customer.", "urgent": False})}
    return {"content": f"Noted: {last['content']}"[:300]}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("guardrails-*.yaml")), ids=lambda q: q.name)
async def test_examples_run_end_to_end(stack: Stack, path: Path) -> None:
    p = stack.p
    spec = AgentSpec.from_yaml(path.read_text())
    for ref in spec.tools:  # the same demo CRM API, served by the counting CRM of this module
        ref.tool_id = stack.crm_tool if ref.tool_id == "demo-crm" else ref.tool_id
    p.runs.runner.llm = FunctionLLM(_example_llm)
    aid = await _agent(p, spec)
    before = len(stack.crm_requests)
    e = await _run(p, aid, "Ada Lovelace (ada@engines.example) wrote: great demo, thanks!",
                   sandbox=bool(spec.tools))
    assert e.status == "succeeded", (path.name, e.error)
    assert len(stack.crm_requests) == before  # the sandbox example reached no CRM
    if spec.guardrails.output_schema:
        assert json.loads(e.output)["sentiment"] == "positive"
    if spec.guardrails.pii.enabled:
        assert "ada@engines.example" not in (e.input + (e.output or "") + e.spans_json)


# --- GraphQL ---------------------------------------------------------------------------------------
SAVE = "mutation($y: String!, $id: String) { saveAgent(specYaml: $y, agentId: $id, publish: true) { id } }"
RUN = """mutation($id: String!, $input: String!) { runAgent(agentId: $id, input: $input, sandbox: true) {
  id status output sandbox errorCode } }"""
GENERATE = "mutation($id: String!) { generateTestInputs(agentId: $id, count: 2) }"
COMPARE = """mutation($id: String!, $inputs: [String!]!) { compareVersions(agentId: $id, versionA: 1, versionB: 2,
  inputs: $inputs) { input diff a { version sandbox status } b { version sandbox status } } }"""


def test_graphql_sandbox_generate_and_compare(gql) -> None:
    from api._ui_sandbox import compare_frame, diff_text

    spec = AgentSpec.from_yaml((EXAMPLES / "guardrails-sandbox-crm.yaml").read_text())
    spec.name = f"Lead lookup {uuid.uuid4().hex[:6]}"
    aid = gql(SAVE, y=spec.to_yaml())["data"]["saveAgent"]["id"]
    run = gql(RUN, id=aid, input="find lead Ada")["data"]["runAgent"]
    assert run["sandbox"] is True and run["status"] == "succeeded", run
    inputs = gql(GENERATE, id=aid)["data"]["generateTestInputs"]
    assert len(inputs) == 2
    spec.system_prompt = "Answer in one short sentence only."
    assert gql(SAVE, y=spec.to_yaml(), id=aid)["data"]["saveAgent"]["id"] == aid
    rows = gql(COMPARE, id=aid, inputs=inputs)["data"]["compareVersions"]
    assert [r["input"] for r in rows] == inputs
    assert all(r["a"]["sandbox"] and r["b"]["sandbox"] and (r["a"]["version"], r["b"]["version"]) == (1, 2)
               for r in rows)
    frame = compare_frame([{**r, "a": {**r["a"], "output": "x"}, "b": {**r["b"], "output": "y"}} for r in rows])
    assert list(frame.columns) == ["input", "version A", "version B"] and len(frame) == 2
    assert "# input:" in diff_text(rows)
    bad = gql(COMPARE, id="no-such-agent", inputs=["hi"])
    assert bad["errors"][0]["extensions"]["code"] == "NOT_FOUND"
