"""Runs as Argo Workflows: submit a queued Execution, sync the workflow's phase back.

With ``AGENTGRAPH_EXECUTOR=argo`` the platform sets ``RunService.executor`` to an
:class:`ArgoExecutor`. ``RunService.run`` then stores the Execution as ``queued``
and calls :meth:`ArgoExecutor.submit`, which posts a Workflow from ``agent-run``
named after the Execution and stores the workflow name on it. The runner pod
(``python -m runners.entrypoint --execution-id ...``) runs the agent and writes the
outcome (output, tokens, spans) to the graph itself; :meth:`ArgoExecutor.sync`
keeps the status in step with the workflow's phase and records failures the pod
could not record (evicted, image pull errors, deleted workflows).

Phase mapping (Argo ``status.phase`` -> Execution ``status``):
``""``/Pending -> queued, Running -> running, Succeeded -> succeeded,
Failed -> failed, Error -> failed (code ``ARGO_WORKFLOW_ERROR``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AsyncExitStack
from typing import Any

from opentelemetry import propagate

from agentgraph.settings import ArgoSettings, Settings
from graph import Execution, ExecutionRepository, now_iso

from argo._client import ArgoAPIError, ArgoServerClient
from argo._template import build_workflow, workflow_name

log = logging.getLogger("agentgraph.argo")

PHASE_STATUS = {"": "queued", "Pending": "queued", "Running": "running", "Succeeded": "succeeded",
                "Failed": "failed", "Error": "failed"}
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
_ORDER = {"queued": 0, "running": 1}


def current_traceparent() -> str | None:
    """W3C ``traceparent`` of the current span (``00-<trace>-<span>-01``), or None outside a span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


