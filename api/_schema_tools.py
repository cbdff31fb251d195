"""GraphQL of the tool hub: ``ToolHubQuery`` and ``ToolHubMutation`` (merged in ``api.app``).

Queries: ``openapiPreview`` (validate a document and list its operations with
allow/deny applied, without registering). Mutations: ``registerOpenapiTool``,
``registerMcpServer``, ``updateTool``, ``deleteTool``, ``testToolConnection``,
``refreshMcpServer``, ``runToolHealthChecks``, ``rotateToolCredentials``.

Credentials come in through inputs and never go out: the ``Tool`` type shows
only ``auth { kind hint headerNames }``.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from agentgraph.errors import ConfigError, UserError

from api._platform import Platform
from api._schema import Tool, ToolOperation
from api._schema_tools_types import ConnectionTest

__all__ = ["ToolHubQuery", "ToolHubMutation"]


def _hub(info: Info) -> tuple[Platform, Any]:
    p: Platform = info.context["platform"]
    if p.toolhub is None:
        raise ConfigError("The tool hub is not started on this server; restart the platform.")
    return p, p.toolhub


@strawberry.input(description="Credentials of a tool. Secret fields are write-only.")
class ToolAuthInput:
    kind: str = strawberry.field(default="none",
                                 description="none, api_key, bearer, basic or oauth2_client_credentials.")
    name: str | None = strawberry.field(default=None, description="API key header or query parameter name.")
    location: str = strawberry.field(default="header", description="API key location: header or query.")
    value: str | None = strawberry.field(default=None, description="API key or bearer token (write-only).")
    username: str | None = None
    password: str | None = strawberry.field(default=None, description="Basic auth password (write-only).")
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = strawberry.field(default=None, description="OAuth 2 client secret (write-only).")
    scopes: list[str] | None = None


@strawberry.input(description="A custom header sent with every upstream request (the value is stored encrypted).")
class HeaderInput:
    name: str
    value: str


@strawberry.input(description="HTTP behaviour of a tool; unset fields keep their current (or default) values.")
class ToolConfigInput:
    timeout_s: float | None = None
    max_attempts: int | None = None
    backoff_initial_s: float | None = None
    backoff_max_s: float | None = None
    rate_limit: str | None = strawberry.field(default=None, description="e.g. '60/minute'; '' removes it.")
    max_response_bytes: int | None = None
    health_path: str | None = strawberry.field(default=None, description="e.g. '/health'; '' removes it.")


@strawberry.input(description="Register an OpenAPI 3.x or Swagger 2.0 document (YAML or JSON text) as a tool.")
class RegisterOpenAPIToolInput:
    openapi: str
    base_url: str
    name: str | None = None
    auth: ToolAuthInput | None = None
    headers: list[HeaderInput] | None = None
    config: ToolConfigInput | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None
    check_reachable: bool = True


@strawberry.input(description="Register an external MCP server (streamable HTTP).")
class RegisterMCPServerInput:
    url: str
    name: str
    auth: ToolAuthInput | None = None
    headers: list[HeaderInput] | None = None
    config: ToolConfigInput | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None


@strawberry.input(description="Change a tool; null fields stay unchanged. auth {kind: \"none\"} removes credentials.")
class UpdateToolInput:
    auth: ToolAuthInput | None = None
    headers: list[HeaderInput] | None = None
    config: ToolConfigInput | None = None
    allow: list[str] | None = None
    deny: list[str] | None = None


@strawberry.type(description="A validated OpenAPI document, not registered.")
class OpenAPIPreview:
    title: str
    version: str
    openapi_version: str = strawberry.field(description="Version served (3.0.3 for converted Swagger 2.0).")
    source_version: str = strawberry.field(description="Version as uploaded (2.0 for Swagger).")
    operations: list[ToolOperation]
    allowed_count: int


def _auth(a: ToolAuthInput | None) -> dict[str, Any] | None:
    if a is None:
        return None
    data = {k: v for k, v in strawberry.asdict(a).items() if v is not None}
    return data


def _headers(h: list[HeaderInput] | None) -> dict[str, str] | None:
    if h is None:
        return None
    out: dict[str, str] = {}
    for item in h:
        if item.name in out:
            raise UserError(f"Header {item.name!r} is given twice; keep one.")
        out[item.name] = item.value
    return out


def _config(c: ToolConfigInput | None) -> dict[str, Any] | None:
    if c is None:
        return None
    data = {k: v for k, v in strawberry.asdict(c).items() if v is not None}
    for key in ("rate_limit", "health_path"):
        if data.get(key) == "":
            data[key] = None  # explicit removal
    return data


def _out(p: Platform, t: Any) -> Tool:
    return Tool.from_record(t, p.registry.mcp_url(t.id))


@strawberry.type
class ToolHubQuery:
    @strawberry.field(description="Validate an OpenAPI 3.x / Swagger 2.0 document and list its operations, "
                                  "marking which the allow/deny selectors keep. Nothing is stored.")
    def openapi_preview(self, info: Info, openapi: str, allow: list[str] | None = None,
                        deny: list[str] | None = None) -> OpenAPIPreview:
        from runners._toolhub_config import OperationRules, parse_model

        _, services = _hub(info)
        doc = services.hub.load(openapi)
        rules = parse_model(OperationRules, {"allow": allow or [], "deny": deny or []}, "operation rules")
        ops = [ToolOperation(operation_id=o.operation_id, method=o.method, path=o.path, summary=o.summary,
                             tags=list(o.tags), allowed=rules.allows(o.operation_id, o.method, o.path, o.tags))
               for o in doc.operations]
        return OpenAPIPreview(title=doc.title, version=doc.version, openapi_version=doc.openapi_version,
                              source_version=doc.source_version, operations=ops,
                              allowed_count=sum(o.allowed for o in ops))


@strawberry.type
class ToolHubMutation:
    @strawberry.mutation(description="Register an OpenAPI tool with credentials, headers, HTTP settings and "
                                     "operation rules.")
    async def register_openapi_tool(self, info: Info, input: RegisterOpenAPIToolInput) -> Tool:
        p, services = _hub(info)
        t = await services.hub.register_openapi(
            tenant_id=p.tenant_id, user_id=p.user_id, openapi=input.openapi, base_url=input.base_url, name=input.name,
            auth=_auth(input.auth), headers=_headers(input.headers), config=_config(input.config), allow=input.allow,
            deny=input.deny, check_reachable=input.check_reachable)
        return _out(p, t)

    @strawberry.mutation(description="Register an external streamable-HTTP MCP server and list its tools.")
    async def register_mcp_server(self, info: Info, input: RegisterMCPServerInput) -> Tool:
        p, services = _hub(info)
        t = await services.hub.register_mcp_server(
            tenant_id=p.tenant_id, user_id=p.user_id, url=input.url, name=input.name, auth=_auth(input.auth),
            headers=_headers(input.headers), config=_config(input.config), allow=input.allow, deny=input.deny)
        return _out(p, t)

    @strawberry.mutation(description="Change a tool's credentials, headers, settings or operation rules.")
    async def update_tool(self, info: Info, id: strawberry.ID, input: UpdateToolInput) -> Tool:
        from runners._toolhub import UNSET

        p, services = _hub(info)
        t = await services.hub.update(
            tenant_id=p.tenant_id, tool_id=str(id),
            auth=UNSET if input.auth is None else _auth(input.auth),
            headers=UNSET if input.headers is None else _headers(input.headers),
            config=UNSET if input.config is None else _config(input.config),
            allow=UNSET if input.allow is None else input.allow,
            deny=UNSET if input.deny is None else input.deny)
        return _out(p, t)

    @strawberry.mutation(description="Delete a tool and its stored credentials.")
    async def delete_tool(self, info: Info, id: strawberry.ID) -> bool:
        p, services = _hub(info)
        await services.hub.delete(tenant_id=p.tenant_id, tool_id=str(id))
        return True

    @strawberry.mutation(description="Probe a tool now (health path, a safe GET, or MCP tools/list) and store "
                                     "the outcome as its health.")
    async def test_tool_connection(self, info: Info, id: strawberry.ID) -> ConnectionTest:
        p, services = _hub(info)
        r = await services.health.test(tenant_id=p.tenant_id, tool_id=str(id))
        return ConnectionTest(ok=r.ok, status=r.status, latency_ms=round(r.latency_ms, 3), http_status=r.http_status,
                              message=r.message)

    @strawberry.mutation(description="List an external MCP server's tools again.")
    async def refresh_mcp_server(self, info: Info, id: strawberry.ID) -> Tool:
        p, services = _hub(info)
        return _out(p, await services.hub.refresh_mcp_server(tenant_id=p.tenant_id, tool_id=str(id)))

    @strawberry.mutation(description="Run the health check now for every tool of your tenant; returns how many were checked.")
    async def run_tool_health_checks(self, info: Info) -> int:
        p, services = _hub(info)  # the caller's tenant only: an admin never probes another tenant's tools
        return len(await services.health.check_all(tenant_id=p.tenant_id))

    @strawberry.mutation(description="Re-encrypt every stored tool credential with the newest key "
                                     "(after prepending a key to AGENTGRAPH_SECRETS__KEYS).")
    async def rotate_tool_credentials(self, info: Info) -> int:
        _, services = _hub(info)
        return await services.hub.rotate_credentials()
