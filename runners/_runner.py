"""AgentSpec -> LangGraph agent, run with MCP tools over HTTP and Redis checkpoints.

The graph is a ReAct loop (``agent`` -> ``tools`` -> ``agent`` ... -> END):

* ``agent`` calls the LLM gateway with the conversation and the tools' function
  schemas; on the last allowed step (``limits.max_steps``) it calls without tools
  so the model must answer.
* ``tools`` calls each requested tool over MCP (one client session per tool for
  the length of the run) and appends ``ToolMessage``s.

State is LangGraph's message list, checkpointed per thread by the checkpointer
(``AsyncValkeySaver``), so a second run on the same thread sees the first. Every
LLM and tool call is an OpenTelemetry span under the run's ``agent.run`` span.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage, convert_to_openai_messages
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from opentelemetry.trace import Status, StatusCode, Tracer

from agentgraph.errors import AgentGraphError, RunError, RunTimeoutError, ToolError
from agentgraph.gateway import ChatModel
from agentgraph.spec import AgentSpec

from runners._context import fit_context
from runners._guardrails import current_guard, final_checks_apply, finalize_output, guarded_llm_call, guarded_tool_call
from runners._local_tools import LocalTool
from runners._mcp import MCPToolSession
from runners._toolhub_config import redact_arguments


class AgentState(TypedDict):
    """LangGraph state: the thread's messages and this run's LLM step count."""

    messages: Annotated[list[AnyMessage], add_messages]
    steps: int


@dataclass
class RunUsage:
    """Totals of one run: tokens, cost (USD), time in LLM and tool calls (ms)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    llm_ms: float = 0.0
    tool_ms: float = 0.0
    llm_calls: int = 0
    tool_calls: int = 0
    model: str | None = None


@dataclass
class RunOutcome:
    """What a finished run produced; ``spans`` is the execution chain."""

    output: str
    usage: RunUsage
    spans: list[dict[str, Any]] = field(default_factory=list)
    messages: int = 0


@dataclass
class _ToolRoute:
    session: Any  # MCPToolSession, or a pooled session with the same two methods
    tool_id: str
    name: str
    local: LocalTool | None = None
    fail_open: bool = False  # ToolRef.on_failure == "fail_open": errors go to the model, not the run


