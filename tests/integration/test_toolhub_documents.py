"""Seven OpenAPI documents of different styles, each served by a stub built from the spec,
registered behind an MCPToolHost with the tool hub's upstream client, and called over MCP.

Every auth kind is verified by the stub itself (it answers 401 to anything else), and each
document is also called with a wrong credential to prove the check is real.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from agentgraph.errors import ToolError
from runners._mcp import MCPToolHost, MCPToolSession
from runners._openapi import load_openapi
from runners._toolhub_config import OperationRules, ToolConfig, ToolCredentials, filter_spec
from runners._toolhub_http import ToolRateLimiter, build_upstream_client
from tests.stubapi import Expect, Stub, build_stub, serve

pytestmark = pytest.mark.timeout(180)
DATA = Path(__file__).parent.parent / "data" / "openapi"


@dataclass
class Case:
    file: str
    source_version: str
    operations: int
    auth: dict[str, Any]
    expect: Expect
    call: str
    args: dict[str, Any]
    result_has: str
    path: str


CASES = [
    Case("petstore-swagger2.yaml", "2.0", 7, {"kind": "api_key", "name": "api_key", "value": "special-key-0123456789"},
         Expect(kind="api_key", name="api_key", value="special-key-0123456789"),
         "getPetById", {"petId": 7}, "doggie", "/pet/7"),
    Case("museum-openapi30-apikey.yaml", "3.0.3", 6, {"kind": "api_key", "name": "X-API-Key", "value": "museum-key-abcdef123456"},
         Expect(kind="api_key", name="X-API-Key", value="museum-key-abcdef123456"),
         "listSpecialEvents", {"limit": 3}, "Pirate Coding Workshop", "/special-events"),
    Case("weather-openapi30-querykey.yaml", "3.0.1", 2,
         {"kind": "api_key", "name": "appid", "location": "query", "value": "b6907d289e10d714a6e88b30761fae22"},
         Expect(kind="api_key", name="appid", location="query", value="b6907d289e10d714a6e88b30761fae22"),
         "currentWeather", {"q": "London,uk"}, "overcast clouds", "/weather"),
    Case("payments-openapi30-oauth2.yaml", "3.0.3", 6,
         {"kind": "oauth2_client_credentials", "token_url": "{stub}/oauth/token", "client_id": "ci_live_1",
          "client_secret": "cs_live_secret_0123456789", "scopes": ["payments:read", "payments:write"]},
         Expect(kind="oauth2_client_credentials", client_id="ci_live_1", client_secret="cs_live_secret_0123456789"),
         "retrieveCustomer", {"customer": "cus_42"}, "cus_NffrFeUfNV2Hib", "/customers/cus_42"),
    Case("issues-openapi31-bearer.json", "3.1.0", 6, {"kind": "bearer", "value": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"},
         Expect(kind="bearer", value="ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
         "issuesget", {"owner": "octocat", "repo": "hello", "issue_number": 1347}, "Found a bug",
         "/repos/octocat/hello/issues/1347"),
    Case("helpdesk-swagger2-basic.json", "2.0", 8, {"kind": "basic", "username": "agent@support.example.com",
                                                     "password": "t0ps3cret-password"},
         Expect(kind="basic", username="agent@support.example.com", password="t0ps3cret-password"),
         "showTicket", {"ticket_id": 35436}, "printer is on fire", "/tickets/35436"),
    Case("commerce-openapi30-large.json", "3.0.3", 240, {"kind": "bearer", "value": "shpat_0123456789abcdef0123"},
         Expect(kind="bearer", value="shpat_0123456789abcdef0123"),
         "get_product", {"id": "prd_9"}, "Sample product", "/products/prd_9"),
]


@dataclass
class Served:
    stub: Stub
    stub_url: str
    platform_url: str
    host: MCPToolHost


@contextlib.asynccontextmanager
async def served(case: Case, *, auth: dict[str, Any] | None = None, rules: OperationRules | None = None,
                 config: ToolConfig | None = None, limiter: ToolRateLimiter | None = None,
                 expect: Expect | None = None) -> AsyncIterator[Served]:
    """The stub for ``case`` plus a platform app serving it as tool ``t`` with the given credentials."""
    doc = load_openapi((DATA / case.file).read_text())
    stub = build_stub(doc.spec, expect or case.expect)
    host = MCPToolHost()
    platform = FastAPI()
    platform.mount("/tools", host)
    async with serve(stub.app) as stub_url, serve(platform) as platform_url:
        raw = json.loads(json.dumps(auth if auth is not None else case.auth).replace("{stub}", stub_url))
        creds = ToolCredentials.model_validate({"auth": raw})
        spec, _ = filter_spec(doc.spec, rules or OperationRules())
        import dataclasses

        client = build_upstream_client(stub_url, creds=creds, config=config or ToolConfig(backoff_initial_s=0.01,
                                       backoff_max_s=0.05), limiter=limiter, tenant_id="tenant-a", tool_id="t")
        await host.mount("t", dataclasses.replace(doc, spec=spec), stub_url, client=client)
        try:
            yield Served(stub, stub_url, platform_url, host)
        finally:
            await host.aclose()


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
async def test_document_registered_and_called_through_mcp(case: Case):
    doc = load_openapi((DATA / case.file).read_text())
    assert doc.source_version == case.source_version
    assert len(doc.operations) == case.operations
    async with served(case) as s:
        async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
            names = {t["function"]["name"] for t in await session.list_tools()}
            assert names == {o.operation_id for o in doc.operations}  # stored ids are the MCP names
            text = await session.call_tool(case.call, case.args)
        assert case.result_has in text
        call = s.stub.op_calls(case.call)[-1]
        assert call["path"] == case.path
        # The credential reached the API only in the place the auth kind says.
        if case.expect.kind == "api_key" and case.expect.location == "query":
            assert call["query"][case.expect.name] == case.expect.value
            assert case.expect.value not in json.dumps(call["headers"])
        elif case.expect.kind == "api_key":
            assert call["headers"][case.expect.name.lower()] == case.expect.value
        else:
            assert call["headers"]["authorization"].split()[0] in ("Bearer", "Basic")


@pytest.mark.parametrize("case", CASES[:6], ids=[c.file for c in CASES[:6]])
async def test_wrong_credentials_are_refused_by_the_stub(case: Case):
    wrong = dict(case.auth)
    for key in ("value", "password", "client_secret"):
        if key in wrong:
            wrong[key] = "wrong-" + wrong[key]
    async with served(case, auth=wrong) as s:
        async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
            with pytest.raises(ToolError) as info:
                await session.call_tool(case.call, case.args)
    message = info.value.message
    assert "401" in message or "OAuth 2 token request" in message
    assert "wrong-" not in message  # the refused secret is not echoed back


async def test_swagger2_body_form_and_array_parameters_reach_the_api():
    async with served(CASES[0]) as s:
        async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
            await session.call_tool("findPetsByStatus", {"status": ["available", "sold"]})
            await session.call_tool("addPet", {"name": "Rex", "photoUrls": ["https://x/rex.png"]})
            await session.call_tool("updatePetWithForm", {"petId": 3, "name": "Max"})
    find = s.stub.op_calls("findPetsByStatus")[-1]
    assert find["query"]["status"] in ("available", "sold")  # collectionFormat multi -> explode
    add = json.loads(s.stub.op_calls("addPet")[-1]["body"])
    assert add["name"] == "Rex"
    form = s.stub.op_calls("updatePetWithForm")[-1]
    assert form["path"] == "/pet/3" and "Max" in form["body"]


async def test_allow_and_deny_rules_limit_the_exposed_operations():
    helpdesk = CASES[5]
    rules = OperationRules(deny=["tag:Admin"])
    async with served(helpdesk, rules=rules) as s:
        async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
            names = {t["function"]["name"] for t in await session.list_tools()}
            assert "deleteTicket" not in names and "deleteUser" not in names
            assert {"listTickets", "showTicket", "createTicket", "searchUsers"} <= names
            with pytest.raises(ToolError):
                await session.call_tool("deleteTicket", {"ticket_id": 1})
    assert not s.stub.op_calls("deleteTicket")  # never reached the API
    large = CASES[6]
    async with served(large, rules=OperationRules(allow=["tag:orders"], deny=["DELETE"])) as s:
        async with MCPToolSession(f"{s.platform_url}/tools/t/mcp") as session:
            names = {t["function"]["name"] for t in await session.list_tools()}
    assert names == {"list_orders", "create_order", "search_orders", "get_order", "replace_order", "update_order",
                     "list_order_events"}
