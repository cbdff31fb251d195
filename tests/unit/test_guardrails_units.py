"""Guardrails without services: PII patterns, Luhn, topics, schema repair, limits, sandbox answers (issue 7)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest
from opentelemetry import trace

from agentgraph.errors import InvalidSpecError, RunError, UserError
from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM, ScriptedLLM
from runners._guardrails import RunGuard, find_blocked, guard_scope, current_guard, validate_output
from runners._pii import PIIRedactingFilter, Redactor, iban_ok, luhn_ok, redaction_scope
from runners._runner import RunUsage
from runners._sandbox import example_from_schema, recording_key, response_schema
from runners._sandbox_compare import generate_test_inputs, unified_diff

TRACER = trace.get_tracer("test")


def _spec(**kw) -> AgentSpec:
    return AgentSpec.parse({"name": "g", "description": "d", "system_prompt": "p", **kw})


# --- PII -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("number,ok", [("4111 1111 1111 1111", True), ("4111-1111-1111-1112", False),
                                       ("378282246310005", True), ("79927398713", True), ("1", False)])
def test_luhn(number: str, ok: bool) -> None:
    assert luhn_ok(number) is ok


def test_iban_mod97() -> None:
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and iban_ok("DE89370400440532013000")
    assert not iban_ok("GB82 WEST 1234 5698 7654 33") and not iban_ok("XX00")


@pytest.mark.parametrize("text,kind", [
    ("write to ada.l+crm@engines.example today", "email"),
    ("card 4111 1111 1111 1111 exp 12/29", "credit_card"),
    ("IBAN DE89 3704 0044 0532 0130 00.", "iban"),
    ("ssn 123-45-6789", "us_ssn"),
    ("from 192.168.10.254", "ipv4"),
    ("call +44 20 7946 0958", "phone"),
    ("call (555) 123-4567", "phone"),
])
def test_builtin_detectors(text: str, kind: str) -> None:
    out = Redactor().redact(text)
    assert f"[REDACTED:{kind}]" in out and out.count("[REDACTED:") == 1, out


@pytest.mark.parametrize("text", ["order 12345 shipped 2026-01-15", "card 4111 1111 1111 1112 (not Luhn)",
                                  "version 1.2.3.4.5", "ticket #42 costs 19.99", "10 items at 3.50"])
def test_no_false_positives(text: str) -> None:
    assert Redactor().redact(text) == text


def test_custom_patterns_and_builtin_choice() -> None:
    r = Redactor(["email"], [("customer_id", r"CUST-\d{6}")])
    assert r.redact("CUST-123456 a@b.example 10.0.0.1") == "[REDACTED:customer_id] [REDACTED:email] 10.0.0.1"
    assert r.redact_obj({"k": ["a@b.example", 3], "a@b.example": None}) == {
        "k": ["[REDACTED:email]", 3], "[REDACTED:email]": None}
    with pytest.raises(ValueError, match="unknown PII"):
        Redactor(["passport"])


def test_redactor_for_agent_follows_platform_default() -> None:
    assert Redactor.for_agent(_spec().guardrails.pii) is None
    assert Redactor.for_agent(_spec().guardrails.pii, default_enabled=True) is not None
    off = _spec(guardrails={"pii": {"enabled": False}}).guardrails.pii
    assert Redactor.for_agent(off, default_enabled=True) is None
    r = Redactor.for_agent(_spec(guardrails={"pii": {"enabled": True, "builtins": ["ipv4"]}}).guardrails.pii,
                           platform_patterns={"ticket": r"T-\d+"})
    assert r.redact("a@b.example 1.2.3.4 T-42") == "a@b.example [REDACTED:ipv4] [REDACTED:ticket]"


def test_log_filter_redacts_message_args_and_exception() -> None:
    flt = PIIRedactingFilter(Redactor())
    try:
        raise ValueError("bad card 4111 1111 1111 1111")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "user %s", ("a@b.example",), sys.exc_info())
    assert flt.filter(record)
    assert record.getMessage() == "user [REDACTED:email]"
    assert "4111" not in record.exc_text and "[REDACTED:credit_card]" in record.exc_text
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s", ("a@b.example",), None)
    with redaction_scope(Redactor(["ipv4"])):  # a run's own redactor wins over the default
        PIIRedactingFilter(None).filter(plain)
    assert plain.getMessage() == "user a@b.example"


# --- spec validation -----------------------------------------------------------------------------------
def test_spec_defaults_change_nothing_and_bad_values_are_refused() -> None:
    s = _spec()
    assert s.guardrails.output_schema is None and s.guardrails.blocked_topics == [] and s.guardrails.pii.enabled is None
    assert (s.limits.max_tool_calls, s.limits.max_tokens, s.limits.max_cost_usd) == (None, None, None)
    with pytest.raises(InvalidSpecError, match="does not compile"):
        _spec(guardrails={"pii": {"patterns": [{"name": "x", "regex": "("}]}})
    with pytest.raises(InvalidSpecError, match="not a valid JSON Schema"):
        _spec(guardrails={"output_schema": {"type": "nope"}})
    with pytest.raises(InvalidSpecError, match="blank"):
        _spec(guardrails={"blocked_topics": ["  "]})


# --- blocked topics and schemas ------------------------------------------------------------------------
def test_blocked_topics_whole_words_case_insensitive() -> None:
    topics = ["war", "credit card", "C++"]
    assert find_blocked("The WAR is over", topics) == "war"
    assert find_blocked("software warranty", topics) is None
    assert find_blocked("my Credit\n card", topics) == "credit card"
    assert find_blocked("I code in c++ daily", topics) == "C++"
    assert find_blocked("anything", []) is None


def test_validate_output_paths() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    assert validate_output('```json\n{"a": [1, 2]}\n```', schema) == ({"a": [1, 2]}, [])
    _, errors = validate_output('{"a": [1, "x"]}', schema)
    assert errors == ["$.a[1]: 'x' is not of type 'integer'"]
    _, errors = validate_output("hello", schema)
    assert errors[0].startswith("$: the answer is not JSON")


SCHEMA = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}


async def test_repair_succeeds_once() -> None:
    seen = []

    def fn(messages, info):
        seen.append(messages)
        return {"content": '{"n": 3}'}

    guard, usage = RunGuard(_spec(guardrails={"output_schema": SCHEMA})), RunUsage()
    out = await guard.finalize(FunctionLLM(fn), TRACER, [{"role": "system", "content": "s"},
                                                          {"role": "assistant", "content": "three"}], "three", usage)
    assert out == '{"n": 3}' and len(seen) == 1 and usage.llm_calls == 1
    assert "$: the answer is not JSON" in seen[0][-1]["content"] and seen[0][-2]["content"] == "three"


async def test_repair_fails_with_code_and_valid_answer_skips_llm() -> None:
    calls = []
    llm = FunctionLLM(lambda m, i: calls.append(1) or {"content": '{"n": "x"}'})
    guard = RunGuard(_spec(guardrails={"output_schema": SCHEMA}))
    with pytest.raises(RunError) as err:
        await guard.finalize(llm, TRACER, [], '{"m": 1}', RunUsage())
    assert err.value.code == "OUTPUT_SCHEMA_INVALID" and "$.n" in err.value.message and calls == [1]
    assert await guard.finalize(llm, TRACER, [], '{"n": 1}', RunUsage()) == '{"n": 1}' and calls == [1]


async def test_output_topic_is_withheld() -> None:
    guard = RunGuard(_spec(guardrails={"blocked_topics": ["salary"]}))
    with pytest.raises(RunError) as err:
        await guard.finalize(ScriptedLLM(), TRACER, [], "Her Salary is 10k", RunUsage())
    assert err.value.code == "BLOCKED_TOPIC" and "withheld" in err.value.message


# --- limits ------------------------------------------------------------------------------------------
def test_limits() -> None:
    guard = RunGuard(_spec(limits={"max_tool_calls": 2, "max_tokens": 100, "max_cost_usd": 0.5}))
    usage = RunUsage(prompt_tokens=60, completion_tokens=40, cost_usd=0.5, tool_calls=2)
    guard.check_limits(usage)  # at the limit is fine
    with pytest.raises(RunError, match=r"limits.max_tool_calls: it reached 3 tool calls, the limit is 2") as err:
        guard.before_tool(usage)
    assert err.value.code == "RUN_LIMIT_EXCEEDED"
    usage.completion_tokens += 1
    with pytest.raises(RunError, match=r"limits.max_tokens: it reached 101 tokens"):
        guard.check_limits(usage)
    usage.completion_tokens, usage.cost_usd = 40, 0.51
    with pytest.raises(RunError, match=r"limits.max_cost_usd: it reached 0.510000 USD, the limit is 0.5 USD"):
        guard.check_limits(usage)
    RunGuard(_spec()).check_limits(RunUsage(prompt_tokens=10**9, cost_usd=10**6, tool_calls=10**6))


def test_guard_scope() -> None:
    g = RunGuard(_spec())
    with guard_scope(g):
        assert current_guard() is g
    assert current_guard() is None


# --- sandbox answers -----------------------------------------------------------------------------------
def test_example_from_schema_is_deterministic() -> None:
    schema = {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string", "example": "ld-1"}, "status": {"enum": ["new", "won"]},
        "email": {"type": "string", "format": "email"}, "score": {"type": "integer", "minimum": 5},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
        "note": {"anyOf": [{"type": "null"}, {"type": "string"}]}, "ok": {"type": "boolean", "default": False}}}}
    value = example_from_schema(schema)
    assert value == example_from_schema(schema)
    assert value == [{"id": "ld-1", "status": "new", "email": "user@sandbox.example", "score": 5,
                      "tags": ["tag"], "note": "note (sandbox)", "ok": False}]


def test_response_schema_by_mcp_name() -> None:
    doc = {"paths": {"/leads": {"get": {"operationId": "search-leads", "responses": {
        "404": {"description": "x"},
        "200": {"content": {"application/json": {"schema": {"type": "array"}}}}}}}}}
    assert response_schema(doc, "search_leads") == {"type": "array"}
    assert response_schema(doc, "nope") is None
    assert recording_key("t", "crm", "op", {"b": 1, "a": 2}) == recording_key("t", "crm", "op", {"a": 2, "b": 1})


async def test_sandbox_hook_prefers_recordings_and_never_calls_real() -> None:
    from runners._sandbox import GuardrailServices

    class FakeRedis(dict):
        async def get(self, k):
            return super().get(k)

        async def set(self, k, v, ex=None):
            self[k] = v

    doc = {"paths": {"/x": {"get": {"operationId": "op", "responses": {
        "200": {"content": {"application/json": {"schema": {"type": "object", "properties": {
            "n": {"type": "integer"}}}}}}}}}}}
    tools = SimpleNamespace(get=_async(SimpleNamespace(openapi=doc)))
    svc = GuardrailServices(redis=FakeRedis(), tools=tools)
    spec = _spec(tools=[{"tool_id": "crm"}])
    real_calls = []

    async def real():
        real_calls.append(1)
        return "REAL"

    guard, _ = svc.for_run(spec, tenant_id="t", sandbox=False)
    assert await guard.call_tool("crm", "op", {"q": 1}, real) == "REAL" and real_calls == [1]
    box, _ = svc.for_run(spec, tenant_id="t", sandbox=True)
    assert await box.call_tool("crm", "op", {"q": 1}, real) == "REAL"  # the recording
    assert json.loads(await box.call_tool("crm", "op", {"q": 2}, real)) == {"n": 1}  # generated
    assert await box.call_tool("local:memory", "remember", {}, real) == "Sandbox mode: nothing was stored."
    assert real_calls == [1]


def _async(value):
    async def f(**_):
        return value
    return f


# --- compare helpers -----------------------------------------------------------------------------------
def test_unified_diff() -> None:
    assert unified_diff("a\nb", "a\nb", "v1", "v2") == ""
    assert unified_diff("a\nb", "a\nc", "v1", "v2").splitlines()[:2] == ["--- v1", "+++ v2"]


async def test_generate_test_inputs() -> None:
    got = await generate_test_inputs(ScriptedLLM(), _spec(), 4)
    assert len(got) == 4 and all(0 < len(x) <= 300 for x in got)
    odd = FunctionLLM(lambda m, i: {"content": "first request\n\nsecond request"})
    assert await generate_test_inputs(odd, _spec(), 5) == ["first request", "second request"]
    with pytest.raises(UserError):
        await generate_test_inputs(ScriptedLLM(), _spec(), 0)


def test_redact_outcome_keeps_span_ids() -> None:
    from runners._guardrails import redact_outcome

    spans = [{"name": "tool.call", "span_id": "4111111111111111", "parent_id": None,
              "attributes": {"tool.arguments": '{"q": "a@b.example"}'}}]
    out, err, kept = redact_outcome(Redactor(), "mail a@b.example", None, spans)
    assert out == "mail [REDACTED:email]" and err is None
    assert kept[0]["span_id"] == "4111111111111111" and "[REDACTED:email]" in kept[0]["attributes"]["tool.arguments"]
    assert redact_outcome(None, "a@b.example", "e", spans) == ("a@b.example", "e", spans)