class AgentRunner:
    """Executes AgentSpecs (see module docstring).

    Args:
        llm: LLM gateway.
        checkpointer: LangGraph checkpointer (thread memory).
        tracer: OpenTelemetry tracer whose spans the caller collects.
        tool_timeout_s: per tool call timeout in seconds.
        tool_pool: a :class:`runners._toolhub_pool.MCPClientPool`; when set (and the
            run has a tenant), MCP sessions are shared across runs instead of
            opened per run.
    """

    def __init__(self, llm: ChatModel, checkpointer: BaseCheckpointSaver, tracer: Tracer, *, tool_timeout_s: float = 30.0,
                 tool_pool: Any = None):
        self.llm = llm
        self.checkpointer = checkpointer
        self.tracer = tracer
        self.tool_timeout_s = tool_timeout_s
        self.tool_pool = tool_pool
        #: agent_type value -> ``async handler(runner, spec, user_input, **run_kwargs) -> RunOutcome`` for types
        #: that are not a ReAct loop (issue 7: ``workflow``, ``team``); run under the same timeout.
        self.type_runners: dict[str, Any] = {}
        #: memory.short_term -> (checkpointer, compiled ReAct graph); see ``_compile``.
        self._graphs: dict[bool, tuple[Any, Any]] = {}

    async def run(
        self, spec: AgentSpec, user_input: str, *, thread_key: str, tool_urls: dict[str, str],
        usage: RunUsage | None = None, local_tools: list[LocalTool] | None = None, tenant_id: str | None = None,
        run_id: str | None = None, resume: bool = False,
    ) -> RunOutcome:
        """Run ``spec`` on ``user_input`` in thread ``thread_key``.

        Args:
            tool_urls: MCP URL per tool id referenced by the spec.
            local_tools: in-process tools offered next to the MCP tools.
            usage: accumulator filled while running (readable even when the run fails).
            tenant_id: whose pooled tool sessions to use (with ``tool_pool``).
            run_id: the Execution id, stored in each checkpoint's metadata (``run_id``).
            resume: a redelivered run (its worker died): when the thread's latest checkpoint
                belongs to ``run_id``, continue from it (``ainvoke(None)``) instead of starting
                over; when that checkpoint is final, return its answer without calling anything.

        Raises:
            RunTimeoutError: the run took longer than ``spec.limits.timeout_s``.
            ToolError: a tool was unreachable or answered an error.
            LLMError: the gateway failed.
        """
        usage = usage if usage is not None else RunUsage()
        handler = self.type_runners.get(getattr(spec.agent_type, "value", spec.agent_type))
        work = self._typed(handler, spec, user_input, thread_key=thread_key, tool_urls=tool_urls, usage=usage,
                           local_tools=local_tools or [], tenant_id=tenant_id, run_id=run_id, resume=resume) \
            if handler is not None else \
            self._run(spec, user_input, thread_key, tool_urls, usage, local_tools or [], tenant_id, run_id, resume)
        try:
            return await asyncio.wait_for(work, timeout=spec.limits.timeout_s)
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise RunTimeoutError(
                f"The run exceeded its timeout of {spec.limits.timeout_s:g} s. Raise limits.timeout_s in the "
                "agent spec or make the task smaller."
            ) from exc

    async def _typed(self, handler: Any, spec: AgentSpec, user_input: str, *, usage: RunUsage,
                     **kwargs: Any) -> RunOutcome:
        """A type runner's outcome after the final-answer guardrails (output schema, blocked topics)."""
        outcome = await handler(self, spec, user_input, usage=usage, **kwargs)
        outcome.output = await finalize_output(self.llm, self.tracer, spec, user_input, outcome.output, usage)
        return outcome

    async def _run(self, spec: AgentSpec, user_input: str, thread_key: str, tool_urls: dict[str, str],
                   usage: RunUsage, local_tools: list[LocalTool], tenant_id: str | None = None,
                   run_id: str | None = None, resume: bool = False) -> RunOutcome:
        async with AsyncExitStack() as stack:
            tool_defs, routes, notes = await self._open_tools(spec, tool_urls, stack, tenant_id)
            for lt in local_tools:
                if lt.name in routes:
                    raise ToolError(f"Local tool {lt.name!r} collides with an MCP tool of the same name.")
                tool_defs.append(lt.definition())
                routes[lt.name] = _ToolRoute(session=None, tool_id=f"local:{lt.kind}", name=lt.name, local=lt)
            # Local tools may add instructions (e.g. notebooks: "cite your sources").
            hints = dict.fromkeys(lt.attributes["system_prompt"] for lt in local_tools if lt.attributes.get("system_prompt"))
            # issue 7 guardrails (runners._guardrails): the schema hint and final checks, unless this
            # loop is a step of a larger answer (workflow llm step); limits and sandbox apply to every call.
            guard = final_checks_apply()
            if guard is not None and guard.system_hint:
                notes.append(guard.system_hint)
            system_prompt = "\n\n".join([spec.system_prompt, *hints, *notes])
            graph = self._compile(spec, tool_defs, routes, usage, system_prompt=system_prompt)
            config: dict[str, Any] = {"configurable": {"thread_id": thread_key},
                                      "recursion_limit": 2 * spec.limits.max_steps + 4}
            if run_id:  # LangGraph copies config metadata into every checkpoint: resume finds its own run
                config["metadata"] = {"run_id": run_id}
            state = await self._resume(graph, config, run_id) if resume and run_id and spec.memory.short_term else None
            if state is None:
                state = await graph.ainvoke({"messages": [HumanMessage(content=user_input)], "steps": 0}, config)
        last = next((m for m in reversed(state["messages"]) if isinstance(m, AIMessage)), None)
        output = _content_text(last.content) if last else ""
        if guard is not None:  # output schema (one repair call) and blocked topics
            output = await guard.finalize(self.llm, self.tracer, [{"role": "system", "content": system_prompt},
                                          *convert_to_openai_messages(state["messages"])], output, usage)
        return RunOutcome(output=output, usage=usage, messages=len(state["messages"]))

    @staticmethod
    async def _resume(graph: Any, config: dict[str, Any], run_id: str) -> dict[str, Any] | None:
        """State after continuing ``run_id`` from its last checkpoint, or None when the thread has none of it."""
        snap = await graph.aget_state(config)
        if not snap or (snap.metadata or {}).get("run_id") != run_id:
            return None  # the worker died before the first checkpoint of this run: start over
        if snap.next:  # interrupted between nodes: run the remaining ones
            return await graph.ainvoke(None, config)
        return snap.values  # finished before the outcome was recorded: nothing to redo

    async def _open_tools(self, spec: AgentSpec, tool_urls: dict[str, str], stack: AsyncExitStack,
                          tenant_id: str | None = None
                          ) -> tuple[list[dict[str, Any]], dict[str, _ToolRoute], list[str]]:
        """Tool definitions, routes, and notes for the model about fail-open tools that are unavailable."""
        defs: list[dict[str, Any]] = []
        routes: dict[str, _ToolRoute] = {}
        notes: list[str] = []
        pooled = self.tool_pool is not None and tenant_id is not None
        for ref in spec.tools:
            fail_open = ref.on_failure == "fail_open"
            try:
                with self.tracer.start_as_current_span(
                        "tool.connect", attributes={"tool.id": ref.tool_id, "tool.pooled": pooled}) as span:
                    try:
                        if pooled:
                            session = await self.tool_pool.session(ref.tool_id, tenant_id)
                        else:
                            url = tool_urls.get(ref.tool_id)
                            if not url:
                                raise ToolError(f"Tool {ref.tool_id!r} is not served; register it again or remove it "
                                                "from the agent.")
                            session = await stack.enter_async_context(MCPToolSession(url, timeout_s=self.tool_timeout_s))
                        listed = await session.list_tools()
                    except AgentGraphError as exc:
                        span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                        raise
            except AgentGraphError as exc:
                if not fail_open:
                    raise
                # Fail-open: the run goes on without this tool, and the model is told why.
                notes.append(f"Note: the tool {ref.tool_id!r} is unavailable for this run ({exc.message[:300]}). "
                             "Do not try to call it; answer with what you have and tell the user it was unavailable.")
                continue
            allowed = set(ref.operations)
            for d in listed:
                name = d["function"]["name"]
                if allowed and name not in allowed:
                    continue
                exposed = name if name not in routes else f"{ref.tool_id}__{name}"[:64]
                d = {"type": "function", "function": {**d["function"], "name": exposed}}
                defs.append(d)
                routes[exposed] = _ToolRoute(session=session, tool_id=ref.tool_id, name=name, fail_open=fail_open)
        return defs, routes, notes

    def _compile(self, spec: AgentSpec, tool_defs: list[dict[str, Any]], routes: dict[str, _ToolRoute],
                 usage: RunUsage, system_prompt: str | None = None) -> _BoundGraph:
        """The ReAct graph for one run: the shared compiled graph bound to this run's spec, tools and usage.

        Compiling a LangGraph ``StateGraph`` costs ~3-4 ms (it inspects every node's closure), once per
        run before; the graph's shape never depends on the spec, so one compiled graph per checkpointer
        mode is kept (:meth:`_shared_graph`) and the nodes read the run's values from a context variable
        that :class:`_BoundGraph` sets around each call (issue 6, figure 1). Checkpoints are unchanged.
        """
        binding = _RunBinding(spec=spec, tool_defs=tool_defs, routes=routes, usage=usage,
                              system_prompt=system_prompt or spec.system_prompt, llm=self.llm, tracer=self.tracer)
        return _BoundGraph(self._shared_graph(bool(spec.memory.short_term)), binding)

    def _shared_graph(self, short_term: bool) -> Any:
        """The compiled ReAct graph (checkpointed unless ``memory.short_term`` is off), built on first use.

        Rebuilt when ``self.checkpointer`` was replaced since.
        """
        checkpointer = self.checkpointer if short_term else None
        cached = self._graphs.get(short_term)
        if cached is None or cached[0] is not checkpointer:
            cached = self._graphs[short_term] = (checkpointer, self._build_graph(checkpointer))
        return cached[1]

    @staticmethod
    def _build_graph(checkpointer: BaseCheckpointSaver | None) -> Any:
        """Compile the ReAct graph; its nodes take everything run-specific from ``_BINDING``."""

        async def agent(state: AgentState) -> dict[str, Any]:
            run = _BINDING.get()
            spec, usage, tool_defs, llm, tracer = run.spec, run.usage, run.tool_defs, run.llm, run.tracer
            step = state.get("steps", 0) + 1
            final = step >= spec.limits.max_steps
            history, replaced = await fit_context(llm, tracer, spec, state["messages"], usage)  # summarise long threads
            messages = [{"role": "system", "content": run.system_prompt},
                        *convert_to_openai_messages(history)]
            with tracer.start_as_current_span("llm.call", attributes={"llm.model": spec.model.name, "llm.step": step}) as span:
                # accounted in usage, then RunLimits.max_tokens / max_cost_usd (runners._guardrails choke point)
                completion = await guarded_llm_call(
                    llm, messages, usage=usage, span=span, check=False,
                    model=spec.model.name,
                    tools=None if final or not tool_defs else tool_defs,
                    temperature=spec.model.temperature,
                    max_tokens=spec.model.max_tokens,
                    fallbacks=spec.model.fallbacks or None,
                )
                span.set_attribute("llm.tool_calls", len(completion.tool_calls))
            if (guard := current_guard()) is not None:
                guard.check_limits(usage)  # outside the span, as before: the span itself succeeded
            tool_calls = [] if final else [
                {"name": tc["function"]["name"], "args": _parse_args(tc["function"].get("arguments")),
                 "id": tc.get("id") or f"call_{step}_{i}", "type": "tool_call"}
                for i, tc in enumerate(completion.tool_calls)
            ]
            answer = AIMessage(content=completion.content or "", tool_calls=tool_calls)
            return {"messages": [*replaced, answer], "steps": step}

        async def tools(state: AgentState) -> dict[str, Any]:
            run = _BINDING.get()
            routes, usage, tracer = run.routes, run.usage, run.tracer
            last = state["messages"][-1]
            out: list[ToolMessage] = []
            for call in getattr(last, "tool_calls", []) or []:
                route = routes.get(call["name"])
                if route is None:
                    out.append(ToolMessage(content=f"Unknown tool {call['name']!r}. Available: {', '.join(routes)}",
                                           tool_call_id=call["id"], name=call["name"]))
                    continue
                # Argument values under secret-looking keys are masked: spans are stored with the Execution.
                attrs = {"tool.id": route.tool_id, "tool.name": route.name,
                         "tool.arguments": json.dumps(redact_arguments(call["args"]))[:500]}
                if (guard := current_guard()) is not None:
                    guard.before_tool(usage)  # RunLimits.max_tool_calls: the call over the limit is not made
                with tracer.start_as_current_span("tool.call", attributes=attrs) as span:
                    try:
                        async def real_call(route: _ToolRoute = route, args: dict[str, Any] = call["args"]) -> str:
                            if route.local is not None:
                                return await route.local.fn(args)
                            assert route.session is not None
                            return await route.session.call_tool(route.name, args)

                        # The choke point: limits, sandbox answers / recordings, usage accounting.
                        text = await guarded_tool_call(usage, route.tool_id, route.name, call["args"], real_call)
                    except AgentGraphError as exc:
                        span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                        if not route.fail_open:
                            raise
                        span.set_attribute("tool.fail_open", True)
                        text = (f"The tool {route.name!r} failed and was skipped: {exc.message[:500]} "
                                "Continue without it and tell the user this information is unavailable.")
                    span.set_attribute("tool.result_chars", len(text))
                out.append(ToolMessage(content=text, tool_call_id=call["id"], name=call["name"]))
            return {"messages": out}

        def route_after_agent(state: AgentState) -> str:
            last = state["messages"][-1]
            return "tools" if getattr(last, "tool_calls", None) else END

        builder = StateGraph(AgentState)
        builder.add_node("agent", agent)
        builder.add_node("tools", tools)
        builder.add_edge(START, "agent")
        builder.add_conditional_edges("agent", route_after_agent, {"tools": "tools", END: END})
        builder.add_edge("tools", "agent")
        # memory.short_term off: no checkpoints, every run starts a fresh conversation.
        return builder.compile(checkpointer=checkpointer)