class ArgoExecutor:
    """Submits Executions as Workflows and syncs their status (implements ``runners.Executor``).

    Args:
        client: Argo Server client (namespace, token).
        executions: where Executions are stored.
        settings: template name and namespace of submitted workflows.
    """

    def __init__(self, *, client: ArgoServerClient, executions: ExecutionRepository, settings: ArgoSettings) -> None:
        self.client = client
        self.executions = executions
        self.settings = settings

    async def submit(self, execution: Execution) -> Execution:
        """Post the Workflow of a queued Execution; store its name and phase on the Execution.

        Idempotent: the workflow is named after the Execution, so a second submit finds
        the first (409) and adopts it.

        Returns:
            The Execution, ``queued`` (or ``running``) with ``workflow_name`` set.

        Raises:
            ArgoAPIError: the Argo Server refused the workflow; the Execution is stored as
                ``failed`` with the same code and message first.
            ServiceUnavailableError: the Argo Server does not answer (the Execution is failed likewise).
        """
        wf = build_workflow(self.settings, agent_id=execution.agent_id, input=execution.input,
                            execution_id=execution.id, version=execution.version, thread_id=execution.thread_id,
                            tenant_id=execution.tenant_id, traceparent=current_traceparent())
        try:
            try:
                created = await self.client.create_workflow(wf)
            except ArgoAPIError as exc:
                if exc.status != 409:
                    raise
                created = await self.client.get_workflow(workflow_name(execution.id))
        except Exception as exc:
            code = getattr(exc, "code", "ARGO_API_ERROR")
            await self.executions.update(tenant_id=execution.tenant_id, execution_id=execution.id, status="failed",
                                         error=getattr(exc, "message", str(exc)), error_code=code, ended_at=now_iso())
            raise
        name = created.get("metadata", {}).get("name") or wf["metadata"]["name"]
        phase = (created.get("status") or {}).get("phase", "")
        status = PHASE_STATUS.get(phase, "queued")
        if status in TERMINAL:  # never on a fresh workflow; the pod reports outcomes
            status = "queued"
        return await self.executions.update(tenant_id=execution.tenant_id, execution_id=execution.id,
                                            status=status, workflow_name=name)

    async def sync(self, execution: Execution) -> Execution:
        """Read the Execution's workflow and move its status forward.

        Rules: the graph keeps an outcome the runner pod wrote (it has output and
        usage); a non-terminal Execution follows the phase forward only (queued ->
        running -> terminal); a terminal phase the pod did not record is stored with
        Argo's ``status.message`` as the error. A workflow that no longer exists
        fails the Execution (``ARGO_WORKFLOW_LOST``).

        Returns:
            The Execution as now stored (unchanged when nothing moved or no workflow is attached).

        Raises:
            ArgoAPIError: other than 404 (auth, server errors).
            ServiceUnavailableError: the Argo Server does not answer.
        """
        if not execution.workflow_name or execution.status in TERMINAL:
            return execution
        try:
            wf = await self.client.get_workflow(execution.workflow_name)
        except ArgoAPIError as exc:
            if exc.status != 404:
                raise
            return await self._store(execution, "failed", error=(
                f"Workflow {execution.workflow_name} no longer exists in Argo (deleted before the run ended)."),
                code="ARGO_WORKFLOW_LOST")
        status_obj: dict[str, Any] = wf.get("status") or {}
        phase = status_obj.get("phase", "")
        status = PHASE_STATUS.get(phase)
        if status is None:
            log.warning("workflow %s has unknown phase %r", execution.workflow_name, phase)
            return execution
        if status in TERMINAL:
            # The pod normally recorded the outcome already; re-read to avoid overwriting it.
            fresh = await self.executions.get(tenant_id=execution.tenant_id, execution_id=execution.id)
            if fresh.status in TERMINAL:
                return fresh
            if status == "failed":
                message = status_obj.get("message") or f"Workflow {execution.workflow_name} {phase.lower()}."
                code = "ARGO_WORKFLOW_ERROR" if phase == "Error" else "ARGO_WORKFLOW_FAILED"
                return await self._store(fresh, "failed", error=message, code=code)
            return await self._store(fresh, status)
        if _ORDER.get(status, 0) > _ORDER.get(execution.status, 0):
            return await self.executions.update(tenant_id=execution.tenant_id, execution_id=execution.id,
                                                status=status)
        return execution

    async def _store(self, execution: Execution, status: str, *, error: str | None = None,
                     code: str | None = None) -> Execution:
        return await self.executions.update(tenant_id=execution.tenant_id, execution_id=execution.id, status=status,
                                            error=error, error_code=code, ended_at=now_iso())

    async def sync_active(self, tenant_id: str, *, limit: int = 500) -> int:
        """Sync every non-terminal Execution of a tenant that has a workflow; returns how many changed status."""
        changed = 0
        for execution in await self.executions.list(tenant_id=tenant_id, limit=limit):
            if execution.workflow_name and execution.status not in TERMINAL:
                after = await self.sync(execution)
                changed += after.status != execution.status
        return changed

    async def sync_forever(self, tenant_id: str, interval_s: float) -> None:
        """Poll :meth:`sync_active` every ``interval_s`` seconds until cancelled; errors are logged, not raised."""
        while True:
            try:
                await self.sync_active(tenant_id)
            except Exception:  # a flaky Argo Server must not stop the loop
                log.exception("syncing Argo workflows failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)


async def start_argo_executor(settings: Settings, *, executions: ExecutionRepository,
                              stack: AsyncExitStack) -> ArgoExecutor:
    """Build the executor for ``settings.executor == "argo"`` and start its sync loop.

    The loop (every ``settings.argo.sync_interval_s`` seconds; 0 disables it) and the
    HTTP client are closed by ``stack``.

    Returns:
        The executor to set as ``RunService.executor``.
    """
    a = settings.argo
    client = ArgoServerClient(a.server_url, token=a.token, namespace=a.namespace, timeout_s=a.request_timeout_s,
                              verify_tls=a.verify_tls)
    stack.push_async_callback(client.aclose)
    executor = ArgoExecutor(client=client, executions=executions, settings=a)
    if a.sync_interval_s > 0:
        task = asyncio.get_running_loop().create_task(executor.sync_forever(settings.tenant_id, a.sync_interval_s))

        async def _stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(_stop)
    return executor


__all__ = ["start_argo_executor", "ArgoExecutor", "PHASE_STATUS", "TERMINAL", "current_traceparent"]
