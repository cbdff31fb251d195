"""Services that tie the runner and the tool layer to the graph.

* :class:`ToolRegistry` - validate an OpenAPI document, check its base URL, embed its
  description, store the Tool (+ operations) in the graph, serve it over MCP.
* :class:`RunService` - resolve an agent's version, record an Execution, run it,
  store the outcome (a failed run is stored too, with its error).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from opentelemetry.trace import Status, StatusCode, Tracer

from agentgraph.budgets import CallScope
from agentgraph.errors import AgentGraphError, InvalidSpecError, RunError, UserError
from agentgraph.metering import call_scope
from agentgraph.spec import AgentSpec
from graph import (
    AgentRepository,
    Execution,
    ExecutionRepository,
    Tool,
    ToolOperation,
    ToolRepository,
    new_id,
    now_iso,
)
from memory import Embedder

from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._mcp import MCPToolHost
from runners._metrics import RunMetrics
from runners._openapi import check_base_url, load_openapi
from runners._runner import AgentRunner, RunOutcome, RunUsage
from runners._tracing import RunSpanCollector

_SLUG = re.compile(r"[^a-z0-9]+")
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


def tool_slug(name: str) -> str:
    """Tool id from a name: lower-case, dashes, at most 48 characters (``Demo CRM`` -> ``demo-crm``)."""
    return _SLUG.sub("-", name.lower()).strip("-")[:48] or "tool"


class ToolRegistry:
    """Registers OpenAPI tools and serves them at ``{public_url}/tools/{tool_id}/mcp``.

    Args:
        tools: tool repository.
        host: the ASGI MCP host mounted at ``/tools`` of the platform app.
        embedder: embeds tool descriptions (for the builder's suggestions).
        public_url: base URL of the platform as runners reach it (``http://127.0.0.1:8000``).
    """

    def __init__(self, *, tools: ToolRepository, host: MCPToolHost, embedder: Embedder, public_url: str) -> None:
        self.tools = tools
        self.host = host
        self.embedder = embedder
        self.public_url = public_url.rstrip("/")
        #: The tool hub (``runners._toolhub.ToolHub``); when set, register/restore go through it
        #: (credentials, rules, Swagger 2.0, caps from settings).
        self.hub: Any = None

    def mcp_url(self, tool_id: str) -> str:
        """Streamable-HTTP MCP endpoint of a tool."""
        return f"{self.public_url}/tools/{tool_id}/mcp"

    async def register(
        self, *, tenant_id: str, user_id: str | None, openapi: str | bytes, base_url: str,
        name: str | None = None, check_reachable: bool = True,
    ) -> Tool:
        """Validate, store and serve a tool. Nothing is stored when any step fails.

        Raises:
            InvalidSpecError: the OpenAPI document is invalid or refused.
            UserError: (``BASE_URL_UNREACHABLE``) the base URL does not answer.
            ConflictError: a tool with the same id exists.
        """
        if self.hub is not None:
            return await self.hub.register_openapi(tenant_id=tenant_id, user_id=user_id, openapi=openapi,
                                                   base_url=base_url, name=name, check_reachable=check_reachable)
        doc = load_openapi(openapi)
        base_url = base_url.strip().rstrip("/")
        if check_reachable:
            await check_base_url(base_url)
        tool_name = (name or doc.title or "tool").strip()
        tool_id = tool_slug(tool_name)
        description = doc.tool_description()
        [embedding] = await self.embedder.embed([description])
        tool = await self.tools.create(
            tenant_id=tenant_id, tool_id=tool_id, name=tool_name, description=description, base_url=base_url,
            operations=[ToolOperation(operation_id=o.operation_id, method=o.method, path=o.path, summary=o.summary)
                        for o in doc.operations],
            embedding=embedding, openapi=doc.spec, created_by=user_id,
        )
        try:
            await self.host.mount(tool_id, doc, base_url)
        except Exception as exc:
            # Compensate: a tool that cannot be served must not stay in the graph.
            await self.tools.delete(tenant_id=tenant_id, tool_id=tool_id)
            raise InvalidSpecError(f"The document validated but could not be served as MCP tools: {exc}") from exc
        return tool

    async def restore(self) -> int:
        """Serve every tool stored in the graph (at start-up); returns how many were mounted."""
        if self.hub is not None:
            return await self.hub.restore()
        n = 0
        for tool in await self.tools.list_all_tenants():
            if self.host.has(tool.id) or not tool.openapi:
                continue
            try:
                await self.host.mount(tool.id, load_openapi(tool.openapi_json or "{}"), tool.base_url)
                n += 1
            except AgentGraphError:
                continue  # a stored document that no longer validates stays unserved; runs report it
        return n


class RunService:
    """Runs agents and records Executions.

    Args:
        agents / executions: repositories.
        registry: gives each tool's MCP URL.
        runner: the LangGraph runner.
        tracer / collector: where the run's spans go and are read back.
    """

    def __init__(self, *, agents: AgentRepository, executions: ExecutionRepository, registry: ToolRegistry,
                 runner: AgentRunner, tracer: Tracer, collector: RunSpanCollector) -> None:
        self.agents = agents
        self.executions = executions
        self.registry = registry
        self.runner = runner
        self.tracer = tracer
        self.collector = collector
        self.tool_providers: list[ToolProvider] = []
        self.run_listeners: list[RunListener] = []
        self.metrics: RunMetrics | None = None  # Prometheus counters, set by the app
        #: When set, ``run`` stores the Execution as ``queued`` and hands it over instead of running inline.
        self.executor: Executor | None = None

    def add_tool_provider(self, provider: ToolProvider) -> None:
        """Register a provider of in-process tools (notebook search, memory, delegation...)."""
        self.tool_providers.append(provider)

    def add_run_listener(self, listener: RunListener) -> None:
        """Register ``async listener(ctx, outcome)`` called after each successful run (e.g. thread summaries).

        A failing listener is logged and does not fail the run.
        """
        self.run_listeners.append(listener)

    @staticmethod
    def thread_key(tenant_id: str, agent_id: str, thread_id: str) -> str:
        """Checkpointer thread id of a conversation (threads are per tenant and agent)."""
        return f"{tenant_id}:{agent_id}:{thread_id}"

    async def run(self, *, tenant_id: str, user_id: str | None, agent_id: str, input: str,
                  thread_id: str | None = None, version: int | None = None,
                  execution_id: str | None = None, model: str | None = None) -> Execution:
        """Run an agent's active (else latest) version and return the stored Execution.

        ``model`` overrides the spec's model for this run only, without fallbacks
        (multi-LLM comparison runs the same agent on each model).

        A run that fails (LLM, tool, timeout) is returned with status ``failed`` and
        its error; it does not raise. With an ``executor`` set (and no ``execution_id``)
        the Execution is stored as ``queued`` and submitted; it is returned at once.
        ``execution_id`` runs an Execution queued earlier (the executor's side: the Argo
        runner pod); one already ``succeeded`` is returned unchanged (redelivery).

        Raises:
            UserError: empty or oversized input.
            NotFoundError: unknown agent or version (nothing is stored).
        """
        if not input or not input.strip():
            raise UserError("The run input is empty; say what the agent should do.")
        if len(input) > MAX_INPUT_CHARS:
            raise UserError(f"The run input has {len(input)} characters; the limit is {MAX_INPUT_CHARS}.")
        av = await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=version)
        spec = AgentSpec.from_yaml(av.spec_yaml)
        if model:
            spec.model.name, spec.model.fallbacks = model, []
        thread_id = thread_id or new_id("thr")
        if execution_id is None and self.executor is not None:
            queued = await self.executions.start(
                tenant_id=tenant_id, agent_id=agent_id, version=av.version, thread_id=thread_id, input=input,
                triggered_by=user_id, status="queued")
            return await self.executor.submit(queued)
        if execution_id is not None:
            execution = await self.executions.get(tenant_id=tenant_id, execution_id=execution_id)
            if execution.agent_id != agent_id:
                raise UserError(
                    f"Execution {execution_id!r} belongs to agent {execution.agent_id!r}, not {agent_id!r}.")
            if execution.status == "succeeded":
                return execution
            # The queued Execution fixed version and thread when it was submitted.
            thread_id = execution.thread_id
            if execution.version != av.version:
                av = await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=execution.version)
                spec = AgentSpec.from_yaml(av.spec_yaml)
            execution = await self.executions.update(tenant_id=tenant_id, execution_id=execution_id, status="running")
        else:
            execution = await self.executions.start(
                tenant_id=tenant_id, agent_id=agent_id, version=av.version, thread_id=thread_id, input=input,
                triggered_by=user_id,
            )
        usage = RunUsage()
        status, output, error, code = "succeeded", None, None, None
        started = time.perf_counter()
        attrs: dict[str, Any] = {"agent.id": agent_id, "agent.version": av.version, "run.id": execution.id,
                                 "thread.id": thread_id}
        # The call scope attributes every LLM call of the run to tenant/user/agent (budgets, usage).
        with call_scope(CallScope(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id)), \
                self.tracer.start_as_current_span("agent.run", attributes=attrs) as root:
            trace_id = root.get_span_context().trace_id
            try:
                ctx = RunContext(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id, version=av.version,
                                 thread_id=thread_id, run_id=execution.id, spec=spec)
                local: list[LocalTool] = []
                for provider in self.tool_providers:
                    local.extend(await provider(ctx))
                outcome = await self.runner.run(
                    spec, input, thread_key=self.thread_key(tenant_id, agent_id, thread_id),
                    tool_urls={tid: self.registry.mcp_url(tid) for tid in spec.tool_ids}, usage=usage,
                    local_tools=local, tenant_id=tenant_id,
                )
                output = outcome.output
                for listener in self.run_listeners:
                    try:
                        await listener(ctx, outcome)
                    except Exception:  # a side effect (e.g. a memory summary) must not fail the run
                        log.exception("run listener %r failed for %s", listener, execution.id)
            except AgentGraphError as exc:
                status, error, code = "failed", exc.message, exc.code
                root.set_status(Status(StatusCode.ERROR, exc.message[:200]))
            except Exception as exc:  # unexpected: still record the run as failed
                status, error, code = "failed", f"{type(exc).__name__}: {exc}", RunError.code
                root.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        latency_ms = (time.perf_counter() - started) * 1000
        spans = self.collector.pop(trace_id)
        finished = await self.executions.finish(
            tenant_id=tenant_id, execution_id=execution.id, status=status, output=output, error=error,
            error_code=code, ended_at=now_iso(), latency_ms=round(latency_ms, 3),
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost_usd=usage.cost_usd, model=usage.model, spans=spans,
        )
        if self.metrics is not None:
            self.metrics.observe(finished)
        return finished


__all__ = ["Executor", "ToolRegistry", "RunService", "RunListener", "tool_slug"]
