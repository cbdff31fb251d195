"""External agents end to end: each docs/examples/external-*.yaml runs through ``platform.runs.run``
against a local stub of its platform (tests/external_stubs.py), on the real embedded stack.

Covers: every adapter's documented shape, auth checked by the stubs (bearer, header, hmac),
a refused credential, a mapping error, an input-schema error, a timeout, a 5xx, a missing
secret, "Test connection" and the periodic health monitor (stored on the Agent node,
tenant-scoped), and one run through GraphQL ``runAgent``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agentgraph.errors import NotFoundError
from agentgraph.spec import AgentSpec, ExternalAgentConfig
from tests.external_stubs import MAKE_RESPONDING_TOKEN, SECRETS

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
#: Secret names used by the examples -> the value each stub expects.
EXAMPLE_SECRETS = {"support-api-token": SECRETS["rest"], "n8n-webhook-key": SECRETS["n8n"],
                   "make-webhook-key": SECRETS["make"], "langgraph-api-key": SECRETS["langgraph"],
                   "crewai-token": SECRETS["crewai"], "signing-key": SECRETS["hmac"]}


def example_spec(name: str, stubs, **external) -> AgentSpec:
    """An example spec whose URL host is replaced by the stub of its platform (path kept)."""
    spec = AgentSpec.from_yaml((EXAMPLES / f"external-{name}.yaml").read_text())
    assert spec.external is not None
    path = urlsplit(spec.external.url).path
    data = {**spec.external.model_dump(), "url": stubs.origin[spec.external.kind.value] + path, **external}
    spec.external = ExternalAgentConfig.model_validate(data)  # validated like a saved spec
    return spec


async def create_agent(p, spec: AgentSpec) -> str:
    aid = f"{spec.slug}-{uuid.uuid4().hex[:8]}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=[],
                          created_by=p.user_id)
    return aid


async def run(p, aid: str, text: str, thread_id: str | None = None):
    return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=text, thread_id=thread_id)


async def set_secrets(p) -> None:
    for name, value in EXAMPLE_SECRETS.items():
        await p.external.secrets.set(tenant_id=p.tenant_id, name=name, value=value)


def call_span(e) -> dict:
    [span] = [s for s in e.spans if s["name"] == "external.call"]
    return span


async def test_every_example_runs_end_to_end(platform, stubs) -> None:
    p = platform
    await set_secrets(p)
    expected = {
        "rest": "REST agent got: Where is my order 42?",
        "n8n": "n8n workflow answered: Where is my order 42?",
        "make": "Make scenario processed: Where is my order 42?",
        "langserve": "LangServe says: Where is my order 42?",
        "crewai": "Crew report on Where is my order 42?",
        "langgraph": "LangGraph turn 1: Where is my order 42?",
    }
    for name in ("rest", "n8n", "make", "zapier", "langgraph", "langserve", "crewai"):
        spec = example_spec(name, stubs)
        aid = await create_agent(p, spec)
        e = await run(p, aid, "Where is my order 42?", thread_id="thr-ext")
        assert e.status == "succeeded", (name, e.error)
        if name == "zapier":  # asynchronous: the output is the acknowledgement
            assert '"status": "success"' in e.output and '"request_id"' in e.output
        else:
            assert e.output == expected[name]
        # No LLM is called: no tokens, no cost (budgets do not apply).
        assert (e.prompt_tokens, e.completion_tokens, e.cost_usd or 0.0) == (0, 0, 0.0)
        span = call_span(e)
        assert span["attributes"]["external.platform"] == name
        assert span["attributes"]["external.host"] == urlsplit(stubs.origin[name]).netloc
        assert span["attributes"]["http.status_code"] == 200 and span["attributes"]["external.latency_ms"] > 0
        assert any(s["name"] == "agent.run" for s in e.spans)
        # "Test connection" works for each platform and is stored on the Agent.
        health = await p.external.test(tenant_id=p.tenant_id, agent_id=aid)
        assert health.ok, (name, health.detail)
        stored = await p.external.health(tenant_id=p.tenant_id, agent_id=aid)
        assert stored.status == "up" and stored.latency_ms is not None and stored.checked_at
        if name == "langgraph":  # the same thread continues on the same remote thread
            again = await run(p, aid, "And the invoice?", thread_id="thr-ext")
            assert again.output == "LangGraph turn 2: And the invoice?"
            other = await run(p, aid, "Hello", thread_id="thr-other")
            assert other.output == "LangGraph turn 1: Hello"

    # What the stubs received: documented shapes and the credentials.
    rest = stubs.calls["rest"][-1]
    assert rest["headers"]["authorization"] == f"Bearer {SECRETS['rest']}"
    assert rest["body"]["question"] == "Where is my order 42?" and rest["body"]["thread_id"] == "thr-ext"
    assert stubs.calls["n8n"][-1]["headers"]["x-n8n-key"] == SECRETS["n8n"]
    assert stubs.calls["make"][-1]["path"] == f"/{MAKE_RESPONDING_TOKEN}"
    assert stubs.calls["zapier"][-1]["body"] == {"message": "Where is my order 42?", "thread_id": "thr-ext"}
    lg = stubs.calls["langgraph"][0]
    assert lg["body"]["assistant_id"] == "support" and lg["body"]["if_not_exists"] == "create"
    assert lg["body"]["input"] == {"messages": [{"role": "user", "content": "Where is my order 42?"}]}
    ls = stubs.calls["langserve"][-1]
    assert ls["path"] == "/support/invoke" and ls["body"]["input"] == "Where is my order 42?"
    assert ls["body"]["config"]["configurable"]["thread_id"] == "thr-ext"
    crew = [c for c in stubs.calls["crewai"] if c["method"] == "POST"][-1]
    assert crew["body"] == {"inputs": {"topic": "Where is my order 42?"}}
    assert sum(1 for c in stubs.calls["crewai"] if c["path"].startswith("/status/")) >= 2  # polled
    # The secret values never reach the stored spec or the Execution.
    for name in ("rest", "n8n"):
        assert SECRETS[name] not in example_spec(name, stubs).to_yaml()


async def test_failures_are_recorded_with_clear_errors(platform, stubs) -> None:
    p = platform
    await set_secrets(p)

    async def outcome(name: str, text: str = "hi", **external):
        return await run(p, await create_agent(p, example_spec(name, stubs, **external)), text)

    # 5xx: failed, the message names the platform, the status and what to check.
    e = await outcome("rest", url=stubs.origin["rest"] + "/v1/fail")
    assert (e.status, e.error_code) == ("failed", "EXTERNAL_AGENT_FAILED")
    assert "rest" in e.error and "HTTP 500" in e.error and "execution log" in e.error
    assert call_span(e)["status"] == "ERROR" and call_span(e)["attributes"]["http.status_code"] == 500
    # Mapping error: the answer is not where response_path says.
    e = await outcome("rest", url=stubs.origin["rest"] + "/v1/odd")
    assert (e.status, e.error_code) == ("failed", "EXTERNAL_MAPPING_FAILED")
    assert "$.data.answer" in e.error and "unexpected" in e.error
    # Timeout of the HTTP call: timed_out.
    e = await outcome("rest", url=stubs.origin["rest"] + "/v1/slow", timeout_s=0.5)
    assert (e.status, e.error_code) == ("timed_out", "RUN_TIMEOUT") and "timeout_s=0.5" in e.error
    assert e.latency_ms < 2500
    # Refused credentials: the stub checks the header.
    await p.external.secrets.set(tenant_id=p.tenant_id, name="wrong-key", value="nope")
    e = await outcome("n8n", auth={"kind": "header", "header": "X-N8N-Key", "secret": "wrong-key"})
    assert e.status == "failed" and "HTTP 403" in e.error and "credentials" in e.error
    # A secret that does not exist.
    e = await outcome("rest", auth={"kind": "bearer", "secret": "never-stored"})
    assert (e.status, e.error_code) == ("failed", "SECRET_NOT_FOUND") and "setAgentSecret" in e.error
    # Unknown n8n webhook path: 404 with the hint.
    e = await outcome("n8n", url=stubs.origin["n8n"] + "/webhook/nope")
    assert e.status == "failed" and "HTTP 404" in e.error and "active" in e.error
    # LangGraph: unknown assistant.
    e = await outcome("langgraph", assistant_id="nobody")
    assert e.status == "failed" and "assistant_id" in e.error
    # Input schema: the input must be a JSON object with order_id.
    schema = {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "integer"}}}
    e = await outcome("rest", "not json", input_schema=schema)
    assert (e.status, e.error_code) == ("failed", "EXTERNAL_MAPPING_FAILED") and "input_schema" in e.error
    e = await outcome("rest", '{"order_id": 7}', input_schema=schema,
                      request_template={"question": "order {{input.order_id}}"})
    assert e.status == "succeeded" and e.output == "REST agent got: order 7"
    # Make without a Webhook response module: "Accepted" is the output.
    e = await outcome("make", url=stubs.origin["make"] + "/another-scenario", response_path=None)
    assert e.status == "succeeded" and e.output == "Accepted"
    # HMAC-signed REST call, verified by the stub.
    e = await outcome("rest", "sign me", url=stubs.origin["rest"] + "/signed", response_path="result.text",
                      auth={"kind": "hmac", "secret": "signing-key"}, request_template=None)
    assert e.status == "succeeded" and e.output == "signed ok: sign me"


async def test_callback_answers_an_asynchronous_zap(platform, platform_url, stubs) -> None:
    """A Zap acknowledges at once and POSTs its result to {{callback_url}} later; the callback arrives at
    the served platform (another Platform instance) and reaches this run through Redis."""
    import httpx

    p = platform
    template = {"message": "{{input}}", "callback_url": "{{callback_url}}"}
    spec = example_spec("zapier", stubs, await_callback=True, callback_timeout_s=20, request_template=template,
                        response_path="note", output_schema={"type": "string"})
    e = await run(p, await create_agent(p, spec), "new lead ACME")
    assert e.status == "succeeded", e.error
    assert e.output == "Zap done: new lead ACME"
    assert '"status": "success"' in call_span(e)["attributes"]["external.ack"]
    sent = [c for c in stubs.calls["zapier"] if "body" in c][-1]["body"]["callback_url"]
    assert sent.startswith(platform_url + "/external/callback/" + e.id + "?token=")
    assert {"callback_status": 202} in stubs.calls["zapier"]
    async with httpx.AsyncClient() as client:  # one-shot: the same URL is refused afterwards
        r = await client.post(sent, json={"note": "again"})
        assert r.status_code == 404 and r.json()["code"] == "UNKNOWN_CALLBACK"
        r = await client.post(f"{platform_url}/external/callback/{e.id}?token=guess", json={})
        assert r.status_code == 404
    # No callback within callback_timeout_s: timed out, with what to check.
    quiet = example_spec("zapier", stubs, await_callback=True, callback_timeout_s=0.5,
                         request_template={"message": "{{input}}"})
    e = await run(p, await create_agent(p, quiet), "nobody calls back")
    assert (e.status, e.error_code) == ("timed_out", "RUN_TIMEOUT") and "callback_url" in e.error


async def test_health_check_and_monitor(platform, stubs) -> None:
    from runners import ExternalAgentService

    p = platform
    await set_secrets(p)
    up = await create_agent(p, example_spec("rest", stubs))
    down = await create_agent(p, example_spec("rest", stubs, url="http://127.0.0.1:9/v1/answer", health_path=None))
    await p.external.secrets.set(tenant_id=p.tenant_id, name="bad-token", value="bad")
    refused = await create_agent(p, example_spec("rest", stubs, auth={"kind": "bearer", "secret": "bad-token"}))
    r = await p.external.test(tenant_id=p.tenant_id, agent_id=refused)
    assert not r.ok and r.status_code == 401 and "credentials" in r.detail
    # A react agent has no connection to test; another tenant sees nothing.
    react = AgentSpec(name="plain", description="d", system_prompt="p")
    with pytest.raises(Exception, match="not an external agent"):
        await p.external.test(tenant_id=p.tenant_id, agent_id=await create_agent(p, react))
    with pytest.raises(NotFoundError):
        await p.external.health(tenant_id="some-other-tenant", agent_id=up)
    with pytest.raises(NotFoundError):
        await p.external.test(tenant_id="some-other-tenant", agent_id=up)
    # The periodic monitor probes every external agent and stores the outcome on the Agent.
    monitor = ExternalAgentService(agents=p.runs.agents, secrets=p.external.secrets, tracer=p.runs.tracer,
                                   health_interval_s=0.2)
    monitor.start()
    try:
        for _ in range(100):
            if monitor.checks_run >= 1:
                break
            await asyncio.sleep(0.1)
    finally:
        await monitor.aclose()
    assert monitor.checks_run >= 1
    h_up = await p.external.health(tenant_id=p.tenant_id, agent_id=up)
    h_down = await p.external.health(tenant_id=p.tenant_id, agent_id=down)
    assert h_up.status == "up" and h_down.status == "down" and "unreachable" in h_down.detail
    assert h_up.latency_ms is not None and h_up.checked_at


async def test_graphql_secret_test_connection_and_run(gql, stubs) -> None:
    spec = example_spec("langserve", stubs)
    r = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id agentType } }", y=spec.to_yaml())
    assert "errors" not in r, r
    aid = r["data"]["saveAgent"]["id"]
    assert r["data"]["saveAgent"]["agentType"] == "external"
    r = gql("mutation($a: String!, $i: String!) { runAgent(agentId: $a, input: $i) { status output spans { name } } }",
            a=aid, i="Tell me a joke")
    assert "errors" not in r, r
    run_ = r["data"]["runAgent"]
    assert run_["status"] == "succeeded" and run_["output"] == "LangServe says: Tell me a joke"
    assert "external.call" in {s["name"] for s in run_["spans"]}
    r = gql("mutation($a: ID!) { testExternalAgent(agentId: $a) { ok status latencyMs detail checkedAt } }", a=aid)
    assert "errors" not in r, r
    assert r["data"]["testExternalAgent"]["ok"] is True and r["data"]["testExternalAgent"]["latencyMs"] > 0
    r = gql("query($a: ID!) { externalAgentHealth(agentId: $a) { status latencyMs checkedAt } }", a=aid)
    assert r["data"]["externalAgentHealth"]["status"] == "up"
    # Secrets: write-only; listing shows names.
    r = gql('mutation { setAgentSecret(name: "gql-secret", value: "s3cr3t-value") }')
    assert r["data"]["setAgentSecret"] is True
    r = gql("{ agentSecrets }")
    assert "gql-secret" in r["data"]["agentSecrets"] and "s3cr3t-value" not in str(r)
    r = gql('mutation { setAgentSecret(name: "bad name!", value: "x") }')
    assert r["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert gql('mutation { deleteAgentSecret(name: "gql-secret") }')["data"]["deleteAgentSecret"] is True
