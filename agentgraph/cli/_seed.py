"""``agentgraph seed``: a synthetic organisation for demos and scale tests (issue 3).

    agentgraph seed --users 10000 --agents 50000 --executions 1000000 [--tenant T] [--batch 5000] [--no-embed]

A bulk admin tool: it talks Bolt to the configured graph directly through the
``graph`` package (batched ``UNWIND`` writes, ``graph._seed``) instead of the
GraphQL API, so it needs the graph's credentials (``AGENTGRAPH_GRAPH__*``) and
bypasses per-mutation role checks and the audit log. It prints each step's rate
(rows/s). Run it once per tenant/prefix: ids are deterministic and unique.
"""

from __future__ import annotations

import asyncio
from typing import Optional

import typer

__all__ = ["register", "run_seed"]


async def run_seed(settings, *, users: int, agents: int, executions: int, tenant: str, prefix: str, batch: int,
                   embed: bool, echo=print):
    """Connect to the configured graph, set up the schema and seed; returns the ``SeedReport``."""
    from graph import GraphClient, setup_schema
    from graph._seed import SeedPlan, seed

    g = settings.graph
    client = GraphClient(settings.graph_uri, g.user, g.password, g.database, backend=settings.graph_backend,
                         http_url=f"http://127.0.0.1:{g.http_port}")
    try:
        await client.verify()
        await setup_schema(client)
        embedder = None
        if embed:
            from memory import MiniLMEmbedder

            embedder = MiniLMEmbedder()
        plan = SeedPlan(users=users, agents=agents, executions=executions, tenant_id=tenant, prefix=prefix,
                        batch=batch)

        def progress(step: str, rows: int, seconds: float) -> None:
            echo(f"{step:>12}: {rows:>9,} rows in {seconds:7.1f} s = {rows / max(seconds, 1e-9):9,.0f} rows/s")

        report = await seed(client, plan, embed=embedder.embed if embedder else None, progress=progress)
        echo(f"{'total':>12}: {report.total_rows:>9,} rows in {report.total_s:7.1f} s = "
             f"{report.total_rows / max(report.total_s, 1e-9):9,.0f} rows/s")
        return report
    finally:
        await client.close()


def register(app: typer.Typer) -> None:
    """Add ``agentgraph seed`` to the CLI."""

    @app.command("seed")
    def seed_cmd(
        users: int = typer.Option(50, "--users", min=1, help="Users to create."),
        agents: int = typer.Option(200, "--agents", min=1, help="Agents (one version each)."),
        executions: int = typer.Option(2000, "--executions", min=0, help="Executions (runs) to record."),
        tenant: Optional[str] = typer.Option(None, "--tenant", help="Tenant id (default: the configured tenant)."),
        prefix: str = typer.Option("seed", "--prefix", help="Id prefix; use a new one to seed again."),
        batch: int = typer.Option(5000, "--batch", min=100, max=50000, help="Rows per UNWIND statement."),
        embed: bool = typer.Option(True, "--embed/--no-embed", help="Store MiniLM description embeddings."),
    ) -> None:
        """Seed a synthetic organisation straight into the graph (bulk, over Bolt)."""
        from agentgraph.errors import AgentGraphError
        from agentgraph.settings import Settings

        settings = Settings()
        try:
            asyncio.run(run_seed(settings, users=users, agents=agents, executions=executions,
                                 tenant=tenant or settings.tenant_id, prefix=prefix, batch=batch, embed=embed,
                                 echo=typer.echo))
        except AgentGraphError as exc:
            typer.secho(f"error [{exc.code}]: {exc.message}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
