"""``agentgraph worker``: a queue worker process (the local executor, issue 6).

Starts the platform's services without HTTP (``api._platform.Platform.start``, as
the Argo runner entrypoint does) and runs jobs from the Redis job queue
(``argo.QueueWorker``) until SIGINT/SIGTERM. ``agentgraph up`` starts
``AGENTGRAPH_WORKERS__COUNT`` of them (``--workers N``).

Options: ``--concurrency N`` (runs at once; default ``AGENTGRAPH_WORKERS__CONCURRENCY``)
and ``--metrics-port P`` (Prometheus ``/metrics`` of this worker on 127.0.0.1;
default ``AGENTGRAPH_WORKERS__METRICS_PORT``, 0 disables). The metrics port opens
once the worker consumes, so it doubles as the readiness probe of ``agentgraph up``.

Exit codes: 0 stopped by a signal; 2 configuration or start error (message printed).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Annotated

import typer

from agentgraph.errors import AgentGraphError
from agentgraph.settings import Settings

log = logging.getLogger("agentgraph.worker")


async def serve(settings: Settings, *, concurrency: int, metrics_port: int = 0,
                stop: asyncio.Event | None = None) -> None:
    """Run a worker until ``stop`` is set (or SIGINT/SIGTERM when ``stop`` is None).

    Raises:
        ServiceUnavailableError: graph or Redis not reachable at start.
    """
    from api._platform import Platform, configure_environment

    from argo import JobQueue, QueueWorker

    configure_environment()
    settings = settings.model_copy(deep=True)
    settings.executor = "inline"  # the worker runs agents; it never queues them again
    settings.demo.register_on_start = False
    settings.tracing.service_name = f"{settings.tracing.service_name}-worker"
    platform = await Platform.start(settings)
    w = settings.workers
    queue = JobQueue(settings.redis_url, queue=w.queue, visibility_timeout_s=w.visibility_timeout_s,
                     prefetch=concurrency)
    try:
        stop = stop or _signal_event()
        worker = QueueWorker(platform.runs, queue, concurrency=concurrency)
        if metrics_port and platform.runs.metrics is not None:
            from prometheus_client import start_http_server

            platform.runs.metrics.depth_probe = queue.depth
            start_http_server(metrics_port, addr="127.0.0.1", registry=platform.runs.metrics.registry)
        print(f"agentgraph worker: consuming {w.queue} with concurrency {concurrency}", flush=True)
        await worker.run_forever(stop)
    finally:
        await queue.aclose()
        await platform.close()


def _signal_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def register(app: typer.Typer) -> None:
    """Add the ``worker`` command to the CLI root ``app``."""

    @app.command("worker")
    def worker_command(
        concurrency: Annotated[int | None, typer.Option(
            "--concurrency", min=1, max=1000,
            help="Runs executed at once (default AGENTGRAPH_WORKERS__CONCURRENCY, 8).")] = None,
        metrics_port: Annotated[int | None, typer.Option(
            "--metrics-port", min=0, max=65535,
            help="Prometheus /metrics port on 127.0.0.1 (default AGENTGRAPH_WORKERS__METRICS_PORT; 0: off).")] = None,
    ) -> None:
        """Run agent runs from the Redis job queue (started by `agentgraph up`)."""
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        try:
            settings = Settings()
        except ValueError as exc:
            typer.echo(f"error: invalid settings from the environment:\n{exc}", err=True)
            raise typer.Exit(2) from None
        port = settings.workers.metrics_port if metrics_port is None else metrics_port
        try:
            asyncio.run(serve(settings, concurrency=concurrency or settings.workers.concurrency, metrics_port=port))
        except AgentGraphError as exc:
            typer.echo(f"error [{exc.code}]: {exc.message}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # metrics port taken
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


__all__ = ["register", "serve"]
