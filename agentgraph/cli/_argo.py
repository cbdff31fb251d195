"""``agentgraph argo ...``: Argo Workflows / Events manifests.

    agentgraph argo export [--out deploy/argo] [--spec FILE --agent-id ID] [--format yaml|json] [--url URL]

Without ``--spec`` the agents (and their active specs' triggers) are read from the
running platform over GraphQL, like the other commands. ``argo`` is imported inside
the command: the CLI module stays importable without hera (the ``up`` exception of
ADR 0001 applies: this command builds manifests locally).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from agentgraph.errors import AgentGraphError
from agentgraph.settings import Settings

argo_app = typer.Typer(help="Argo Workflows / Argo Events manifests (docs/argo.md).", no_args_is_help=True)


@argo_app.command("export")
def export(
    out: Path = typer.Option(Path("deploy/argo"), "--out", help="Directory to write the manifests to."),
    spec: Optional[Path] = typer.Option(None, "--spec", exists=True, dir_okay=False, readable=True,
                                        help="Export this AgentSpec file's triggers instead of the platform's agents."),
    agent_id: Optional[str] = typer.Option(None, "--agent-id", help="Agent id for --spec (default: the spec's slug)."),
    fmt: str = typer.Option("yaml", "--format", help="yaml or json."),
    url: Optional[str] = typer.Option(None, "--url", help="Platform URL (default from settings)."),
) -> None:
    """Write the WorkflowTemplate `agent-run` and every agent trigger's EventSource + Sensor, validated."""
    from agentgraph.cli import _client, _fail
    from agentgraph.spec import AgentSpec
    from argo import AgentTriggers, export_manifests

    settings = Settings()
    try:
        if fmt not in ("yaml", "json"):
            raise AgentGraphError(f"--format must be yaml or json, not {fmt!r}.", code="BAD_USER_INPUT")
        if spec is not None:
            s = AgentSpec.from_yaml(spec.read_text())
            agents = [AgentTriggers(agent_id or s.slug, s)]
        else:
            client = _client(url)
            listed = client.call("{ agents { id specYaml } }")["agents"]
            agents = [AgentTriggers(a["id"], AgentSpec.from_yaml(a["specYaml"])) for a in listed]
        paths = export_manifests(out, settings.argo, agents, tenant_id=settings.tenant_id, fmt=fmt)
    except AgentGraphError as exc:
        _fail(exc)
    n_triggers = sum(len([t for t in a.spec.triggers if t.enabled]) for a in agents)
    for p in paths:
        typer.echo(str(p))
    typer.echo(f"Wrote {len(paths)} manifests ({len(agents)} agents, {n_triggers} triggers) to {out}; "
               "all valid against the official Argo schemas.")


def register(app: typer.Typer) -> None:
    """Add the ``argo`` sub-app to the root CLI."""
    app.add_typer(argo_app, name="argo")


__all__ = ["argo_app", "register"]
