"""OpenAPI -> MCP tools over real HTTP: the demo CRM behind an MCPToolHost.

Two real uvicorn servers run in the test event loop on free 127.0.0.1 ports:
the demo CRM (with a middleware recording the headers it receives) and a small
FastAPI "platform" app mounting MCPToolHost instances at /tools and /tools-open.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI, Request

from agentgraph.demo.crm import OPENAPI_PATH, create_crm_app
from agentgraph.errors import ToolError, UserError
from agentgraph.supervisor import free_port
from runners._mcp import DEFAULT_HEADER_ALLOWLIST, MCPToolHost, MCPToolSession
from runners._openapi import check_base_url, load_openapi
from tests.stubapi import serve

pytestmark = pytest.mark.timeout(120)


@dataclass
class Stack:
    crm_url: str
    platform_url: str
    host: MCPToolHost
    open_host: MCPToolHost
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def tool_url(self, tool_id: str, prefix: str = "/tools") -> str:
        return f"{self.platform_url}{prefix}/{tool_id}/mcp"


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[Stack]:
    seen: list[dict[str, str]] = []
    crm = create_crm_app()

    @crm.middleware("http")
    async def record_headers(request: Request, call_next):
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return await call_next(request)

    host = MCPToolHost()
    # Same allow-list plus x-api-key: proves the recorder would see a forwarded header.
    open_host = MCPToolHost(header_allowlist=DEFAULT_HEADER_ALLOWLIST | {"x-api-key"})
    platform = FastAPI()
    platform.mount("/tools-open", open_host)
    platform.mount("/tools", host)

    async with serve(crm) as crm_url, serve(platform) as platform_url:
        doc = load_openapi(OPENAPI_PATH.read_text())
        names = await host.mount("crm", doc, crm_url)
        await open_host.mount("crm", doc, crm_url)
        assert "searchLeads" in names
        try:
            yield Stack(crm_url, platform_url, host, open_host, seen)
        finally:
            await host.aclose()
            await open_host.aclose()


async def test_mount_returns_every_operation_as_a_tool(stack: Stack):
    doc = load_openapi(OPENAPI_PATH.read_text())
    names = await stack.host.mount("crm-copy", doc, stack.crm_url)
    try:
        assert sorted(names) == sorted(op.operation_id for op in doc.operations)
        assert stack.host.has("crm-copy")
    finally:
        await stack.host.unmount("crm-copy")
    assert not stack.host.has("crm-copy")


async def test_list_tools_in_openai_format(stack: Stack):
    async with MCPToolSession(stack.tool_url("crm")) as session:
        tools = await session.list_tools()
    by_name = {t["function"]["name"]: t for t in tools}
    assert {"searchLeads", "getLead", "createNote", "listLeadNotes", "getCompany", "health"} <= set(by_name)
    assert len(tools) == 8  # GET routes are tools too, not resources
    assert all(t["type"] == "function" for t in tools)
    search = by_name["searchLeads"]["function"]
    assert search["description"] == "Search leads by name, email or interest"
    assert search["parameters"]["type"] == "object"
    assert {"q", "status"} <= set(search["parameters"]["properties"])
    create = by_name["createNote"]["function"]["parameters"]
    assert set(create["required"]) == {"lead_id", "text"}


async def test_call_tools_through_mcp(stack: Stack):
    async with MCPToolSession(stack.tool_url("crm")) as session:
        text = await session.call_tool("searchLeads", {"q": "Ada"})
        assert "Ada Lovelace" in text
        assert "Alan Turing" not in text
        created = await session.call_tool("createNote", {"lead_id": "ld-1", "text": "Booked the demo"})
        assert "Booked the demo" in created
        notes = await session.call_tool("listLeadNotes", {"lead_id": "ld-1"})
        assert "Booked the demo" in notes


async def test_concurrent_calls_and_sessions(stack: Stack):
    async def one_session(i: int) -> list[str]:
        async with MCPToolSession(stack.tool_url("crm")) as session:
            return await asyncio.gather(*(session.call_tool("getLead", {"lead_id": f"ld-{1 + j % 3}"}) for j in range(4)))

    results = await asyncio.gather(*(one_session(i) for i in range(4)))
    flat = [r for rs in results for r in rs]
    assert len(flat) == 16
    assert sum("Ada Lovelace" in r for r in flat) == 8  # j = 0, 3 per session
    assert sum("Alan Turing" in r for r in flat) == 4


async def test_upstream_error_becomes_tool_error(stack: Stack):
    async with MCPToolSession(stack.tool_url("crm")) as session:
        with pytest.raises(ToolError) as info:
            await session.call_tool("getLead", {"lead_id": "ld-404"})
        assert "'getLead'" in info.value.message
        assert "HTTP 404" in info.value.message
        assert "lead ld-404 not found" in info.value.message
        with pytest.raises(ToolError, match="noSuchTool"):
            await session.call_tool("noSuchTool", {})
        # The session stays usable after errors.
        assert "Marie Curie" in await session.call_tool("getLead", {"lead_id": "ld-3"})


async def test_unknown_tool_id_is_404(stack: Stack):
    async with httpx.AsyncClient() as http:
        r = await http.post(stack.tool_url("nope"), json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 404
        assert r.json()["code"] == "NOT_FOUND"
        assert "nope" in r.json()["error"]
        # Only /{tool_id}/mcp is served, even for a mounted tool.
        r = await http.get(f"{stack.platform_url}/tools/crm/other")
        assert r.status_code == 404
        assert r.json()["code"] == "NOT_FOUND"
    with pytest.raises(ToolError, match="cannot open an MCP session"):
        async with MCPToolSession(stack.tool_url("nope")):
            pass


async def test_unmount_and_remount(stack: Stack):
    doc = load_openapi(OPENAPI_PATH.read_text())
    await stack.host.mount("temp", doc, stack.crm_url)
    async with MCPToolSession(stack.tool_url("temp")) as session:
        assert "Grace Hopper" in await session.call_tool("searchContacts", {"q": "grace"})
    await stack.host.mount("temp", doc, stack.crm_url)  # replace in place
    async with MCPToolSession(stack.tool_url("temp")) as session:
        assert "Radium Labs" in await session.call_tool("getCompany", {"company_id": "co-3"})
    await stack.host.unmount("temp")
    async with httpx.AsyncClient() as http:
        assert (await http.post(stack.tool_url("temp"), json={})).status_code == 404


async def _headers_seen_by_crm(stack: Stack, url: str, headers: dict[str, str]) -> dict[str, str]:
    stack.seen_headers.clear()
    async with MCPToolSession(url, headers=headers) as session:
        assert "Compiler Works" in await session.call_tool("searchCompanies", {"q": "Compiler"})
    upstream = [h for h in stack.seen_headers if "mcp-protocol-version" in h]
    assert upstream, f"the CRM saw no tool request: {stack.seen_headers}"
    return upstream[-1]


async def test_only_allow_listed_headers_reach_the_upstream(stack: Stack):
    sent = {
        "Authorization": "Bearer secret-token",
        "Cookie": "session=secret-cookie",
        "X-Api-Key": "secret-key",
        "X-Custom-Secret": "s3cr3t",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "X-Request-Id": "req-42",
    }
    got = await _headers_seen_by_crm(stack, stack.tool_url("crm"), sent)
    for name in ("authorization", "cookie", "x-api-key", "x-custom-secret"):
        assert name not in got, f"{name} leaked upstream: {got}"
    assert not any("secret" in v or "s3cr3t" in v for v in got.values()), got
    # Allow-listed headers do go through (tracing across the tool call).
    assert got["traceparent"] == sent["traceparent"]
    assert got["x-request-id"] == "req-42"

    # Control: a host whose allow-list includes x-api-key forwards it, so the
    # check above observes a real filter, not a header fastmcp never forwards.
    got_open = await _headers_seen_by_crm(stack, stack.tool_url("crm", "/tools-open"), sent)
    assert got_open.get("x-api-key") == "secret-key"
    assert "x-custom-secret" not in got_open


async def test_host_answers_lifespan_messages():
    host = MCPToolHost()
    incoming = asyncio.Queue()
    outgoing: list[dict] = []
    for message in ({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}):
        incoming.put_nowait(message)

    async def send(message):
        outgoing.append(message)

    await asyncio.wait_for(host({"type": "lifespan"}, incoming.get, send), timeout=5)
    assert [m["type"] for m in outgoing] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_mount_refuses_unsafe_tool_id(stack: Stack):
    doc = load_openapi(OPENAPI_PATH.read_text())
    with pytest.raises(UserError, match="URL-safe"):
        await stack.host.mount("../x", doc, stack.crm_url)


async def test_check_base_url(stack: Stack):
    await check_base_url(stack.crm_url)  # the CRM answers
    await check_base_url(stack.crm_url + "/no-such-route")  # any HTTP status counts
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UserError) as info:
        await check_base_url(closed, timeout_s=2)
    assert info.value.code == "BASE_URL_UNREACHABLE"
    assert closed in info.value.message
    for bad in ("ftp://example.com", "127.0.0.1:8101", "http://"):
        with pytest.raises(UserError) as info:
            await check_base_url(bad)
        assert info.value.code == "BASE_URL_UNREACHABLE"
