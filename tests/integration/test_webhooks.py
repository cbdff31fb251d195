"""Webhook triggers end to end on the served platform: signed POST -> 202 -> run completes; every rejection;
idempotency keys; IP allow-list; secret rotation; run events over SSE and the GraphQL subscription."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest

from agentgraph.webhooks import IDEMPOTENCY_HEADER, signed_headers
from tests.conftest import ADMIN_HEADERS

SPEC = """name: Hook agent
description: Answers webhook events.
system_prompt: You summarise incoming events in one line.
"""
CREATE = """mutation($a: String!, $s: JSON, $ips: [String!], $t: String) {
  createWebhookTrigger(agentId: $a, payloadSchema: $s, allowIps: $ips, inputTemplate: $t) {
    url secret trigger { id kind name config fireCount } } }"""
SCHEMA = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "maxLength": 500}}}


@pytest.fixture(scope="module")
def agent_id(gql) -> str:
    body = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=SPEC)
    assert "errors" not in body, body
    return body["data"]["saveAgent"]["id"]


@pytest.fixture(scope="module")
def hook(gql, agent_id) -> dict:
    body = gql(CREATE, a=agent_id, s=SCHEMA, ips=None, t="Summarise: {{ text }}")
    assert "errors" not in body, body
    return body["data"]["createWebhookTrigger"]


def _post(url: str, payload: object, secret: str | None, *, ts: int | None = None, headers: dict | None = None,
          raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    h = {"Content-Type": "application/json", **(signed_headers(secret, body, timestamp=ts) if secret else {}),
         **(headers or {})}
    return httpx.post(url, content=body, headers=h, timeout=30)


def _wait_run(gql, run_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        e = gql("query($id: ID!) { execution(id: $id) { id status input output } }", id=run_id)["data"]["execution"]
        if e["status"] in ("succeeded", "failed", "cancelled", "timed_out") or time.monotonic() > deadline:
            return e
        time.sleep(0.2)


def test_signed_webhook_is_accepted_and_the_run_completes(gql, hook) -> None:
    assert hook["url"].split("/hooks/")[1] and hook["secret"].startswith("whsec_")
    assert hook["trigger"]["kind"] == "webhook" and "secret" not in json.dumps(hook["trigger"]["config"])
    r = _post(hook["url"], {"text": "deal 42 closed"}, hook["secret"])
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] in ("queued", "running") and out["duplicate"] is False
    run = _wait_run(gql, out["run_id"])
    assert run["status"] == "succeeded" and run["input"] == "Summarise: deal 42 closed"


@pytest.mark.parametrize("case, status, code", [
    ("unsigned", 401, "MISSING_SIGNATURE"),
    ("wrong_secret", 401, "BAD_SIGNATURE"),
    ("tampered", 401, "BAD_SIGNATURE"),
    ("replayed_old", 401, "STALE_TIMESTAMP"),
    ("future", 401, "STALE_TIMESTAMP"),
    ("schema", 422, "SCHEMA_MISMATCH"),
    ("not_json", 400, "BAD_JSON"),
    ("oversized", 413, "PAYLOAD_TOO_LARGE"),
    ("unknown_token", 404, "UNKNOWN_WEBHOOK"),
])
def test_bad_calls_are_rejected_with_clear_json(hook, case, status, code) -> None:
    url, secret, good = hook["url"], hook["secret"], {"text": "hello"}
    if case == "unsigned":
        r = _post(url, good, None)
    elif case == "wrong_secret":
        r = _post(url, good, "whsec_not-the-secret")
    elif case == "tampered":
        body = json.dumps(good).encode()
        h = signed_headers(secret, body)
        r = httpx.post(url, content=json.dumps({"text": "evil"}).encode(), headers=h)
    elif case == "replayed_old":  # a captured delivery replayed 10 minutes later, signature intact
        r = _post(url, good, secret, ts=int(time.time()) - 600)
    elif case == "future":
        r = _post(url, good, secret, ts=int(time.time()) + 600)
    elif case == "schema":
        r = _post(url, {"text": 42}, secret)
    elif case == "not_json":
        r = _post(url, None, secret, raw=b"text=hello")
    elif case == "oversized":
        r = _post(url, {"text": "x" * 300_000}, secret)
    else:
        r = _post(url.rsplit("/", 1)[0] + "/not-a-token", good, secret)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["error"]


def test_idempotency_key_returns_the_first_run_even_when_concurrent(gql, hook) -> None:
    key = str(uuid.uuid4())

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as c:
            async def one() -> httpx.Response:
                body = json.dumps({"text": "once"}).encode()
                h = {**signed_headers(hook["secret"], body), IDEMPOTENCY_HEADER: key}
                return await c.post(hook["url"], content=body, headers=h)
            return await asyncio.gather(*(one() for _ in range(8)))

    responses = asyncio.run(burst())
    assert all(r.status_code == 202 for r in responses), [r.text for r in responses]
    ids = {r.json()["run_id"] for r in responses}
    assert len(ids) == 1
    assert sum(not r.json()["duplicate"] for r in responses) == 1
    again = _post(hook["url"], {"text": "once"}, hook["secret"], headers={IDEMPOTENCY_HEADER: key})
    assert again.json() == {"run_id": ids.pop(), "status": again.json()["status"], "duplicate": True}


def test_ip_allow_list(gql, agent_id) -> None:
    closed = gql(CREATE, a=agent_id, s=None, ips=["10.0.0.0/8"], t=None)["data"]["createWebhookTrigger"]
    r = _post(closed["url"], {"a": 1}, closed["secret"])
    assert r.status_code == 403 and r.json()["code"] == "IP_NOT_ALLOWED"
    open_ = gql(CREATE, a=agent_id, s=None, ips=["127.0.0.0/8", "::1/128"], t=None)["data"]["createWebhookTrigger"]
    r = _post(open_["url"], {"a": 1}, open_["secret"])
    assert r.status_code == 202, r.text
    run = _wait_run(gql, r.json()["run_id"])
    assert run["input"] == '{"a": 1}'  # no template: the body as JSON
    bad = gql(CREATE, a=agent_id, s=None, ips=["10.0.0.300"], t=None)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_rotate_secret_and_delete(gql, agent_id) -> None:
    h = gql(CREATE, a=agent_id, s=None, ips=None, t=None)["data"]["createWebhookTrigger"]
    rot = gql("mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret trigger { id } } }", id=h["trigger"]["id"])
    new = rot["data"]["rotateWebhookSecret"]["secret"]
    assert new != h["secret"]
    assert _post(h["url"], {"a": 1}, h["secret"]).status_code == 401
    assert _post(h["url"], {"a": 1}, new).status_code == 202
    listed = gql("query($a: String) { triggers(agentId: $a) { id kind } }", a=agent_id)["data"]["triggers"]
    assert h["trigger"]["id"] in {t["id"] for t in listed}
    gql("mutation($id: ID!) { deleteTrigger(id: $id) }", id=h["trigger"]["id"])
    assert _post(h["url"], {"a": 1}, new).status_code == 404


def test_run_agent_idempotency_key(gql, agent_id) -> None:
    q = "mutation($a: String!, $k: String) { runAgent(agentId: $a, input: \"hi\", idempotencyKey: $k) { id status } }"
    key = str(uuid.uuid4())
    first = gql(q, a=agent_id, k=key)["data"]["runAgent"]
    second = gql(q, a=agent_id, k=key)["data"]["runAgent"]
    third = gql(q, a=agent_id, k=None)["data"]["runAgent"]
    assert first["id"] == second["id"] != third["id"]


def _sse(url: str, headers: dict | None = None) -> list[dict]:
    events, current = [], {}
    with httpx.stream("GET", url, headers={**ADMIN_HEADERS, **(headers or {})}, timeout=60) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "data" in current:
                    events.append({"id": current.get("id"), **json.loads(current["data"])})
                current = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(":")
                current[k] = v.strip()
    return events


def test_sse_streams_queued_to_succeeded_and_resumes(gql, hook, platform_url) -> None:
    r = _post(hook["url"], {"text": "stream me"}, hook["secret"])
    run_id = r.json()["run_id"]
    events = _sse(f"{platform_url}/runs/{run_id}/events")
    statuses = [e["status"] for e in events]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and "running" in statuses
    resumed = _sse(f"{platform_url}/runs/{run_id}/events", {"Last-Event-ID": events[0]["id"]})
    assert [e["id"] for e in resumed] == [e["id"] for e in events[1:]]
    assert _sse(f"{platform_url}/runs/{run_id}/events", {"Last-Event-ID": events[-1]["id"]}) == []
    missing = httpx.get(f"{platform_url}/runs/run_nope/events", headers=ADMIN_HEADERS)
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    history = gql("query($r: String!) { runEvents(runId: $r) { id status } }", r=run_id)["data"]["runEvents"]
    assert [h["id"] for h in history] == [e["id"] for e in events]


def test_graphql_subscription_receives_run_events(hook, platform_url) -> None:
    import websockets

    url = platform_url.replace("http://", "ws://") + "/graphql"
    r = _post(hook["url"], {"text": "subscribe"}, hook["secret"])
    run_id = r.json()["run_id"]

    async def collect() -> list[str]:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": ADMIN_HEADERS}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription($r: String!) { runEvents(runId: $r) { id status runId } }",
                "variables": {"r": run_id}}}))
            out = []
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "next":
                    assert "errors" not in msg["payload"], msg
                    out.append(msg["payload"]["data"]["runEvents"]["status"])
                elif msg["type"] == "complete":
                    return out
                else:
                    raise AssertionError(msg)

    statuses = asyncio.run(collect())
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"


def test_sync_agent_triggers_from_the_spec(gql) -> None:
    spec = SPEC + """triggers:
- kind: webhook
  name: crm-events
  payload_schema: {type: object, required: [lead]}
  input_template: "Follow up {{ lead }}"
- kind: calendar
  name: daily
  schedule: "0 9 * * 1-5"
  timezone: Europe/Berlin
  input: Daily pipeline report
- kind: kafka
  name: stream
  url: kafka:9092
  topic: leads
"""
    aid = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=spec)["data"]["saveAgent"]["id"]
    q = "mutation($a: String!) { syncAgentTriggers(agentId: $a) { url secret trigger { name kind config nextFireAt } } }"
    made = gql(q, a=aid)["data"]["syncAgentTriggers"]
    by_name = {m["trigger"]["name"]: m for m in made}
    assert set(by_name) == {"crm-events", "daily"}  # kafka is Argo Events only
    hook, daily = by_name["crm-events"], by_name["daily"]
    assert hook["url"] and hook["secret"] and hook["trigger"]["config"]["inputTemplate"] == "Follow up {{ lead }}"
    assert daily["url"] is None and daily["trigger"]["kind"] == "schedule" and daily["trigger"]["nextFireAt"]
    assert gql(q, a=aid)["data"]["syncAgentTriggers"] == []  # idempotent by name
    r = _post(hook["url"], {"nope": 1}, hook["secret"])
    assert r.status_code == 422 and r.json()["code"] == "SCHEMA_MISMATCH"
    assert _post(hook["url"], {"lead": "Ada"}, hook["secret"]).status_code == 202


def test_tenant_run_events_subscription_sees_new_runs(hook, platform_url) -> None:
    import websockets

    url = platform_url.replace("http://", "ws://") + "/graphql"

    async def collect() -> set[str]:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": ADMIN_HEADERS}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "t", "type": "subscribe", "payload": {
                "query": "subscription { tenantRunEvents { runId status tenantId } }"}}))
            await asyncio.sleep(0.5)  # subscribed from "now": start the run after the subscription is live
            r = await asyncio.to_thread(_post, hook["url"], {"text": "tenant feed"}, hook["secret"])
            run_id = r.json()["run_id"]
            seen: set[str] = set()
            while "succeeded" not in seen:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                assert msg["type"] == "next", msg
                ev = msg["payload"]["data"]["tenantRunEvents"]
                if ev["runId"] == run_id:
                    seen.add(ev["status"])
            return seen

    assert {"queued", "running", "succeeded"} <= asyncio.run(collect())