@dataclass
class _RunBinding:
    """What the shared ReAct graph's nodes need from one run (set by :class:`_BoundGraph`)."""

    spec: AgentSpec
    tool_defs: list[dict[str, Any]]
    routes: dict[str, _ToolRoute]
    usage: RunUsage
    system_prompt: str
    llm: ChatModel  # the runner's, when the run started (tests swap ``runner.llm`` between runs)
    tracer: Tracer


#: The run whose graph call is executing in this context (LangGraph runs nodes in copies of the caller's
#: context, so each concurrent or nested run sees its own).
_BINDING: contextvars.ContextVar[_RunBinding] = contextvars.ContextVar("agentgraph_react_run")


class _BoundGraph:
    """A compiled graph plus one run's :class:`_RunBinding`, set around ``ainvoke`` / ``aget_state``.

    Other attributes are the compiled graph's (``get_graph``, ``checkpointer``...).
    """

    def __init__(self, graph: Any, binding: _RunBinding) -> None:
        self.graph = graph
        self.binding = binding

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        """``CompiledStateGraph.ainvoke`` with this run bound."""
        token = _BINDING.set(self.binding)
        try:
            return await self.graph.ainvoke(*args, **kwargs)
        finally:
            _BINDING.reset(token)

    async def aget_state(self, *args: Any, **kwargs: Any) -> Any:
        """``CompiledStateGraph.aget_state`` with this run bound."""
        token = _BINDING.set(self.binding)
        try:
            return await self.graph.aget_state(*args, **kwargs)
        finally:
            _BINDING.reset(token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graph, name)


def _parse_args(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        val = json.loads(raw or "{}")
    except (json.JSONDecodeError, TypeError):
        return {}
    return val if isinstance(val, dict) else {}


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content or "")


__all__ = ["AgentRunner", "AgentState", "RunOutcome", "RunUsage", "RunError"]
