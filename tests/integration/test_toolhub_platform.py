"""The tool hub end to end through GraphQL on the real platform (ArcadeDB, Redis, scripted LLM).

Stubs and the external MCP server run in their own threads (the ``gql`` client blocks the
test's event loop while the platform calls them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgraph.spec import AgentSpec
from agentgraph.supervisor import free_port
from runners._openapi import load_openapi
from tests.conftest import _ThreadedServer
from tests.stubapi import Expect, Stub, build_stub

pytestmark = pytest.mark.timeout(300)
DATA = Path(__file__).parent.parent / "data" / "openapi"
MUSEUM_KEY = "museum-key-7f3a9c2e5b1d4f60"
MCP_TOKEN = "mcp-token-2b7e151628aed2a6abf7"

TOOL_FIELDS = """id name kind mcpUrl serverUrl allow deny auth { kind hint headerNames }
  settings { timeoutS maxAttempts rateLimit maxResponseBytes healthPath }
  health { status latencyMs checkedAt message } operations { operationId method path tags allowed }"""
REGISTER = f"mutation($i: RegisterOpenAPIToolInput!) {{ registerOpenapiTool(input: $i) {{ {TOOL_FIELDS} }} }}"
REGISTER_MCP = f"mutation($i: RegisterMCPServerInput!) {{ registerMcpServer(input: $i) {{ {TOOL_FIELDS} }} }}"
UPDATE = f"mutation($id: ID!, $i: UpdateToolInput!) {{ updateTool(id: $id, input: $i) {{ {TOOL_FIELDS} }} }}"
TEST = "mutation($id: ID!) { testToolConnection(id: $id) { ok status latencyMs httpStatus message } }"
SAVE = "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }"
RUN = """mutation($id: String!, $input: String!) { runAgent(agentId: $id, input: $input) {
  id status output error errorCode spans { name status attributes } } }"""


def _forget(gql, *tools: dict | None) -> None:
    """Delete tools whose server this test stopped: later tests (the builder's suggestions) share the tenant."""
    for t in tools:
        if t is not None:
            assert "errors" not in gql("mutation($id: ID!) { deleteTool(id: $id) }", id=t["id"])


def _threaded(app) -> tuple[_ThreadedServer, str]:
    port = free_port()
    server = _ThreadedServer(app, port)
    server.start()
    return server, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def museum() -> Iterator[tuple[Stub, str]]:
    stub = build_stub(load_openapi((DATA / "museum-openapi30-apikey.yaml").read_text()).spec,
                      Expect(kind="api_key", name="X-API-Key", value=MUSEUM_KEY))
    server, url = _threaded(stub.app)
    yield stub, url
    server.stop()


def _mcp_server_app():
    from fastmcp import FastMCP
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse

    mcp = FastMCP("calc")

    @mcp.tool
    def add_numbers(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @mcp.tool
    def delete_everything() -> str:
        """A dangerous tool that agents must not get."""
        return "deleted"

    class BearerCheck(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):
            if request.headers.get("authorization") != f"Bearer {MCP_TOKEN}":
                return JSONResponse({"error": "unauthorised"}, status_code=401)
            return await call_next(request)

    return mcp.http_app(path="/mcp", middleware=[Middleware(BearerCheck)])


def _register_museum(gql, url: str, name: str, **extra) -> dict:
    inp = {"openapi": (DATA / "museum-openapi30-apikey.yaml").read_text(), "baseUrl": url, "name": name,
           "auth": {"kind": "api_key", "name": "X-API-Key", "value": MUSEUM_KEY}, **extra}
    body = gql(REGISTER, i=inp)
    assert "errors" not in body, body
    return body["data"]["registerOpenapiTool"]


def _agent(gql, tool_id: str, on_failure: str = "fail_closed", operations: list[str] | None = None) -> str:
    spec = AgentSpec(name=f"Museum helper {on_failure}", description="Lists special events at the museum",
                     system_prompt="Use the museum tool.",
                     tools=[{"tool_id": tool_id, "on_failure": on_failure, "operations": operations or []}])
    body = gql(SAVE, y=spec.to_yaml())
    assert "errors" not in body, body
    return body["data"]["saveAgent"]["id"]


def test_credentials_are_encrypted_at_rest_and_never_returned(gql, services, museum):
    stub, url = museum
    tool = _register_museum(gql, url, "Museum Secure", headers=[{"name": "X-Org", "value": "org-secret-991"}],
                            config={"rateLimit": "100/minute", "healthPath": "/museum-hours"},
                            deny=["DELETE"])
    assert tool["auth"] == {"kind": "api_key", "hint": "header X-API-Key: ****4f60", "headerNames": ["X-Org"]}
    assert tool["settings"]["rateLimit"] == "100/minute" and tool["deny"] == ["DELETE"]
    ops = {o["operationId"]: o for o in tool["operations"]}
    assert ops["deleteSpecialEvent"]["allowed"] is False and ops["getSpecialEvent"]["allowed"] is True
    assert ops["getSpecialEvent"]["tags"] == ["Events"]
    listed = json.dumps(gql(f"{{ tools {{ {TOOL_FIELDS} }} }}"))
    assert MUSEUM_KEY not in listed and "org-secret-991" not in listed and "secretsEnc" not in listed

    # The raw graph property is a Fernet token that only the platform's key opens.
    import asyncio

    from agentgraph.secrets import SecretBox, load_or_create_keys
    from graph import GraphClient

    async def raw() -> dict:
        g = services.graph
        client = GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                             http_url=f"http://127.0.0.1:{g.http_port}")
        try:
            rows = await client.query("MATCH (t:Tool {id: $id}) RETURN properties(t) AS t", id=tool["id"])
            return rows[0]["t"]
        finally:
            await client.close()

    loop = asyncio.new_event_loop()
    try:
        props = loop.run_until_complete(raw())
    finally:
        loop.close()
    stored = json.dumps({k: v for k, v in props.items() if k != "embedding"})
    assert MUSEUM_KEY not in stored and "org-secret-991" not in stored
    token = props["secrets_enc"]
    assert token.startswith("gAAAAA")  # Fernet version byte 0x80, base64
    plain = json.loads(SecretBox(load_or_create_keys(services.secrets.keys, services.data_dir)).decrypt(token))
    assert plain["auth"]["value"] == MUSEUM_KEY and plain["headers"] == {"X-Org": "org-secret-991"}


def test_test_connection_health_and_auth_update(gql, museum):
    stub, url = museum
    tool = _register_museum(gql, url, "Museum Health", config={"healthPath": "/museum-hours"})
    r = gql(TEST, id=tool["id"])["data"]["testToolConnection"]
    assert r["ok"] and r["status"] == "up" and r["httpStatus"] == 200 and "/museum-hours" in r["message"]
    health = gql("query($id: ID!) { tool(id: $id) { health { status latencyMs checkedAt } } }", id=tool["id"])
    h = health["data"]["tool"]["health"]
    assert h["status"] == "up" and h["latencyMs"] > 0 and h["checkedAt"]
    # Wrong key: the probe sees the API refuse it.
    gql(UPDATE, id=tool["id"], i={"auth": {"kind": "api_key", "name": "X-API-Key", "value": "wrong-key-000000000000"}})
    r = gql(TEST, id=tool["id"])["data"]["testToolConnection"]
    assert not r["ok"] and r["httpStatus"] == 401 and "credentials" in r["message"]
    # No health path: a safe GET (no required parameters) is chosen.
    updated = gql(UPDATE, id=tool["id"], i={"auth": {"kind": "api_key", "name": "X-API-Key", "value": MUSEUM_KEY},
                                           "config": {"healthPath": ""}})["data"]["updateTool"]
    assert updated["settings"]["healthPath"] is None and updated["auth"]["hint"].endswith("4f60")
    r = gql(TEST, id=tool["id"])["data"]["testToolConnection"]
    assert r["ok"] and ("/museum-hours" in r["message"] or "/special-events" in r["message"])
    assert gql("mutation { runToolHealthChecks }")["data"]["runToolHealthChecks"] >= 2


def test_run_calls_the_api_with_credentials_and_no_secret_in_traces_or_logs(gql, museum, caplog):
    stub, url = museum
    tool = _register_museum(gql, url, "Museum Runs")
    agent = _agent(gql, tool["id"])
    before = len(stub.op_calls("listSpecialEvents"))
    with caplog.at_level(logging.DEBUG):
        runs = [gql(RUN, id=agent, input="list special events")["data"]["runAgent"] for _ in range(2)]
    for run in runs:
        assert run["status"] == "succeeded", run
        assert "Pirate Coding Workshop" in run["output"]
        assert MUSEUM_KEY not in json.dumps(run)
    assert len(stub.op_calls("listSpecialEvents")) == before + 2
    assert stub.op_calls("listSpecialEvents")[-1]["headers"]["x-api-key"] == MUSEUM_KEY
    assert all(MUSEUM_KEY not in r.getMessage() for r in caplog.records)
    connects = [s for s in runs[1]["spans"] if s["name"] == "tool.connect"]
    assert connects and connects[0]["attributes"]["tool.pooled"] is True
    stats = gql("query($id: ID!) { tool(id: $id) { stats { calls errors errorRate p50Ms p95Ms } } }", id=tool["id"])
    s = stats["data"]["tool"]["stats"]
    assert s["calls"] == 2 and s["errors"] == 0 and s["errorRate"] == 0
    assert 0 < s["p50Ms"] <= s["p95Ms"]


def test_fail_open_tells_the_model_and_fail_closed_fails_the_run(gql):
    flaky = build_stub(load_openapi((DATA / "museum-openapi30-apikey.yaml").read_text()).spec)
    flaky.fail_next(500, count=1000)
    server, url = _threaded(flaky.app)
    tool = None
    try:
        inp = {"openapi": (DATA / "museum-openapi30-apikey.yaml").read_text(), "baseUrl": url, "name": "Museum Flaky",
               "config": {"maxAttempts": 1}}
        tool = gql(REGISTER, i=inp)["data"]["registerOpenapiTool"]
        closed = gql(RUN, id=_agent(gql, tool["id"], "fail_closed"), input="list special events")["data"]["runAgent"]
        assert closed["status"] == "failed" and closed["errorCode"] == "TOOL_FAILED" and "500" in closed["error"]
        opened = gql(RUN, id=_agent(gql, tool["id"], "fail_open"), input="list special events")["data"]["runAgent"]
        assert opened["status"] == "succeeded", opened
        assert "failed and was skipped" in opened["output"] and "500" in opened["output"]
        call = next(s for s in opened["spans"] if s["name"] == "tool.call")
        assert call["status"] == "ERROR" and call["attributes"]["tool.fail_open"] is True
        stats = gql("query($id: ID!) { tool(id: $id) { stats { calls errors errorRate } } }", id=tool["id"])
        assert stats["data"]["tool"]["stats"] == {"calls": 2, "errors": 2, "errorRate": 1.0}
    finally:
        server.stop()
        _forget(gql, tool)


def test_external_mcp_server_with_auth_allowed_tools_and_failure_modes(gql):
    server, url = _threaded(_mcp_server_app())
    stopped = False
    tool = other = None
    try:
        bad = gql(REGISTER_MCP, i={"url": f"{url}/mcp", "name": "Calc Wrong",
                                   "auth": {"kind": "bearer", "value": "nope-nope-nope-nope"}})
        assert bad["errors"][0]["extensions"]["code"] == "TOOL_FAILED" and "credentials" in bad["errors"][0]["message"]
        body = gql(REGISTER_MCP, i={"url": f"{url}/mcp", "name": "Calc", "deny": ["delete_*"],
                                    "auth": {"kind": "bearer", "value": MCP_TOKEN}})
        assert "errors" not in body, body
        tool = body["data"]["registerMcpServer"]
        assert tool["kind"] == "mcp" and tool["mcpUrl"] == f"{url}/mcp" and tool["auth"]["kind"] == "bearer"
        assert {o["operationId"]: o["allowed"] for o in tool["operations"]} == {"add_numbers": True,
                                                                               "delete_everything": False}
        assert gql(TEST, id=tool["id"])["data"]["testToolConnection"]["ok"] is True
        # Per-agent allowed tools: only add_numbers is offered; the tool-level deny hides the other anyway.
        agent = _agent(gql, tool["id"], operations=["add_numbers"])
        run = gql(RUN, id=agent, input="add numbers 2 and 3")["data"]["runAgent"]
        assert run["status"] == "succeeded", run
        call = next(s for s in run["spans"] if s["name"] == "tool.call")
        assert call["attributes"]["tool.name"] == "add_numbers" and MCP_TOKEN not in json.dumps(run)
        # A second server, never used before it goes down: fail-open skips it, fail-closed fails.
        other = gql(REGISTER_MCP, i={"url": f"{url}/mcp", "name": "Calc Down",
                                     "auth": {"kind": "bearer", "value": MCP_TOKEN}})["data"]["registerMcpServer"]
        server.stop()
        stopped = True
        down_open = gql(RUN, id=_agent(gql, other["id"], "fail_open"), input="add numbers 2 and 3")["data"]["runAgent"]
        assert down_open["status"] == "succeeded", down_open
        connect = next(s for s in down_open["spans"] if s["name"] == "tool.connect")
        assert connect["status"] == "ERROR"
        down_closed = gql(RUN, id=_agent(gql, other["id"], "fail_closed"), input="add numbers 2 and 3")["data"]["runAgent"]
        assert down_closed["status"] == "failed" and down_closed["errorCode"] == "TOOL_FAILED"
        down = gql(TEST, id=other["id"])["data"]["testToolConnection"]
        assert down["ok"] is False and down["status"] == "down"
    finally:
        if not stopped:
            server.stop()
        _forget(gql, tool, other)


def test_preview_and_bad_inputs_have_clear_errors(gql):
    doc = (DATA / "helpdesk-swagger2-basic.json").read_text()
    prev = gql("query($o: String!, $d: [String!]) { openapiPreview(openapi: $o, deny: $d) { title sourceVersion "
               "openapiVersion allowedCount operations { operationId allowed } } }", o=doc, d=["tag:Admin"])
    p = prev["data"]["openapiPreview"]
    assert p["sourceVersion"] == "2.0" and p["openapiVersion"] == "3.0.3" and p["allowedCount"] == 6
    bad = gql(REGISTER, i={"openapi": doc, "baseUrl": "http://127.0.0.1:9", "checkReachable": False,
                           "auth": {"kind": "basic", "username": "x"}})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and "password" in bad["errors"][0]["message"]
    bad = gql(REGISTER, i={"openapi": doc, "baseUrl": "http://127.0.0.1:9", "checkReachable": False,
                           "config": {"rateLimit": "lots"}})
    assert "rate_limit" in bad["errors"][0]["message"]
    bad = gql(REGISTER, i={"openapi": doc, "baseUrl": "http://127.0.0.1:9", "checkReachable": False, "allow": ["nothing"]})
    assert "leave no operation" in bad["errors"][0]["message"]


def test_cli_tools_add_list_show_test(platform_url, museum, monkeypatch):
    from typer.testing import CliRunner

    from agentgraph.cli import app

    stub, url = museum
    monkeypatch.setenv("MUSEUM_KEY", MUSEUM_KEY)
    runner = CliRunner()
    added = runner.invoke(app, ["tools", "add", "--openapi", str(DATA / "museum-openapi30-apikey.yaml"), "--base-url",
                                url, "--name", "Museum CLI", "--auth-kind", "api_key", "--key-name", "X-API-Key",
                                "--secret-env", "MUSEUM_KEY", "--deny", "DELETE", "--health-path", "/museum-hours",
                                "--url", platform_url])
    assert added.exit_code == 0, added.output
    assert "api_key header X-API-Key: ****4f60" in added.output and "[x] deleteSpecialEvent" in added.output
    assert MUSEUM_KEY not in added.output
    tested = runner.invoke(app, ["tools", "test", "museum-cli", "--url", platform_url])
    assert tested.exit_code == 0 and tested.output.startswith("OK up"), tested.output
    listed = runner.invoke(app, ["tools", "list", "--url", platform_url])
    assert "museum-cli" in listed.output and "health=up" in listed.output
    shown = runner.invoke(app, ["tools", "show", "museum-cli", "--url", platform_url])
    assert shown.exit_code == 0 and "usage: 0 calls" in shown.output
