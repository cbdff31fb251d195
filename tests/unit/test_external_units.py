"""External agents without services: spec validation, templates, response mapping, auth headers,
schema checks and adapter error mapping (httpx MockTransport stands in for the remote platform)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from agentgraph.errors import InvalidSpecError, RunError, RunTimeoutError
from agentgraph.spec import AgentSpec, ExternalAgentConfig, ExternalAuth
from agentgraph.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook
from runners import (ExternalAgentError, ExternalContext, ExternalMappingError, ExternalTimeoutError,
                     build_adapter)
from runners._external import auth_headers, check_against_schema, extract, render_template

CTX = ExternalContext(tenant_id="t", agent_id="a", run_id="run-1", thread_id="thr-1")
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _spec(**external) -> dict:
    return {"name": "x", "description": "d", "system_prompt": "p", "agent_type": "external",
            "external": {"kind": "rest", "url": "https://agents.example.com/x", **external}}


def test_spec_requires_external_exactly_for_external_type() -> None:
    assert AgentSpec.parse(_spec()).external is not None
    with pytest.raises(InvalidSpecError, match="external"):
        AgentSpec.parse({"name": "x", "description": "d", "system_prompt": "p", "agent_type": "external"})
    with pytest.raises(InvalidSpecError, match="external"):
        AgentSpec.parse({**_spec(), "agent_type": "react"})
    # Existing specs are unchanged: no external section, react by default.
    assert AgentSpec(name="x", description="d", system_prompt="p").external is None


@pytest.mark.parametrize("bad, match", [
    ({"url": "ftp://host/x"}, "http"),
    ({"auth": {"kind": "bearer"}}, "secret"),
    ({"auth": {"kind": "basic", "secret": "s"}}, "username"),
    ({"auth": {"kind": "header", "secret": "s"}}, "header"),
    ({"auth": {"kind": "bearer", "secret": "not a name!"}}, "pattern"),
    ({"headers": {"Authorization": "Bearer abc"}}, "credentials"),
    ({"response_path": "$.[["}, "JSONPath"),
    ({"input_schema": {"type": "nonsense"}}, "JSON Schema"),
    ({"kind": "langgraph"}, "assistant_id"),
    ({"kind": "n8n", "method": "GET"}, "method"),
    ({"timeout_s": 0}, "greater than 0"),
    ({"kind": "langserve", "await_callback": True}, "synchronously"),
])
def test_spec_refuses_bad_external_config(bad, match) -> None:
    with pytest.raises(InvalidSpecError, match=match):
        AgentSpec.parse(_spec(**bad))


def test_examples_parse_and_keep_secrets_out() -> None:
    files = sorted(EXAMPLES.glob("external-*.yaml"))
    kinds = {AgentSpec.from_yaml(f.read_text()).external.kind.value for f in files}
    assert kinds == {"rest", "n8n", "make", "zapier", "langgraph", "langserve", "crewai"}
    for f in files:  # auth references secrets by name only
        spec = AgentSpec.from_yaml(f.read_text())
        assert set(spec.external.auth.model_dump()) == {"kind", "secret", "username", "header"}
        assert AgentSpec.from_yaml(spec.to_yaml()) == spec  # YAML round trip


def test_render_template() -> None:
    tpl = {"q": "{{input}}", "obj": "{{ input }}", "meta": ["{{thread_id}}", "run {{run_id}} of {{agent_id}}"], "n": 3}
    assert render_template(tpl, input="hello", ctx=CTX) == {
        "q": "hello", "obj": "hello", "meta": ["thr-1", "run run-1 of a"], "n": 3}
    # JSON input: whole-value placeholders keep types; fields by dotted path.
    out = render_template({"id": "{{input.order.id}}", "text": "order {{input.order.id}}", "all": "{{input}}"},
                          input='{"order": {"id": 42}}', ctx=CTX)
    assert out == {"id": 42, "text": "order 42", "all": '{"order": {"id": 42}}'}
    with pytest.raises(ExternalMappingError, match="input.missing"):
        render_template({"x": "{{input.missing}}"}, input='{"a": 1}', ctx=CTX)
    with pytest.raises(ExternalMappingError, match="secret"):
        render_template("{{secret}}", input="x", ctx=CTX)


def test_extract_jsonpath_and_dotted() -> None:
    data = {"data": {"items": [{"t": "a"}, {"t": "b"}]}, "messages": [{"content": "x"}, {"content": "y"}]}
    assert extract(data, "$.data.items[1].t") == "b"
    assert extract(data, "$.messages[-1].content") == "y"
    assert extract(data, "$.data.items[*].t") == ["a", "b"]
    assert extract(data, "data.items.0.t") == "a"
    assert extract(data, "messages.-1.content") == "y"
    assert extract(data, None) is data
    with pytest.raises(ExternalMappingError, match=r"top-level keys: \['data', 'messages'\]"):
        extract(data, "$.answer")
    with pytest.raises(ExternalMappingError, match="data.nope"):
        extract(data, "data.nope")


def test_check_against_schema() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    check_against_schema({"n": 1}, schema, what="output", platform="rest")
    check_against_schema("anything", None, what="output", platform="rest")
    with pytest.raises(ExternalMappingError, match=r"output_schema at n: 'x' is not of type 'integer'"):
        check_against_schema({"n": "x"}, schema, what="output", platform="rest")


def test_auth_headers() -> None:
    assert auth_headers(ExternalAuth(), None, b"") == {}
    assert auth_headers(ExternalAuth(kind="bearer", secret="s"), "tok", b"") == {"Authorization": "Bearer tok"}
    basic = auth_headers(ExternalAuth(kind="basic", secret="s", username="bob"), "pw", b"")
    assert base64.b64decode(basic["Authorization"].split()[1]) == b"bob:pw"
    assert auth_headers(ExternalAuth(kind="header", secret="s", header="X-API-Key"), "k", b"") == {"X-API-Key": "k"}
    signed = auth_headers(ExternalAuth(kind="hmac", secret="s"), "key", b'{"a":1}')
    verify_webhook(["key"], timestamp=signed[TIMESTAMP_HEADER], signature=signed[SIGNATURE_HEADER], body=b'{"a":1}')


def _adapter(handler, **cfg):
    config = ExternalAgentConfig.model_validate({"kind": "rest", "url": "https://agents.example.com/x", **cfg})
    return build_adapter(config, secret="tok", transport=httpx.MockTransport(handler))


async def test_adapter_maps_http_errors_with_platform_status_and_hint() -> None:
    agent = _adapter(lambda r: httpx.Response(401, json={"error": "no"}), auth={"kind": "bearer", "secret": "k"})
    with pytest.raises(ExternalAgentError) as exc:
        await agent.execute("hi", CTX)
    assert isinstance(exc.value, RunError) and exc.value.status_code == 401
    assert "rest" in exc.value.message and "HTTP 401" in exc.value.message and "auth.secret" in exc.value.message
    assert "tok" not in exc.value.message and "tok" not in repr(agent)

    def timeout(r):
        raise httpx.ReadTimeout("slow", request=r)

    with pytest.raises(ExternalTimeoutError) as t:
        await _adapter(timeout, timeout_s=2).execute("hi", CTX)
    assert isinstance(t.value, RunTimeoutError) and "timeout_s=2.0" in t.value.message

    def refused(r):
        raise httpx.ConnectError("refused", request=r)

    with pytest.raises(ExternalAgentError, match="cannot reach agents.example.com"):
        await _adapter(refused).execute("hi", CTX)


async def test_rest_adapter_request_and_response_mapping() -> None:
    seen = {}

    def handler(r: httpx.Request) -> httpx.Response:
        seen.update(method=r.method, body=json.loads(r.content), auth=r.headers.get("authorization"),
                    extra=r.headers.get("x-team"))
        return httpx.Response(200, json={"out": {"answer": {"n": 2}}})

    agent = _adapter(handler, method="PUT", headers={"X-Team": "ops"}, auth={"kind": "bearer", "secret": "k"},
                     request_template={"q": "{{input}}", "t": "{{thread_id}}"}, response_path="$.out.answer",
                     output_schema={"type": "object"})
    res = await agent.execute("what", CTX)
    assert seen == {"method": "PUT", "body": {"q": "what", "t": "thr-1"}, "auth": "Bearer tok", "extra": "ops"}
    assert (res.output, res.data, res.status_code) == ('{"n": 2}', {"n": 2}, 200)
    get = _adapter(lambda r: httpx.Response(200, text=f"q={r.url.params['q']}"), method="GET",
                   request_template={"q": "{{input}}"})
    assert (await get.execute("hello", CTX)).output == "q=hello"


async def test_health_check_outcomes() -> None:
    ok = await _adapter(lambda r: httpx.Response(405)).health_check()
    assert ok.ok and "reachable" in ok.detail  # an endpoint that takes POST only is up
    refused = await _adapter(lambda r: httpx.Response(403)).health_check()
    assert not refused.ok and "credentials" in refused.detail
    broken = await _adapter(lambda r: httpx.Response(503), health_path="/health").health_check()
    assert not broken.ok and broken.status_code == 503
    strict = await _adapter(lambda r: httpx.Response(404), health_path="/health").health_check()
    assert not strict.ok


def test_callback_url_placeholder_only_when_awaiting() -> None:
    ctx = ExternalContext(tenant_id="t", agent_id="a", run_id="r", thread_id="h", callback_url="https://p/cb/r?t=x")
    assert render_template({"cb": "{{callback_url}}"}, input="x", ctx=ctx) == {"cb": "https://p/cb/r?t=x"}
    with pytest.raises(ExternalMappingError, match="callback_url"):
        render_template({"cb": "{{callback_url}}"}, input="x", ctx=CTX)


async def test_awaiting_adapter_returns_the_acknowledgement_unmapped() -> None:
    agent = _adapter(lambda r: httpx.Response(200, json={"status": "success", "id": "1"}), kind="zapier",
                     await_callback=True, response_path="note")
    ack = await agent.execute("x", CTX)
    assert ack.data is None and '"status": "success"' in ack.output
    assert agent.mapped({"note": "done"}, 200).output == "done"


async def test_langgraph_adapter_thread_auth_and_errors() -> None:
    seen = []

    def handler(r: httpx.Request) -> httpx.Response:
        seen.append((r.url.path, r.headers.get("x-api-key"), json.loads(r.content)))
        if json.loads(r.content)["assistant_id"] != "agent":
            return httpx.Response(404, json={"detail": "not found"})
        return httpx.Response(200, json={"messages": [{"type": "ai", "content": "hi there"}]})

    cfg = {"kind": "langgraph", "url": "https://x.us.langgraph.app", "assistant_id": "agent",
           "auth": {"kind": "header", "header": "x-api-key", "secret": "k"}}
    agent = _adapter(handler, **cfg)
    assert (await agent.execute("hello", CTX)).output == "hi there"
    path, key, body = seen[-1]
    assert path.startswith("/threads/") and path.endswith("/runs/wait") and key == "tok"
    assert body["if_not_exists"] == "create" and body["input"]["messages"][0]["content"] == "hello"
    await agent.execute("again", CTX)
    assert seen[-1][0] == path  # same thread -> same remote thread
    with pytest.raises(ExternalAgentError, match="assistant_id"):
        await _adapter(handler, **{**cfg, "assistant_id": "other"}).execute("x", CTX)
