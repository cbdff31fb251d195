"""The ``agentgraph`` command line (Typer).

``agentgraph up`` starts the embedded stack; every other command talks to the running
platform over GraphQL (``--url``, default ``http://127.0.0.1:8000`` or
``AGENTGRAPH_API__PUBLIC_URL``):

    agentgraph tools add --openapi FILE --base-url URL [--name NAME] [--auth-kind ... --secret ...]
    agentgraph tools add-mcp URL --name NAME [--auth-kind bearer --secret-env VAR]
    agentgraph tools list | show ID | test ID
    agentgraph build "I need an agent that ..." [--thread-id T] [--save] [--publish]
    agentgraph agents list | show ID | publish ID [--version N]
    agentgraph run AGENT_ID "input" [--thread-id T]
    agentgraph spec schema
    agentgraph worker [--concurrency N]   (a queue worker; `agentgraph up` starts them)
    agentgraph seed --users N --agents N --executions N   (synthetic organisation, bulk over Bolt)
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
    from agentgraph.cli._client import PlatformClient, find_api_key

    settings = Settings()
    return PlatformClient(url or settings.api.base_url, api_key=find_api_key(settings.data_dir))


def _fail(exc: AgentGraphError) -> None:
    typer.secho(f"error [{exc.code}]: {exc.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _register_tools() -> None:
    from agentgraph.cli import _tools

    _tools.register(tools_app, _client, _fail, UrlOpt)


_register_tools()


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
from agentgraph.cli._argo import register as _register_argo  # noqa: E402  (agentgraph argo ...)
_register_argo(app)
from agentgraph.cli._worker import register as _register_worker  # noqa: E402  (agentgraph worker)
_register_worker(app)
from agentgraph.cli._seed import register as _register_seed  # noqa: E402  (agentgraph seed)
_register_seed(app)


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
