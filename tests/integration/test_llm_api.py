"""LLM gateway and comparison over GraphQL against the real platform (graph, Redis, scripted base LLM).

Provider deployments use the in-process fake LiteLLM provider (``agentgraph-fake``,
priced per token through ``input/output_cost_per_token``); the platform server runs
in this process, so registering the provider here makes it visible to the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from agentgraph.supervisor import free_port
from agentgraph.testing import register_fake_provider

BYOK_SECRET = "sk-byok-DO-NOT-LEAK-7f3a9c1e5b"
ADD = """mutation($n: String!, $m: String!, $k: String, $s: String!, $i: Float, $o: Float) {
  addLlmDeployment(modelName: $n, litellmModel: $m, apiKey: $k, scope: $s, inputCostPerToken: $i,
                   outputCostPerToken: $o) { id name owner litellmModel hasKey apiBase } }"""
COMPLETE = """mutation($p: String!, $m: String, $k: String) { llmComplete(prompt: $p, model: $m, virtualKey: $k) {
  content model promptTokens completionTokens costUsd } }"""
SAVE = "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }"
RUN = "mutation($id: String!, $i: String!) { runAgent(agentId: $id, input: $i) { id status errorCode error costUsd model spans { name attributes } } }"
COLUMNS = "model output error latencyMs ttftMs promptTokens completionTokens costUsd judgeScore checkScore checks score"
COMPARE_INPUT = {"models": ["cmp-fast", "cmp-slow", "cmp-broken"], "input": "Name a colour",
                 "judgeModel": "cmp-judge", "expectedKeywords": ["slow"]}


def agent_yaml(name: str, model: str, max_tokens: int = 64) -> str:
    return (f"name: {name}\ndescription: test agent\nsystem_prompt: You answer briefly.\n"
            f"model: {{name: {model}, max_tokens: {max_tokens}}}\n")


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake(gql):
    provider = register_fake_provider()
    for name, price in (("cmp-fast", 1e-6), ("cmp-slow", 3e-6), ("cmp-broken", 1e-6), ("cmp-judge", 0.0)):
        target = "fail-broken" if name == "cmp-broken" else name
        body = gql(ADD, n=name, m=f"agentgraph-fake/{target}", k=None, s="platform", i=price, o=price * 2)
        assert "errors" not in body, body
    provider.latency_s["cmp-slow"] = 0.3
    provider.replies["cmp-judge"] = '{"score": 6, "reason": "adequate"}'
    return provider


@pytest.fixture(scope="module")
def webhook():
    server = HTTPServer(("127.0.0.1", free_port()), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_byok_key_is_never_returned_logged_or_traced(gql, fake, caplog) -> None:
    for name in (None, "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "agentgraph"):
        caplog.set_level(logging.DEBUG, logger=name)  # the most talkative setting a user could pick
    answers = [gql(ADD, n="byok-model", m="agentgraph-fake/byok", k=BYOK_SECRET, s="tenant", i=1e-6, o=2e-6)]
    dep = answers[0]["data"]["addLlmDeployment"]
    assert dep["hasKey"] is True and dep["owner"] == "default"
    answers.append(gql("{ llmDeployments { id name owner hasKey litellmModel apiBase } llmModels { name owner provider "
                       "contextWindow inputCostPerToken outputCostPerToken enabled } llmGateway { models cooldowns } }"))
    assert "byok-model" in {m["name"] for m in answers[-1]["data"]["llmModels"]}
    answers.append(gql(COMPLETE, p="hello", m="byok-model", k=None))
    assert answers[-1]["data"]["llmComplete"]["content"].startswith("byok says: hello")
    agent = gql(SAVE, y=agent_yaml("Byok agent", "byok-model"))["data"]["saveAgent"]
    answers.append(gql(RUN, id=agent["id"], i="Say hi"))
    run = answers[-1]["data"]["runAgent"]
    assert run["status"] == "succeeded" and run["costUsd"] > 0, run
    answers.append(gql("query($id: ID!) { execution(id: $id) { spans { name attributes } } }", id=run["id"]))
    text = json.dumps(answers)
    assert BYOK_SECRET not in text and BYOK_SECRET[-10:] not in text
    assert any(r.name.startswith("LiteLLM") for r in caplog.records)  # the logs under test exist
    assert BYOK_SECRET not in caplog.text
    assert "llm.call" in text  # the spans were searched too


def test_virtual_key_attributes_usage_and_revocation_is_immediate(gql, fake) -> None:
    created = gql("""mutation { createVirtualKey(name: "ci bot", teamId: "platform-team", userId: "ci",
                      models: ["cmp-fast"]) { secret key { id prefix status models teamId } } }""")
    vk = created["data"]["createVirtualKey"]
    assert vk["secret"].startswith("agk_") and vk["key"]["prefix"] == vk["secret"][:8]
    done = gql(COMPLETE, p="hello from ci", m="cmp-fast", k=vk["secret"])["data"]["llmComplete"]
    assert done["costUsd"] > 0
    denied = gql(COMPLETE, p="x", m="cmp-slow", k=vk["secret"])
    assert denied["errors"][0]["extensions"]["code"] == "MODEL_NOT_ALLOWED"
    usage = gql('{ llmUsage(dimension: "vkey", days: 1) { key costUsd calls } team: llmUsage(dimension: "team", days: 1) { key calls } }')["data"]
    row = next(r for r in usage["llmUsage"] if r["key"] == vk["key"]["id"])
    assert row["calls"] == 1 and row["costUsd"] == pytest.approx(done["costUsd"])
    assert any(r["key"] == "platform-team" for r in usage["team"])
    listed = gql("{ virtualKeys { id prefix status } }")["data"]["virtualKeys"]
    assert "secret" not in json.dumps(listed) and vk["secret"] not in json.dumps(listed)
    revoked = gql("mutation($id: ID!) { revokeVirtualKey(id: $id) { status revokedAt } }", id=vk["key"]["id"])
    assert revoked["data"]["revokeVirtualKey"]["status"] == "revoked"
    after = gql(COMPLETE, p="again", m="cmp-fast", k=vk["secret"])
    assert after["errors"][0]["extensions"]["code"] == "INVALID_VIRTUAL_KEY"


def test_disabled_model_is_refused_for_the_tenant(gql, fake) -> None:
    off = gql('mutation { setModelEnabled(name: "cmp-slow", enabled: false) { name enabled } }')
    assert off["data"]["setModelEnabled"] == {"name": "cmp-slow", "enabled": False}
    refused = gql(COMPLETE, p="x", m="cmp-slow", k=None)
    assert refused["errors"][0]["extensions"]["code"] == "MODEL_DISABLED"
    assert "setModelEnabled" in refused["errors"][0]["message"]
    gql('mutation { setModelEnabled(name: "cmp-slow", enabled: true) { enabled } }')
    assert "errors" not in gql(COMPLETE, p="x", m="cmp-slow", k=None)


def test_agent_budget_warns_then_blocks_runs_with_webhook(gql, fake, webhook) -> None:
    # max_tokens 8 keeps the reserved estimate close to the real cost (~1.3x), so the
    # block comes near 100 %, after the 80 % warning.
    agent = gql(SAVE, y=agent_yaml("Budgeted agent", "cmp-fast", max_tokens=8))["data"]["saveAgent"]
    first = gql(RUN, id=agent["id"], i="Say hi")["data"]["runAgent"]
    assert first["status"] == "succeeded" and first["costUsd"] > 0
    limit = first["costUsd"] * 5
    bid = gql("""mutation($a: String!, $l: Float!, $w: String!) { createBudget(scope: "agent", scopeId: $a,
                 period: "day", limitUsd: $l, name: "Budgeted agent daily", webhookUrl: $w) }""",
              a=agent["id"], l=limit, w=webhook)["data"]["createBudget"]
    statuses = []
    for _ in range(12):
        run = gql(RUN, id=agent["id"], i="Say hi")["data"]["runAgent"]
        statuses.append(run["status"])
        if run["status"] == "failed":
            assert run["errorCode"] == "BUDGET_EXCEEDED" and "Budgeted agent daily" in run["error"]
            break
    assert statuses[-1] == "failed" and statuses.count("succeeded") >= 3
    budgets = {b["id"]: b for b in gql("{ budgets { id status ratio spentUsd limitUsd periodKey } }")["data"]["budgets"]}
    assert budgets[bid]["status"] in ("warning", "blocked") and budgets[bid]["ratio"] <= 1.1
    events = [e for e in gql("{ budgetEvents { budgetId kind spentUsd webhookStatus } }")["data"]["budgetEvents"]
              if e["budgetId"] == bid]
    assert {e["kind"] for e in events} == {"warn", "blocked"}
    assert all(e["webhookStatus"] == "HTTP 204" for e in events)
    assert {h["event"] for h in _Hook.received if h["budget_id"] == bid} == {"budget.warn", "budget.blocked"}
    per_agent = gql('{ llmUsage(dimension: "agent", days: 1) { key costUsd } }')["data"]["llmUsage"]
    assert any(r["key"] == agent["id"] and r["costUsd"] > 0 for r in per_agent)
    gql("mutation($id: ID!) { deleteBudget(id: $id) }", id=bid)


def test_compare_models_mutation_scores_and_summarises(gql, fake) -> None:
    body = gql(f"""mutation($in: CompareInput!) {{ compareModels(input: $in) {{ id mode models
        columns {{ {COLUMNS} }} summary {{ fastest cheapest best line }} }} }}""", **{"in": COMPARE_INPUT})
    assert "errors" not in body, body
    c = body["data"]["compareModels"]
    cols = {col["model"]: col for col in c["columns"]}
    assert cols["cmp-broken"]["error"] and "LLM_FAILED" in cols["cmp-broken"]["error"]
    assert cols["cmp-slow"]["latencyMs"] > cols["cmp-fast"]["latencyMs"]
    assert cols["cmp-fast"]["ttftMs"] <= cols["cmp-fast"]["latencyMs"]
    assert cols["cmp-slow"]["checks"]["keywords"] == 1.0 and cols["cmp-fast"]["checks"]["keywords"] == 0.0
    assert cols["cmp-fast"]["judgeScore"] == pytest.approx(0.6)
    assert c["summary"]["fastest"] == "cmp-fast" and c["summary"]["cheapest"] == "cmp-fast"
    assert c["summary"]["best"] == "cmp-slow" and "Best: cmp-slow" in c["summary"]["line"]
    history = gql("{ comparisons { id summary { best } } }")["data"]["comparisons"]
    assert history[0]["id"] == c["id"]


def test_compare_subscription_streams_columns_over_websocket(platform_url, fake) -> None:
    import websockets

    async def run() -> list[dict]:
        url = platform_url.replace("http", "ws", 1) + "/graphql"
        events = []
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            query = """subscription($in: CompareInput!) { compareModelsStream(input: $in) { type index model text
                column { model score } summary { best line } comparison { id columns { model output } } } }"""
            await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                      "payload": {"query": query, "variables": {"in": COMPARE_INPUT}}}))
            while True:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if msg["type"] == "complete":
                    break
                assert msg["type"] == "next", msg
                assert not msg["payload"].get("errors"), msg
                events.append(msg["payload"]["data"]["compareModelsStream"])
        return events

    events = asyncio.run(run())
    deltas: dict[int, str] = {}
    for e in events:
        if e["type"] == "delta":
            deltas[e["index"]] = deltas.get(e["index"], "") + e["text"]
    assert set(deltas) == {0, 1}  # the broken model streams nothing
    assert sum(e["type"] == "delta" for e in events) >= 6  # word by word, not one blob
    kinds = [e["type"] for e in events]
    assert kinds.count("column") == 3 and kinds[-2:] == ["summary", "done"]
    final = events[-1]["comparison"]
    outputs = {c["model"]: c["output"] for c in final["columns"]}
    assert deltas[0] == outputs["cmp-fast"] and deltas[1] == outputs["cmp-slow"]
    assert events[-2]["summary"]["best"] == "cmp-slow"


def test_ui_compare_stream_and_budget_banner(platform_url, fake) -> None:
    from api._ui_client import PlatformClient
    from api._ui_llm import COMPARE_SUB, budget_banner, column_markdown, subscribe

    async def run() -> list[dict]:
        return [d["compareModelsStream"] async for d in
                subscribe(PlatformClient(platform_url), COMPARE_SUB, {"in": {**COMPARE_INPUT, "useJudge": False}})]

    events = asyncio.run(run())
    col = next(e["column"] for e in events if e["type"] == "column" and e["model"] == "cmp-slow")
    md = column_markdown("cmp-slow", col["output"], col)
    assert "latency" in md and "cost $" in md and "score **1.00**" in md
    assert budget_banner([{"name": "B", "status": "ok", "ratio": 0.2, "limitUsd": 1, "periodEnd": "x"}]) == ""
    warn = budget_banner([{"name": "Team", "status": "warning", "ratio": 0.85, "limitUsd": 10.0,
                           "periodEnd": "2030-01-01T00:00:00"}])
    assert "Team: 85% of $10.00" in warn and "110 %" in warn
