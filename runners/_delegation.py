"""Child runs: delegation (``ask_<agent>`` tools), team members and workflow agent steps (issue 7).

Every child run goes through ``RunService.run(..., parent_execution_id=...)``: it is
its own Execution (``parent_id`` = the caller's run), runs inline in the caller's
task, and its spans nest under the caller's current span (same trace).

Nesting is tracked in a context variable holding the ancestors of the running run
(``(agent_id, run_id)`` pairs). A child is refused before anything is stored when

* its depth (ancestors + 1) would exceed the limit - the smallest ``limits.max_depth``
  among its ancestors' specs, capped by the platform's ``run.max_depth`` (default 3):
  a top-level agent's limit bounds its whole tree - error code ``DELEGATION_DEPTH_EXCEEDED``;
* its agent is already one of its ancestors (or the caller) - ``DELEGATION_CYCLE``.

Concurrent children (``asyncio.gather``) each get a copy of the context, so the
lineage stays exact per branch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextvars import ContextVar
from typing import Any

from agentgraph._spec_workflow import delegate_tool_name
from agentgraph.errors import AgentGraphError, RunError
from agentgraph.spec import AgentSpec
from graph import now_iso

from runners._local_tools import LocalTool, RunContext

log = logging.getLogger("agentgraph.runs")
#: Platform default of the deepest child nesting (``settings.run.max_depth``).
DEFAULT_MAX_DEPTH = 3

#: Ancestors ``(agent_id, run_id, depth limit)`` of the run executing in this context (empty: top level).
_LINEAGE: ContextVar[tuple[tuple[str, str, int], ...]] = ContextVar("agentgraph_run_lineage", default=())
#: The RunContext of the run executing in this context (set by :meth:`SubAgents.provider`).
_CURRENT: ContextVar[RunContext | None] = ContextVar("agentgraph_run_context", default=None)


class DelegationError(RunError):
    """A child run was refused: too deep (``DELEGATION_DEPTH_EXCEEDED``) or a cycle (``DELEGATION_CYCLE``)."""

    code = "DELEGATION_DEPTH_EXCEEDED"


class ChildRunError(RunError):
    """A child run ended without success; ``code`` is the child's error code when it has one."""

    code = "CHILD_RUN_FAILED"


def current_run(run_id: str | None = None) -> RunContext:
    """The RunContext of the run executing now (inside a type runner or a local tool).

    Args:
        run_id: the Execution id the caller runs; a context of another run (stale) is refused.

    Raises:
        RunError: called outside a run started by ``RunService`` with :class:`SubAgents` installed.
    """
    ctx = _CURRENT.get()
    if ctx is None or (run_id is not None and ctx.run_id != run_id):
        raise RunError("No run context: child runs need the RunService with SubAgents installed "
                       "(runners.install_multi_agent).")
    return ctx


