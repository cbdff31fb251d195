"""The ``agentgraph`` command line (Typer).

``agentgraph up`` starts the embedded stack; every other command talks to the running
platform over GraphQL (``--url``, default ``http://127.0.0.1:8000`` or
``AGENTGRAPH_API__PUBLIC_URL``):

    agentgraph tools add --openapi FILE --base-url URL [--name NAME]
    agentgraph tools list
    agentgraph build "I need an agent that ..." [--thread-id T] [--save] [--publish]
    agentgraph agents list | show ID | publish ID [--version N]
    agentgraph run AGENT_ID "input" [--thread-id T]
    agentgraph spec schema
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from agentgraph.errors import AgentGraphError
from agentgraph.settings import Settings

app = typer.Typer(help="agentgraph: build, share and run AI agents.", no_args_is_help=True, add_completion=False)
tools_app = typer.Typer(help="Register and list tools.", no_args_is_help=True)
agents_app = typer.Typer(help="List, show and publish agents.", no_args_is_help=True)
spec_app = typer.Typer(help="The AgentSpec contract.", no_args_is_help=True)
app.add_typer(tools_app, name="tools")
app.add_typer(agents_app, name="agents")
app.add_typer(spec_app, name="spec")

UrlOpt = typer.Option(None, "--url", help="Platform URL (default from settings: http://127.0.0.1:8000).")


def _client(url: Optional[str]):
    from agentgraph.cli._client import PlatformClient

    return PlatformClient(url or Settings().api.base_url)


def _fail(exc: AgentGraphError) -> None:
    typer.secho(f"error [{exc.code}]: {exc.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@tools_app.command("add")
def tools_add(
    openapi: Path = typer.Option(..., "--openapi", exists=True, dir_okay=False, readable=True,
                                 help="OpenAPI 3 document (YAML or JSON)."),
    base_url: str = typer.Option(..., "--base-url", help="Where the API is served, e.g. http://127.0.0.1:8101"),
    name: Optional[str] = typer.Option(None, "--name", help="Tool name (default: the document's title)."),
    url: Optional[str] = UrlOpt,
) -> None:
    """Register an OpenAPI document as a tool (served over MCP at /tools/{id}/mcp)."""
    try:
        data = _client(url).call(
            "mutation($o: String!, $u: String!, $n: String) { registerTool(openapi: $o, baseUrl: $u, name: $n) "
            "{ id name mcpUrl operations { operationId method path } } }",
            o=openapi.read_text(), u=base_url, n=name,
        )
    except AgentGraphError as exc:
        _fail(exc)
    t = data["registerTool"]
    typer.echo(f"Registered tool {t['id']} ({t['name']}) with {len(t['operations'])} operations")
    for o in t["operations"]:
        typer.echo(f"  {o['operationId']:<20} {o['method']:<6} {o['path']}")
    typer.echo(f"MCP endpoint: {t['mcpUrl']}")


@tools_app.command("list")
def tools_list(url: Optional[str] = UrlOpt) -> None:
    """List registered tools."""
    try:
        data = _client(url).call("{ tools { id name baseUrl operations { operationId } mcpUrl } }")
    except AgentGraphError as exc:
        _fail(exc)
    for t in data["tools"]:
        typer.echo(f"{t['id']:<24} {t['name']:<24} {len(t['operations']):>3} ops  {t['baseUrl']}")


@app.command()
def build(
    intent: str = typer.Argument(..., help="What the agent should do."),
    thread_id: Optional[str] = typer.Option(None, "--thread-id", help="Continue a builder thread (refine)."),
    save: bool = typer.Option(False, "--save", help="Save the draft as a new agent."),
    publish: bool = typer.Option(False, "--publish", help="Save and publish (make active)."),
    url: Optional[str] = UrlOpt,
) -> None:
    """Turn an intent into an AgentSpec draft (prints suggestions and YAML)."""
    client = _client(url)
    try:
        b = client.call(
            "mutation($i: String!, $t: String) { buildAgent(intent: $i, threadId: $t) { threadId message specYaml "
            "suggestions { toolId name score reason } attempts } }", i=intent, t=thread_id,
        )["buildAgent"]
        typer.echo(f"{b['message']}  (builder thread {b['threadId']}, {b['attempts']} attempt(s))")
        if b["suggestions"]:
            typer.echo("Tool suggestions:")
            for s in b["suggestions"]:
                typer.echo(f"  {s['toolId']:<20} {s['score']:.2f}  {s['reason']}")
        typer.echo("---")
        typer.echo(b["specYaml"].rstrip())
        if save or publish:
            a = client.call(
                "mutation($y: String!, $p: Boolean!) { saveAgent(specYaml: $y, publish: $p) "
                "{ id status latestVersion } }", y=b["specYaml"], p=publish,
            )["saveAgent"]
            typer.echo("---")
            typer.echo(f"Saved agent {a['id']} (version {a['latestVersion']}, {a['status']})")
    except AgentGraphError as exc:
        _fail(exc)


@app.command()
def run(
    agent_id: str = typer.Argument(..., help="Agent id."),
    input: str = typer.Argument(..., help="Input for the agent."),
    thread_id: Optional[str] = typer.Option(None, "--thread-id", help="Continue a conversation thread."),
    show_chain: bool = typer.Option(True, "--chain/--no-chain", help="Print the execution chain."),
    url: Optional[str] = UrlOpt,
) -> None:
    """Run an agent and print its answer, usage and execution chain."""
    try:
        e = _client(url).call(
            "mutation($a: String!, $i: String!, $t: String) { runAgent(agentId: $a, input: $i, threadId: $t) { "
            "id status output error errorCode threadId version latencyMs promptTokens completionTokens costUsd model "
            "spans { name spanId parentId durationMs status attributes } } }", a=agent_id, i=input, t=thread_id,
        )["runAgent"]
    except AgentGraphError as exc:
        _fail(exc)
    if e["status"] == "succeeded":
        typer.echo(e["output"])
    else:
        typer.secho(f"Run failed [{e['errorCode']}]: {e['error']}", fg=typer.colors.RED, err=True)
    typer.echo("---")
    typer.echo(f"run {e['id']}  status={e['status']}  version={e['version']}  thread={e['threadId']}")
    typer.echo(f"latency={e['latencyMs']:.0f} ms  tokens={e['promptTokens']}+{e['completionTokens']}  "
               f"cost=${e['costUsd']:.6f}  model={e['model']}")
    if show_chain:
        depth: dict[str, int] = {}
        for s in e["spans"]:
            d = depth.get(s["parentId"], -1) + 1 if s["parentId"] else 0
            depth[s["spanId"]] = d
            label = s["attributes"].get("tool.name") or s["attributes"].get("llm.model") or ""
            typer.echo(f"  {'  ' * d}{s['name']:<12} {s['durationMs']:>9.1f} ms  {s['status']:<5} {label}")
    if e["status"] != "succeeded":
        raise typer.Exit(1)


@agents_app.command("list")
def agents_list(url: Optional[str] = UrlOpt) -> None:
    """List agents."""
    try:
        data = _client(url).call("{ agents { id name agentType status latestVersion activeVersion } }")
    except AgentGraphError as exc:
        _fail(exc)
    for a in data["agents"]:
        typer.echo(f"{a['id']:<40} {a['status']:<7} v{a['latestVersion']} (active v{a['activeVersion']})  {a['name']}")


@agents_app.command("show")
def agents_show(agent_id: str, url: Optional[str] = UrlOpt) -> None:
    """Show an agent's active spec and versions."""
    try:
        a = _client(url).call(
            "query($id: ID!) { agent(id: $id) { id name status latestVersion activeVersion specYaml "
            "versions { version createdAt } } }", id=agent_id,
        )["agent"]
    except AgentGraphError as exc:
        _fail(exc)
    typer.echo(f"{a['id']}  {a['status']}  versions: {', '.join(str(v['version']) for v in a['versions'])}")
    typer.echo(a["specYaml"].rstrip())


@agents_app.command("publish")
def agents_publish(agent_id: str, version: Optional[int] = typer.Option(None, "--version"),
                   url: Optional[str] = UrlOpt) -> None:
    """Make a version (default: latest) active."""
    try:
        a = _client(url).call(
            "mutation($a: String!, $v: Int) { publishAgent(agentId: $a, version: $v) { id status activeVersion } }",
            a=agent_id, v=version,
        )["publishAgent"]
    except AgentGraphError as exc:
        _fail(exc)
    typer.echo(f"{a['id']} is {a['status']} at version {a['activeVersion']}")


@spec_app.command("schema")
def spec_schema() -> None:
    """Print the AgentSpec JSON schema."""
    from agentgraph.spec import agent_spec_json_schema

    json.dump(agent_spec_json_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")


def _register_up() -> None:
    from agentgraph.cli import _up

    _up.register(app)


_register_up()


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
