"""The run service: resolve an agent's version, record an Execution, run it, store the
outcome (a failed run is stored too, with its error). The tool registry is in
``runners._registry``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cachetools import LRUCache
from opentelemetry.trace import Status, StatusCode, Tracer

from agentgraph.budgets import CallScope
from agentgraph.errors import (
    AgentGraphError,
    ConflictError,
    RunError,
    RunTimeoutError,
    ServiceUnavailableError,
    UserError,
)
from agentgraph.metering import call_scope
from agentgraph.spec import AgentSpec
from graph import (
    AgentRepository,
    AgentVersion,
    Execution,
    ExecutionLifecycle,
    ExecutionRepository,
    new_id,
    now_iso,
)

from runners._agent_types import effective_spec
from runners._events import TERMINAL_STATUSES, RunEvent, RunEventBus
from runners._guardrails import current_guard, finalize_output, guard_scope, in_sandbox, redact_outcome
from runners._lifecycle import (
    CANCEL_TTL_S,
    CANCELLED_CODE,
    RETRIES_EXHAUSTED_CODE,
    TIMED_OUT_CODE,
    WORKER_LOST_CODE,
    cancel_key,
    is_retryable,
)
from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._metrics import RunMetrics
from runners._pii import redaction_scope
from runners._registry import ToolRegistry
from runners._runner import AgentRunner, RunOutcome, RunUsage
from runners._tracing import RunSpanCollector

log = logging.getLogger("agentgraph.runs")
#: ``async listener(ctx, outcome)`` called after a successful run.
RunListener = Callable[[RunContext, RunOutcome], Awaitable[None]]


class Executor(Protocol):
    """Runs Executions out of process (Argo Workflows: ``argo.ArgoExecutor``; a worker queue).

    ``submit`` receives an Execution stored as ``queued`` and returns it as updated
    (e.g. with its workflow name); the process that later runs it calls
    ``RunService.run(..., execution_id=...)``.
    """

    async def submit(self, execution: Execution) -> Execution: ...  # noqa: D102
MAX_INPUT_CHARS = 20_000
#: Parsed AgentSpecs kept per process (``RunService._spec_of``); a spec is a few KB.
SPEC_CACHE_SIZE = 512


class _PendingCreate:
    """The Execution create of an inline run, written while the run's graph already executes.

    Overlapping the two takes the create's round trips off the run's latency (issue 6,
    figure 1). The run's outcome is recorded only after the create committed
    (:meth:`result`); the ``running`` event is published by the create task once the
    node exists, so it always precedes the terminal event. When the create fails
    (``NotFoundError``: the version went away; ``ServiceUnavailableError``: graph down)
    while the graph still runs, the run's task is cancelled and ``RunService.run`` raises
    the create's error, as it did when the create came first; nothing is stored.

    Args:
        create: the coroutine storing the Execution (and publishing ``running``).
        run_task: the task executing the run (cancelled if the create fails); None: not cancelled.
    """

    def __init__(self, create: Awaitable[Execution], run_task: asyncio.Task[Any] | None) -> None:
        self.task: asyncio.Task[Execution] = asyncio.ensure_future(create)
        self._run_task = run_task
        self._armed = True  # cancel the run on a failed create until the run awaits the create itself
        self.failed = False
        self.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Execution]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        self.failed = True
        if self._armed and self._run_task is not None and not self._run_task.done():
            self._run_task.cancel()

    def error(self) -> BaseException:
        """The create's exception (only when :attr:`failed`)."""
        exc = self.task.exception()
        assert exc is not None
        return exc

    async def wait(self) -> Execution:
        """Wait until the Execution is stored (for writes to it during the run); raises the create's error."""
        return await asyncio.shield(self.task)

    async def result(self) -> Execution:
        """The stored Execution; raises the create's error when it failed."""
        self._armed = False
        return await asyncio.shield(self.task)

    def disarm(self) -> None:
        """The run ended: a create still in flight must no longer cancel anything (it is kept to completion)."""
        self._armed = False
        if not self.task.done():
            _BACKGROUND.add(self.task)
            self.task.add_done_callback(_BACKGROUND.discard)
            self.task.add_done_callback(_log_orphan_failure)


