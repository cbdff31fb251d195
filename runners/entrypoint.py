"""The runner entrypoint Argo pods call: run one agent run and report it.

    python -m runners.entrypoint --agent-id ID --input TEXT [--version N] [--thread-id T]
        [--tenant-id T] [--execution-id E] [--traceparent TP] [--result-path PATH]

Settings come from the environment (``AGENTGRAPH_*``, the chart's ConfigMap and
Secret), with two overrides: the executor is forced to ``local`` (the pod runs the
agent; it must not submit it back to Argo) and the demo CRM is not registered.
The platform is started without its HTTP server (``api._platform.Platform``, no
Gradio); tools are reached at ``AGENTGRAPH_API__PUBLIC_URL``/tools/{id}/mcp.

With ``--execution-id`` the Execution queued by the platform is run (retries of
the pod re-run it); without, a new Execution is recorded (runs from Argo Events).
``--traceparent`` (W3C) makes the run's spans children of the submitting span.

Output: the result JSON (``status``, ``output``, ``error``, usage, ids) on stdout
and in ``--result-path`` (default ``/tmp/agentgraph-result.json``, the workflow's
``result`` artifact). Exit codes: 0 run succeeded; 1 run failed (LLM, tool,
timeout, a backing service down; Argo retries these); 2 bad input (empty input,
unknown agent/version/execution, bad arguments; not retried).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

RESULT_PATH = "/tmp/agentgraph-result.json"  # same as argo.RESULT_PATH (kept literal: no hera import here)
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
log = logging.getLogger("agentgraph.entrypoint")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; also write the result file
        raise _BadInput(f"{message}. Usage: {self.format_usage().strip()}")


class _BadInput(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m runners.entrypoint", description="Run one agent run (Argo runner pods).")
    p.add_argument("--agent-id", required=True)
    p.add_argument("--input", required=True)
    # Argo passes every parameter; empty strings mean "not set".
    p.add_argument("--version", default="")
    p.add_argument("--thread-id", default="")
    p.add_argument("--tenant-id", default="")
    p.add_argument("--execution-id", default="")
    p.add_argument("--traceparent", default="")
    p.add_argument("--result-path", default=RESULT_PATH)
    return p


def _version(raw: str) -> int | None:
    if not raw.strip():
        return None
    try:
        v = int(raw)
    except ValueError:
        raise _BadInput(f"--version must be a positive integer or empty, got {raw!r}.") from None
    if v < 1:
        raise _BadInput(f"--version must be >= 1, got {v}.")
    return v


async def _run(args: argparse.Namespace, version: int | None) -> dict[str, Any]:
    from opentelemetry import context, propagate

    from agentgraph.settings import Settings
    # An edge like the CLI: the pod builds the same service graph as the API process.
    from api._platform import Platform

    settings = Settings()
    settings.executor = "local"
    settings.demo.register_on_start = False
    if args.tenant_id:
        settings.tenant_id = args.tenant_id
    token = context.attach(propagate.extract({"traceparent": args.traceparent})) if args.traceparent else None
    platform = await Platform.start(settings)
    try:
        e = await platform.runs.run(
            tenant_id=settings.tenant_id, user_id=None, agent_id=args.agent_id, input=args.input,
            thread_id=args.thread_id or None, version=version, execution_id=args.execution_id or None,
        )
    finally:
        await platform.close()
        if token is not None:
            context.detach(token)
    trace_id = next((s.get("trace_id") for s in e.spans if s.get("trace_id")), None)
    return {"execution_id": e.id, "agent_id": e.agent_id, "version": e.version, "thread_id": e.thread_id,
            "tenant_id": e.tenant_id, "status": e.status, "output": e.output, "error": e.error,
            "error_code": e.error_code, "latency_ms": e.latency_ms, "prompt_tokens": e.prompt_tokens,
            "completion_tokens": e.completion_tokens, "cost_usd": e.cost_usd, "model": e.model,
            "started_at": e.started_at, "ended_at": e.ended_at, "trace_id": trace_id}


def _emit(result: dict[str, Any], path: str) -> None:
    text = json.dumps(result, ensure_ascii=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    try:
        Path(path).write_text(text + "\n")
    except OSError as exc:  # the artifact is optional; stdout (the pod log) still has the result
        log.error("could not write the result to %s: %s", path, exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the agent run described by ``argv``; return the exit code (0 ok, 1 run failed, 2 bad input)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    # Find the result path first, so even unparsable arguments are reported there.
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--result-path", default=RESULT_PATH)
    result_path = pre.parse_known_args(argv)[0].result_path
    try:
        args = _parser().parse_args(argv)
        result_path = args.result_path
        if not args.agent_id.strip():
            raise _BadInput("--agent-id is empty; pass the agent's id (agentgraph agents list).")
        version = _version(args.version)
    except _BadInput as exc:
        _emit({"status": "rejected", "error": str(exc), "error_code": "BAD_USER_INPUT"}, result_path)
        return EXIT_BAD_INPUT

    from api._platform import configure_environment  # offline switches before litellm/gradio imports

    configure_environment()
    from agentgraph.errors import AgentGraphError, UserError

    try:
        result = asyncio.run(_run(args, version))
    except UserError as exc:
        _emit({"status": "rejected", "agent_id": args.agent_id, "execution_id": args.execution_id or None,
               "error": exc.message, "error_code": exc.code}, result_path)
        return EXIT_BAD_INPUT
    except AgentGraphError as exc:  # graph/Redis down and the like: retryable
        _emit({"status": "failed", "agent_id": args.agent_id, "execution_id": args.execution_id or None,
               "error": exc.message, "error_code": exc.code}, result_path)
        return EXIT_FAILED
    except Exception as exc:  # unexpected: report it like a failed run, with its type
        log.exception("runner failed")
        _emit({"status": "failed", "agent_id": args.agent_id, "execution_id": args.execution_id or None,
               "error": f"{type(exc).__name__}: {exc}", "error_code": "RUN_FAILED"}, result_path)
        return EXIT_FAILED
    _emit(result, result_path)
    return EXIT_OK if result["status"] == "succeeded" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
