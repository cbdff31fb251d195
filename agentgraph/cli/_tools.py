"""``agentgraph tools ...``: register OpenAPI tools and MCP servers, list, show, test.

    agentgraph tools add --openapi FILE --base-url URL [--name N] [--auth-kind api_key --key-name X-API-Key
        [--key-in query]] [--secret S | --secret-env VAR] [--username U] [--token-url URL --client-id ID
        --scope S ...] [--header 'Name: value' ...] [--timeout 30] [--max-attempts 3] [--rate-limit 60/minute]
        [--health-path /health] [--allow SEL ...] [--deny SEL ...]
    agentgraph tools add-mcp URL --name N [same auth options]
    agentgraph tools list | show ID | test ID

A secret needed by the auth kind and not given is prompted for (hidden). It is sent
once to the platform, which stores it encrypted and never shows it again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from agentgraph.errors import AgentGraphError

__all__ = ["register"]

_FIELDS = """id name kind mcpUrl baseUrl auth { kind hint headerNames } settings { timeoutS maxAttempts rateLimit
  healthPath } health { status latencyMs checkedAt message } stats { calls errors errorRate p50Ms p95Ms }
  operations { operationId method path allowed }"""


def _auth(kind: str, key_name: Optional[str], key_in: str, secret: Optional[str], secret_env: Optional[str],
          username: Optional[str], token_url: Optional[str], client_id: Optional[str], scopes: list[str]
          ) -> Optional[dict[str, Any]]:
    if kind == "none":
        return None
    if secret is None and secret_env:
        secret = os.environ.get(secret_env)
        if secret is None:
            raise typer.BadParameter(f"environment variable {secret_env} is not set", param_hint="--secret-env")
    if secret is None:
        secret = typer.prompt(f"Secret for {kind}", hide_input=True)
    out: dict[str, Any] = {"kind": kind}
    if kind == "api_key":
        out.update(name=key_name, location=key_in, value=secret)
    elif kind == "bearer":
        out.update(value=secret)
    elif kind == "basic":
        out.update(username=username, password=secret)
    else:
        out.update(tokenUrl=token_url, clientId=client_id, clientSecret=secret, scopes=scopes)
    return out


def _headers(values: list[str]) -> Optional[list[dict[str, str]]]:
    out = []
    for v in values:
        name, sep, value = v.partition(":")
        if not sep:
            raise typer.BadParameter(f"{v!r} must look like 'Name: value'", param_hint="--header")
        out.append({"name": name.strip(), "value": value.strip()})
    return out or None


def _print_tool(t: dict[str, Any]) -> None:
    auth = t.get("auth") or {}
    typer.echo(f"{t['id']} ({t['name']}, {t['kind']})  auth: {auth.get('kind')} {auth.get('hint', '')}".rstrip())
    typer.echo(f"MCP endpoint: {t['mcpUrl']}")
    for o in t["operations"]:
        mark = " " if o.get("allowed", True) else "x"
        typer.echo(f"  [{mark}] {o['operationId']:<28} {o['method']:<6} {o['path']}")


def register(tools_app: typer.Typer, client: Callable[[Optional[str]], Any], fail: Callable[[AgentGraphError], None],
             url_opt: Any) -> None:
    """Add the tools commands to ``tools_app`` (``client(url)`` -> PlatformClient, ``fail`` prints an error)."""

    @tools_app.command("add")
    def tools_add(
        openapi: Path = typer.Option(..., "--openapi", exists=True, dir_okay=False, readable=True,
                                     help="OpenAPI 3.x or Swagger 2.0 document (YAML or JSON)."),
        base_url: str = typer.Option(..., "--base-url", help="Where the API is served, e.g. http://127.0.0.1:8101"),
        name: Optional[str] = typer.Option(None, "--name", help="Tool name (default: the document's title)."),
        auth_kind: str = typer.Option("none", "--auth-kind", help="none, api_key, bearer, basic, oauth2_client_credentials."),
        key_name: Optional[str] = typer.Option(None, "--key-name", help="API key header/query parameter name."),
        key_in: str = typer.Option("header", "--key-in", help="API key location: header or query."),
        secret: Optional[str] = typer.Option(None, "--secret", help="Key, token, password or client secret."),
        secret_env: Optional[str] = typer.Option(None, "--secret-env", help="Read the secret from this env variable."),
        username: Optional[str] = typer.Option(None, "--username"),
        token_url: Optional[str] = typer.Option(None, "--token-url"),
        client_id: Optional[str] = typer.Option(None, "--client-id"),
        scope: list[str] = typer.Option([], "--scope"),
        header: list[str] = typer.Option([], "--header", help="Custom header 'Name: value' (repeatable)."),
        timeout: Optional[float] = typer.Option(None, "--timeout", help="Per request, seconds."),
        max_attempts: Optional[int] = typer.Option(None, "--max-attempts", help="Attempts incl. retries on 429/5xx."),
        rate_limit: Optional[str] = typer.Option(None, "--rate-limit", help="e.g. 60/minute."),
        health_path: Optional[str] = typer.Option(None, "--health-path", help="e.g. /health."),
        allow: list[str] = typer.Option([], "--allow", help="Operation selector to expose (repeatable)."),
        deny: list[str] = typer.Option([], "--deny", help="Operation selector to hide (repeatable)."),
        url: Optional[str] = url_opt,
    ) -> None:
        """Register an OpenAPI document as a tool (served over MCP at /tools/{id}/mcp)."""
        config = {k: v for k, v in {"timeoutS": timeout, "maxAttempts": max_attempts, "rateLimit": rate_limit,
                                    "healthPath": health_path}.items() if v is not None}
        try:
            inp = {"openapi": openapi.read_text(), "baseUrl": base_url, "name": name,
                   "auth": _auth(auth_kind, key_name, key_in, secret, secret_env, username, token_url, client_id, scope),
                   "headers": _headers(header), "config": config or None, "allow": allow or None, "deny": deny or None}
            t = client(url).call(f"mutation($i: RegisterOpenAPIToolInput!) {{ registerOpenapiTool(input: $i) "
                                 f"{{ {_FIELDS} }} }}", i=inp)["registerOpenapiTool"]
        except AgentGraphError as exc:
            fail(exc)
        typer.echo(f"Registered tool {t['id']} ({t['name']}) with {len(t['operations'])} operations")
        _print_tool(t)

    @tools_app.command("add-mcp")
    def tools_add_mcp(
        server_url: str = typer.Argument(..., help="Streamable-HTTP MCP endpoint, e.g. https://mcp.example.com/mcp"),
        name: str = typer.Option(..., "--name"),
        auth_kind: str = typer.Option("none", "--auth-kind"),
        key_name: Optional[str] = typer.Option(None, "--key-name"),
        key_in: str = typer.Option("header", "--key-in"),
        secret: Optional[str] = typer.Option(None, "--secret"),
        secret_env: Optional[str] = typer.Option(None, "--secret-env"),
        username: Optional[str] = typer.Option(None, "--username"),
        token_url: Optional[str] = typer.Option(None, "--token-url"),
        client_id: Optional[str] = typer.Option(None, "--client-id"),
        scope: list[str] = typer.Option([], "--scope"),
        header: list[str] = typer.Option([], "--header"),
        allow: list[str] = typer.Option([], "--allow"),
        deny: list[str] = typer.Option([], "--deny"),
        url: Optional[str] = url_opt,
    ) -> None:
        """Register an external MCP server (streamable HTTP) and list its tools."""
        try:
            inp = {"url": server_url, "name": name, "headers": _headers(header), "allow": allow or None,
                   "deny": deny or None,
                   "auth": _auth(auth_kind, key_name, key_in, secret, secret_env, username, token_url, client_id, scope)}
            t = client(url).call(f"mutation($i: RegisterMCPServerInput!) {{ registerMcpServer(input: $i) "
                                 f"{{ {_FIELDS} }} }}", i=inp)["registerMcpServer"]
        except AgentGraphError as exc:
            fail(exc)
        _print_tool(t)

    @tools_app.command("list")
    def tools_list(url: Optional[str] = url_opt) -> None:
        """List tools with auth kind, health and usage."""
        try:
            data = client(url).call(f"{{ tools {{ {_FIELDS} }} }}")
        except AgentGraphError as exc:
            fail(exc)
        for t in data["tools"]:
            h, s = t["health"] or {}, t["stats"]
            typer.echo(f"{t['id']:<24} {t['kind']:<7} {len(t['operations']):>3} ops  auth={t['auth']['kind']:<10} "
                       f"health={h.get('status', 'unknown'):<8} calls={s['calls']:<5} "
                       f"p95={s['p95Ms'] or 0:.0f}ms  {t['baseUrl']}")

    @tools_app.command("show")
    def tools_show(tool_id: str, url: Optional[str] = url_opt) -> None:
        """Show a tool: auth (masked), operations (x = hidden), health, usage."""
        try:
            t = client(url).call(f"query($id: ID!) {{ tool(id: $id) {{ {_FIELDS} }} }}", id=tool_id)["tool"]
        except AgentGraphError as exc:
            fail(exc)
        _print_tool(t)
        h, s = t["health"] or {}, t["stats"]
        typer.echo(f"health: {h.get('status')} {h.get('latencyMs') or ''} ms at {h.get('checkedAt')}: {h.get('message')}")
        typer.echo(f"usage: {s['calls']} calls, {s['errors']} errors, p50 {s['p50Ms']} ms, p95 {s['p95Ms']} ms")

    @tools_app.command("test")
    def tools_test(tool_id: str, url: Optional[str] = url_opt) -> None:
        """Test connection: probe the tool now (exit 1 when it fails)."""
        try:
            r = client(url).call("mutation($id: ID!) { testToolConnection(id: $id) { ok status latencyMs httpStatus "
                                 "message } }", id=tool_id)["testToolConnection"]
        except AgentGraphError as exc:
            fail(exc)
        typer.echo(f"{'OK' if r['ok'] else 'FAILED'} {r['status']} {r['latencyMs']:.0f} ms: {r['message']}")
        if not r["ok"]:
            raise typer.Exit(1)