#: Tasks that outlive the run that started them (a create still writing when its run was cancelled by shutdown).
_BACKGROUND: set[asyncio.Task[Any]] = set()


def _log_orphan_failure(task: asyncio.Task[Any]) -> None:
    """Nobody awaits a create that outlived its run: say when it failed (no Execution was stored for it)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("the Execution create of a run that was already stopped failed; the run left no record: %s",
                    task.exception())


class RunService:
    """Runs agents and records Executions through the run lifecycle.

    Lifecycle (issue 6): ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` |
    ``cancelled`` | ``timed_out``; every change is published as a ``RunEvent`` when
    ``events`` is set. Status writes are compare-and-set (``graph.ExecutionLifecycle``)
    so a redelivered job or a racing cancel never records a run twice.

    Args:
        agents / executions: repositories.
        registry: gives each tool's MCP URL.
        runner: the LangGraph runner.
        tracer / collector: where the run's spans go and are read back.
        lifecycle: conditional status writes (default: on the executions' graph client).
    """

    def __init__(self, *, agents: AgentRepository, executions: ExecutionRepository, registry: ToolRegistry,
                 runner: AgentRunner, tracer: Tracer, collector: RunSpanCollector,
                 lifecycle: ExecutionLifecycle | None = None) -> None:
        self.agents = agents
        self.executions = executions
        self.lifecycle = lifecycle or ExecutionLifecycle(executions.client)
        self.registry = registry
        self.runner = runner
        self.tracer = tracer
        self.collector = collector
        self.tool_providers: list[ToolProvider] = []
        self.run_listeners: list[RunListener] = []
        self.metrics: RunMetrics | None = None  # Prometheus counters, set by the app
        #: When set, ``run`` stores the Execution as ``queued`` and hands it over instead of running inline.
        self.executor: Executor | None = None
        #: Where status changes are published (Redis Streams); None: not published.
        self.events: RunEventBus | None = None
        #: Redis for cancel requests of runs executing in other processes; None: local cancels only.
        self.redis: Any = None
        #: Runs ``agent_type: external`` agents (``runners._external_service.ExternalAgentService``).
        self.external: Any = None
        #: Guardrails, PII redaction and sandbox (``runners._sandbox.GuardrailServices``, issue 7); None: off.
        self.guardrails: Any = None
        self._tasks: dict[str, asyncio.Task[Any]] = {}  # runs executing in this process, by execution id
        #: Parsed specs by their YAML text (versions are immutable; parsing costs ~3.5 ms per run).
        self._specs: LRUCache[str, AgentSpec] = LRUCache(maxsize=SPEC_CACHE_SIZE)
        self._cancel_requested: set[str] = set()

    def add_tool_provider(self, provider: ToolProvider) -> None:
        """Register a provider of in-process tools (notebook search, memory, delegation...)."""
        self.tool_providers.append(provider)

    def add_run_listener(self, listener: RunListener) -> None:
        """Register ``async listener(ctx, outcome)`` called after each successful run (e.g. thread summaries).

        A failing listener is logged and does not fail the run.
        """
        self.run_listeners.append(listener)

    def _spec_of(self, av: AgentVersion) -> AgentSpec:
        """``av``'s AgentSpec, parsed once per spec text and copied per call (runs may change the copy).

        Keyed by the YAML text rather than the version id, so a version that was somehow
        rewritten is parsed again. Raises what ``AgentSpec.from_yaml`` raises (nothing cached then).
        """
        spec = self._specs.get(av.spec_yaml)
        if spec is None:
            spec = self._specs[av.spec_yaml] = AgentSpec.from_yaml(av.spec_yaml)
        return spec.model_copy(deep=True)

    @staticmethod
    def thread_key(tenant_id: str, agent_id: str, thread_id: str) -> str:
        """Checkpointer thread id of a conversation (threads are per tenant and agent)."""
        return f"{tenant_id}:{agent_id}:{thread_id}"

    @property
    def running_ids(self) -> list[str]:
        """Ids of the Executions running in this process now."""
        return list(self._tasks)

    def cancel_local(self, execution_id: str) -> bool:
        """Cancel the run's task if it executes in this process; it is then recorded ``cancelled``.

        Returns:
            True when a task was found and cancelled.
        """
        task = self._tasks.get(execution_id)
        if task is None or task.done():
            return False
        self._cancel_requested.add(execution_id)
        task.cancel()
        return True

    async def cancel(self, *, tenant_id: str, execution_id: str, user_id: str | None = None) -> Execution:
        """Cancel a run: a queued one at once; a running one through its worker (or this process).

        Returns:
            The Execution: ``cancelled`` when it was queued (or executing here and
            cancelled already), else still ``running`` - its worker records
            ``cancelled`` within about a second (``RunEvent`` ``cancelled`` follows).

        Raises:
            NotFoundError: no such run in the tenant.
            ConflictError: the run already ended.
        """
        who = f"Cancelled by {user_id}." if user_id else "Cancelled."
        done = await self.lifecycle.transition(tenant_id=tenant_id, execution_id=execution_id,
                                               from_statuses=("queued",), status="cancelled", error=who,
                                               error_code=CANCELLED_CODE, ended_at=now_iso())
        if done is not None:
            await self._publish(done, {"attempt": done.attempt, "error_code": CANCELLED_CODE})
            if self.metrics is not None:
                self.metrics.observe(done)
            return done
        current = await self.executions.get(tenant_id=tenant_id, execution_id=execution_id)
        if current.status in TERMINAL_STATUSES:
            raise ConflictError(f"Run {execution_id} already ended ({current.status}); there is nothing to cancel.")
        task = self._tasks.get(execution_id)
        if task is not None and self.cancel_local(execution_id):  # it runs in this process (inline executor)
            with contextlib.suppress(BaseException):
                await asyncio.wait({task}, timeout=5)
            return await self.executions.get(tenant_id=tenant_id, execution_id=execution_id)
        if self.redis is not None:  # its worker polls this key (argo.QueueWorker)
            await self.redis.set(cancel_key(execution_id), user_id or "anonymous", ex=CANCEL_TTL_S)
        return current

    async def retry_delay_s(self, execution: Execution) -> float:
        """Wait before the next attempt of ``execution`` (its version's ``limits.retry``), seconds."""
        av = await self.agents.get_version(tenant_id=execution.tenant_id, agent_id=execution.agent_id,
                                           version=execution.version)
        return self._spec_of(av).limits.retry.delay_s(max(execution.attempt, 1))

    async def _publish(self, e: Execution, data: dict[str, Any]) -> None:
        if self.events is None:
            return
        try:
            await self.events.publish(RunEvent(run_id=e.id, tenant_id=e.tenant_id, agent_id=e.agent_id,
                                               status=e.status, data=data))
        except Exception:  # events are a view of the graph's record; a Redis hiccup must not fail the run
            log.warning("could not publish the %s event of %s", e.status, e.id, exc_info=True)

    async def _ensure_terminal_event(self, e: Execution) -> None:
        """Publish ``e``'s terminal event unless its stream has one (its worker died between the two writes)."""
        if self.events is None:
            return
        try:
            if any(ev.terminal for ev in await self.events.history(e.id)):
                return
        except Exception:
            log.warning("could not read the events of %s", e.id, exc_info=True)
            return
        await self._publish(e, {"attempt": e.attempt, "error_code": e.error_code, "latency_ms": e.latency_ms})

    async def run(self, *, tenant_id: str, user_id: str | None, agent_id: str, input: str,
                  thread_id: str | None = None, version: int | None = None,
                  execution_id: str | None = None, model: str | None = None, retries: bool = False,
                  parent_execution_id: str | None = None, sandbox: bool = False) -> Execution:
        """Run an agent's active (else latest) version and return the stored Execution.

        ``model`` overrides the spec's model for this run only, without fallbacks
        (multi-LLM comparison runs the same agent on each model).

        A run that fails (LLM, tool) is returned with status ``failed`` and its error;
        one over ``limits.timeout_s`` as ``timed_out``; it does not raise. With an
        ``executor`` set (and no ``execution_id``) the Execution is stored as ``queued``
        and submitted; it is returned at once.

        ``execution_id`` runs an Execution queued earlier (a queue worker, an Argo pod):
        it is claimed (``queued``, or a ``running`` one whose worker died -> ``running``,
        ``attempt + 1``); one already ended, or claimed by someone else, is returned
        unchanged. With ``retries`` (queue workers) a transient failure
        (``runners._lifecycle.RETRYABLE_CODES``) goes back to ``queued`` while
        ``limits.retry.attempts`` allows, else ends ``failed`` with ``RETRIES_EXHAUSTED``;
        a redelivered attempt resumes from its LangGraph checkpoint.

        ``sandbox`` makes it a test run (issue 7, ``runners._sandbox``): no real tool is called and it
        does not count in statistics. With PII redaction on, the stored input is redacted; the model
        still gets the real one.

        ``parent_execution_id`` makes it a child run (issue 7: delegation, team members,
        workflow agent steps): it runs inline, in the caller's trace, and stores its parent's id.

        Inline runs (no ``execution_id``) write their Execution while the graph already runs
        (:class:`_PendingCreate`, issue 6 figure 1): the id is made client side, the ``running``
        event follows the committed create, the outcome is recorded only after it, and tools
        that write to the Execution wait for it (``RunContext.stored``). If the create fails the
        run is cancelled and its error raised, as when the create came first; nothing is stored.

        Raises:
            UserError: empty or oversized input.
            NotFoundError: unknown agent or version (nothing is stored).
        """
        if not input or not input.strip():
            raise UserError("The run input is empty; say what the agent should do.")
        if len(input) > MAX_INPUT_CHARS:
            raise UserError(f"The run input has {len(input)} characters; the limit is {MAX_INPUT_CHARS}.")
        av = await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=version)
        spec = self._spec_of(av)
        if model:
            spec.model.name, spec.model.fallbacks = model, []
        thread_id = thread_id or new_id("thr")
        # a child run's input is redacted with its parent's patterns too (runners._sandbox.GuardrailServices)
        parent_guard = current_guard() if parent_execution_id is not None else None
        stored_input = self.guardrails.store_text(spec, input, parent=parent_guard) \
            if self.guardrails is not None else input
        sandbox = sandbox or (parent_execution_id is not None and in_sandbox())  # a sandbox run's children too
        if execution_id is None and self.executor is not None and parent_execution_id is None:
            queued = await self.lifecycle.start(
                tenant_id=tenant_id, agent_id=agent_id, version=av.version, thread_id=thread_id, input=stored_input,
                triggered_by=user_id, status="queued")
            if self.guardrails is not None and (sandbox or stored_input != input):  # read by the worker
                queued = await self.guardrails.prepare_queued(queued, input, sandbox, self.lifecycle)
            await self._publish(queued, {"attempt": 0})
            try:
                return await self.executor.submit(queued)
            except Exception as exc:  # never leave a run queued that no worker will see
                code = getattr(exc, "code", ServiceUnavailableError.code)
                failed = await self.lifecycle.transition(
                    tenant_id=tenant_id, execution_id=queued.id, from_statuses=("queued",), status="failed",
                    error=f"The run could not be queued: {getattr(exc, 'message', exc)}", error_code=code,
                    ended_at=now_iso())
                if failed is not None:
                    await self._publish(failed, {"attempt": 0, "error_code": code})
                raise
        resume = False
        if execution_id is not None:
            execution = await self.executions.get(tenant_id=tenant_id, execution_id=execution_id)
            if execution.agent_id != agent_id:
                raise UserError(
                    f"Execution {execution_id!r} belongs to agent {execution.agent_id!r}, not {agent_id!r}.")
            # Queue workers retry through the queue; an Argo pod retry re-runs a failed attempt.
            claimable = ("queued", "running") if retries else ("queued", "running", "failed", "timed_out")
            if execution.status not in claimable:
                if retries and execution.status in TERMINAL_STATUSES:
                    await self._ensure_terminal_event(execution)
                return execution
            # The queued Execution fixed version and thread when it was submitted.
            thread_id = execution.thread_id
            if execution.version != av.version:
                av = await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=execution.version)
                spec = self._spec_of(av)
            was = execution.status
            claimed = await self.lifecycle.claim(tenant_id=tenant_id, execution_id=execution_id,
                                                 from_statuses=claimable)
            if claimed is None:  # cancelled or finished meanwhile
                return await self.executions.get(tenant_id=tenant_id, execution_id=execution_id)
            execution = claimed
            # "running" here means the previous attempt's worker died (the queue's lease guarantees it).
            resume = was == "running"
            if retries and execution.attempt > spec.limits.retry.attempts:
                return await self._record(execution, spec, "failed", None, (
                    f"The worker running attempt {execution.attempt - 1} stopped (process died) and the retry "
                    f"policy allows {spec.limits.retry.attempts} attempts."), WORKER_LOST_CODE, RunUsage(), None,
                    [], retries=True)
        task = asyncio.current_task()
        pending: _PendingCreate | None = None
        if execution_id is None:  # inline: the create is written while the graph runs (see _PendingCreate)
            execution = self.lifecycle.new_execution(
                tenant_id=tenant_id, agent_id=agent_id, version=av.version, thread_id=thread_id, input=stored_input,
                triggered_by=user_id, parent_id=parent_execution_id, sandbox=sandbox)
            pending = _PendingCreate(self._create_and_announce(execution), task)
        else:
            await self._publish(execution, {"attempt": execution.attempt, "resumed": resume})
        if task is not None:
            self._tasks[execution.id] = task
        try:
            return await self._execute(execution, spec, user_id, resume=resume, retries=retries,
                                       raw_input=input if execution_id is None else None, pending=pending)
        except asyncio.CancelledError:
            if pending is None or not pending.failed:
                raise
            if task is not None:
                task.uncancel()  # we cancelled the run because its Execution could not be stored
            raise pending.error() from None
        finally:
            self._tasks.pop(execution.id, None)
            self._cancel_requested.discard(execution.id)
            if pending is not None:
                pending.disarm()

    async def _create_and_announce(self, execution: Execution) -> Execution:
        """Store a new inline run's Execution (``running``), then publish its ``running`` event."""
        created = await self.lifecycle.create(execution)
        await self._publish(created, {"attempt": created.attempt, "resumed": False})
        return created

    async def _execute(self, execution: Execution, spec: AgentSpec, user_id: str | None, *, resume: bool,
                       retries: bool, raw_input: str | None = None,
                       pending: _PendingCreate | None = None) -> Execution:
        spec = effective_spec(spec)  # what the agent type implies (qa: stateless; issue 7, runners._agent_types)
        tenant_id, agent_id, thread_id = execution.tenant_id, execution.agent_id, execution.thread_id
        usage = RunUsage()
        status, output, error, code = "succeeded", None, None, None
        started = time.perf_counter()
        attrs: dict[str, Any] = {"agent.id": agent_id, "agent.version": execution.version, "run.id": execution.id,
                                 "thread.id": thread_id, "run.attempt": execution.attempt}
        # A child run (team member, workflow agent step, delegate) runs in its parent's context: its usage
        # counts toward the parent's limits and it redacts with the parent's PII rules too.
        parent_guard = current_guard() if execution.parent_id else None
        guard, redactor, user_input = (await self.guardrails.for_execution(execution, spec, raw_input,
                                                                           parent=parent_guard)
                                       if self.guardrails is not None else (None, None, raw_input or execution.input))
        if guard is not None:
            guard.bind(usage, parent_guard)
        # The call scope attributes every LLM call of the run to tenant/user/agent (budgets, usage).
        with call_scope(CallScope(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id)), \
                guard_scope(guard), redaction_scope(redactor), \
                self.tracer.start_as_current_span("agent.run", attributes=attrs) as root:
            trace_id = root.get_span_context().trace_id
            try:
                if guard is not None:
                    guard.check_input(user_input)  # blocked topics: refused before any LLM call
                ctx = RunContext(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id, version=execution.version,
                                 thread_id=thread_id, run_id=execution.id, spec=spec,
                                 stored=pending.wait if pending is not None else None)
                if spec.external is not None:  # a remote platform runs it (issue 7, docs/external-agents.md)
                    if self.external is None:
                        raise ServiceUnavailableError("External agents are not set up in this process.")
                    outcome = await self.external.run(ctx, user_input, usage)
                    outcome.output = await finalize_output(self.runner.llm, self.tracer, spec, user_input,
                                                           outcome.output, usage)  # output schema, topics
                else:
                    local: list[LocalTool] = []
                    for provider in self.tool_providers:
                        local.extend(await provider(ctx))
                    outcome = await self.runner.run(
                        spec, user_input, thread_key=self.thread_key(tenant_id, agent_id, thread_id),
                        tool_urls={tid: self.registry.mcp_url(tid) for tid in spec.tool_ids}, usage=usage,
                        local_tools=local, tenant_id=tenant_id, run_id=execution.id, resume=resume,
                    )
                output = outcome.output
                for listener in [] if execution.sandbox else self.run_listeners:  # a test run teaches nothing
                    try:
                        await listener(ctx, outcome)
                    except Exception:  # a side effect (e.g. a memory summary) must not fail the run
                        log.exception("run listener %r failed for %s", listener, execution.id)
            except asyncio.CancelledError:
                if execution.id not in self._cancel_requested:
                    raise  # the process is stopping: the job is redelivered, the run resumed elsewhere
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()  # the cancel was ours and is handled: later timeouts must not misread it
                status, error, code = "cancelled", "Cancelled while running.", CANCELLED_CODE
                root.set_status(Status(StatusCode.ERROR, "cancelled"))
            except RunTimeoutError as exc:
                status, error, code = "timed_out", exc.message, TIMED_OUT_CODE
                root.set_status(Status(StatusCode.ERROR, exc.message[:200]))
            except AgentGraphError as exc:
                status, error, code = "failed", exc.message, exc.code
                root.set_status(Status(StatusCode.ERROR, exc.message[:200]))
            except Exception as exc:  # unexpected: still record the run as failed
                status, error, code = "failed", f"{type(exc).__name__}: {exc}", RunError.code
                root.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        latency_ms = (time.perf_counter() - started) * 1000
        # a child run shares its parent's trace: it keeps its subtree, the parent pops all
        spans = self.collector.subtree(trace_id, root.get_span_context().span_id) \
            if execution.parent_id else self.collector.pop(trace_id)
        if guard is not None:  # its trace holds its children's spans: their PII rules apply to it too
            redactor = guard.tree_redactor()
        output, error, spans = redact_outcome(redactor, output, error, spans)  # PII never reaches the graph
        if pending is not None:  # the run's Execution must be stored before its outcome (raises when it was not)
            execution = await pending.result()
        with redaction_scope(redactor):
            return await self._record(execution, spec, status, output, error, code, usage, latency_ms, spans,
                                      retries=retries)

    async def _record(self, execution: Execution, spec: AgentSpec, status: str, output: str | None,
                      error: str | None, code: str | None, usage: RunUsage, latency_ms: float | None,
                      spans: list[dict[str, Any]], *, retries: bool) -> Execution:
        """Store the attempt's outcome (compare-and-set on ``running``) and publish it."""
        policy = spec.limits.retry
        ended: str | None = now_iso()
        if retries and status == "failed" and is_retryable(code):
            if execution.attempt < policy.attempts:
                status, ended = "queued", None  # the worker schedules the next attempt after the backoff
            else:
                error = f"Gave up after {execution.attempt} attempt(s); last error ({code}): {error}"
                code = RETRIES_EXHAUSTED_CODE
        # A sandbox run is recorded without the Agent's counters (success statistics, recommendations).
        lifecycle = ExecutionLifecycle(self.executions.client) if execution.sandbox else self.lifecycle
        finished = await lifecycle.finish(
            tenant_id=execution.tenant_id, execution_id=execution.id, status=status, output=output, error=error,
            error_code=code, ended_at=ended, latency_ms=round(latency_ms, 3) if latency_ms is not None else None,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd, model=usage.model, spans=spans,
            agent_id=execution.agent_id, triggered_by=execution.triggered_by,  # index hints (counting lifecycle)
        )
        if finished is None:  # recorded by someone else meanwhile: keep theirs
            return await self.executions.get(tenant_id=execution.tenant_id, execution_id=execution.id)
        data: dict[str, Any] = {"attempt": finished.attempt, "error_code": code, "latency_ms": finished.latency_ms}
        if status == "queued":
            data["retry_in_s"] = policy.delay_s(finished.attempt)
        await self._publish(finished, data)
        if self.metrics is not None and status != "queued":
            self.metrics.observe(finished)
        return finished


__all__ = ["Executor", "RunService", "RunListener"]