class SubAgents:
    """Runs other agents of the tenant as child runs of the current run.

    Args:
        runs: the ``RunService`` (child runs are recorded like any run).
        max_depth: platform cap on nesting depth (``settings.run.max_depth``).
    """

    def __init__(self, runs: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.runs = runs
        self.max_depth = max_depth

    async def provider(self, ctx: RunContext) -> list[LocalTool]:
        """ToolProvider: records the run's context and offers ``ask_<agent>`` for each of its delegates."""
        _CURRENT.set(ctx)  # read by type runners (workflow, team) in the same task, right after
        return [self._delegate_tool(ctx, d.agent_id, d.description) for d in ctx.spec.delegates]

    def _delegate_tool(self, ctx: RunContext, agent_id: str, description: str) -> LocalTool:
        async def ask(args: dict[str, Any]) -> str:
            request = str(args.get("request") or args.get("input") or "").strip()
            if not request:
                return "Give `request`: what the other agent should do."
            child = await self.run_child(ctx, agent_id, request)
            return child.output or ""

        return LocalTool(
            name=delegate_tool_name(agent_id), kind="delegation",
            description=(description or f"Ask the agent {agent_id!r} to do a task; returns its answer.")[:400],
            parameters={"type": "object", "properties": {"request": {
                "type": "string", "description": "The task or question for that agent, self-contained."}},
                "required": ["request"]},
            fn=ask, attributes={"agent_id": agent_id})

    def limit(self, spec: AgentSpec) -> int:
        """Effective depth limit of children started by a run of ``spec`` (spec value capped by the platform)."""
        return min(spec.limits.max_depth or self.max_depth, self.max_depth)

    async def run_child(self, parent: RunContext, agent_id: str, input: str, *, thread_id: str | None = None) -> Any:
        """Run ``agent_id`` (its active version) on ``input`` as a child of ``parent``; its Execution.

        Raises:
            DelegationError: depth limit or cycle (nothing is stored).
            ChildRunError: the child run ended ``failed``/``timed_out``/``cancelled``.
            NotFoundError / UserError: unknown agent, empty input.
        """
        chain = (*_LINEAGE.get(), (parent.agent_id, parent.run_id, self.limit(parent.spec)))
        limit = min(c[2] for c in chain)
        if len(chain) > limit:
            path = " -> ".join(c[0] for c in chain)
            raise DelegationError(
                f"Child run of {agent_id!r} refused: it would be nested {len(chain)} levels deep ({path} -> "
                f"{agent_id}), over the limit of {limit}. Flatten the delegation or raise limits.max_depth "
                f"(platform cap: AGENTGRAPH_RUN__MAX_DEPTH={self.max_depth}).")
        if agent_id in {c[0] for c in chain}:
            path = " -> ".join([*(c[0] for c in chain), agent_id])
            raise DelegationError(f"Child run refused: delegation cycle {path}. An agent cannot (indirectly) "
                                  "delegate to itself; remove one of the delegates.", code="DELEGATION_CYCLE")
        lineage, current = _LINEAGE.set(chain), _CURRENT.set(parent)
        try:
            child = await self.runs.run(tenant_id=parent.tenant_id, user_id=parent.user_id, agent_id=agent_id,
                                        input=input, thread_id=thread_id, parent_execution_id=parent.run_id)
        except asyncio.CancelledError:
            await self._cancel_children(parent)
            raise
        finally:
            _CURRENT.reset(current)
            _LINEAGE.reset(lineage)
        if child.status != "succeeded":
            raise ChildRunError(
                f"Child run {child.id} of agent {agent_id!r} ended {child.status}: {child.error or 'no error given'}",
                code=child.error_code or ChildRunError.code)
        return child

    async def describe(self, tenant_id: str, agent_id: str) -> str:
        """Description of an agent (its active version's spec), for handoff tools; '' when unknown."""
        with contextlib.suppress(AgentGraphError):
            av = await self.runs.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=None)
            return AgentSpec.from_yaml(av.spec_yaml).description
        return ""

    async def _cancel_children(self, parent: RunContext) -> None:
        """Record still-running children of a cancelled/timed-out parent as ``cancelled`` (best effort)."""
        try:
            for child in await self.runs.lifecycle.children(tenant_id=parent.tenant_id, execution_id=parent.run_id):
                if child.status == "running":
                    await self.runs.lifecycle.transition(
                        tenant_id=parent.tenant_id, execution_id=child.id, from_statuses=("running",),
                        status="cancelled", error="Its parent run stopped (cancelled or timed out).",
                        error_code="CANCELLED", ended_at=now_iso())
        except Exception:  # the parent's own outcome matters more than tidying its children
            log.warning("could not cancel the children of %s", parent.run_id, exc_info=True)


def install_multi_agent(runs: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> SubAgents:
    """Wire workflows, teams and delegation into a ``RunService`` (and its runner).

    Registers the delegation tool provider and the ``workflow``/``team`` type runners.

    Returns:
        The :class:`SubAgents` used for child runs.
    """
    from runners._team import TeamRunner
    from runners._workflow import WorkflowRunner

    subs = SubAgents(runs, max_depth=max_depth)
    runs.add_tool_provider(subs.provider)
    runs.runner.type_runners["workflow"] = WorkflowRunner(subs)
    runs.runner.type_runners["team"] = TeamRunner(subs)
    return subs


__all__ = ["SubAgents", "DelegationError", "ChildRunError", "current_run", "install_multi_agent",
           "DEFAULT_MAX_DEPTH"]
