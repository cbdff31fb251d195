"""``agent_type: workflow`` -> a LangGraph ``StateGraph`` (issue 7).

One node per step (``agentgraph._spec_workflow.WorkflowStep``). After a step runs,
its outgoing edges are tried in declaration order and the first whose condition
holds is taken (no condition: always); a step without outgoing edges ends the run.
Step kinds:

* ``llm`` - the ReAct runner on a derived spec (the step's system prompt, model and
  tools; no thread memory): one model turn, or up to ``max_tool_rounds`` with tools.
* ``tool`` - one MCP operation called with the step's (templated) arguments.
* ``agent`` - another agent run as a child run (``runners._delegation``).

Bounds (a run stops with ``WORKFLOW_LIMIT`` naming the bound): a step's
``max_iterations``, an edge's ``max_iterations`` and the workflow's ``max_total_steps``.
No edge matching after a step that has edges stops with ``WORKFLOW_NO_ROUTE``.

The run's output is the last step's output. With a ``run_id`` the workflow state is
checkpointed after every step in its own thread ``workflow:<run_id>`` (the runner's
checkpointer, ``run_id`` in the metadata): a redelivered run (``resume=True``, see
``AgentRunner._resume``) continues after the last completed step, so finished steps
(LLM calls, tool calls, child runs) are not called again; a fresh attempt of the same
run (``resume=False``) first drops that thread and starts from the first step.
"""

from __future__ import annotations

import json
import operator
from contextlib import AsyncExitStack
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from opentelemetry.trace import Status, StatusCode

from agentgraph._spec_workflow import END as SPEC_END
from agentgraph._spec_workflow import WorkflowStep, delegate_tool_name, expression_env, parse_json
from agentgraph.errors import AgentGraphError, RunError, ToolError
from agentgraph.spec import AgentSpec, AgentType, MemoryConfig, ToolRef

from runners._delegation import SubAgents, current_run
from runners._guardrails import guarded_tool_call, inner_step
from runners._local_tools import LocalTool
from runners._runner import RunOutcome, RunUsage
from runners._toolhub_config import redact_arguments


class WorkflowError(RunError):
    """A workflow stopped: a loop bound was hit (``WORKFLOW_LIMIT``) or no edge matched (``WORKFLOW_NO_ROUTE``)."""

    code = "WORKFLOW_LIMIT"


class WorkflowState(TypedDict):
    """LangGraph state of a workflow run (outputs by step id, counters for the bounds)."""

    input: str
    output: str
    steps: Annotated[dict[str, str], operator.or_]
    iterations: Annotated[dict[str, int], operator.or_]
    edges: Annotated[dict[str, int], operator.or_]
    total: Annotated[int, operator.add]
    next: str


def template_vars(state: WorkflowState) -> dict[str, Any]:
    """Variables of templates and conditions (``agentgraph._spec_workflow`` docstring)."""
    steps = dict(state.get("steps") or {})
    return {"input": state["input"], "output": state.get("output") or "", "json": parse_json(state.get("output")),
            "steps": steps, "steps_json": {k: parse_json(v) for k, v in steps.items()},
            "iterations": dict(state.get("iterations") or {})}


def render(template: str, variables: dict[str, Any]) -> str:
    """Render a sandboxed Jinja2 template.

    Raises:
        WorkflowError: the template fails at run time (e.g. refused attribute access).
    """
    try:
        return expression_env().from_string(template).render(**variables)
    except Exception as exc:  # jinja2 SecurityError, TypeError on bad data...
        raise WorkflowError(f"Template {template[:80]!r} failed: {exc}", code="WORKFLOW_TEMPLATE") from exc


def holds(condition: str, variables: dict[str, Any]) -> bool:
    """Evaluate an edge condition (sandboxed Jinja2 expression) to a bool.

    Raises:
        WorkflowError: the expression fails at run time.
    """
    try:
        return bool(expression_env().compile_expression(condition)(**variables))
    except Exception as exc:
        raise WorkflowError(f"Condition {condition!r} failed: {exc}", code="WORKFLOW_CONDITION") from exc


class WorkflowRunner:
    """Type runner of ``workflow`` agents (``AgentRunner.type_runners['workflow']``).

    Args:
        subs: child runs for ``agent`` steps.
    """

    def __init__(self, subs: SubAgents) -> None:
        self.subs = subs

    async def __call__(self, runner: Any, spec: AgentSpec, user_input: str, *, thread_key: str,
                       tool_urls: dict[str, str], usage: RunUsage, local_tools: list[LocalTool],
                       tenant_id: str | None = None, run_id: str | None = None, resume: bool = False) -> RunOutcome:
        """Run the workflow of ``spec`` on ``user_input`` (module docstring).

        Raises:
            WorkflowError: a bound was hit or no edge matched.
            ToolError / LLMError / ChildRunError: a step failed.
        """
        assert spec.workflow is not None
        ctx = current_run(run_id)
        async with AsyncExitStack() as stack:
            sessions: dict[str, dict[str, Any]] = {}  # tool id -> routes, opened on first use

            async def run_step(step: WorkflowStep, variables: dict[str, Any]) -> str:
                default = "{{ output if output else input }}"
                prompt = render(step.prompt or default, variables)
                if step.kind == "agent":
                    assert step.agent_id is not None
                    return (await self.subs.run_child(ctx, step.agent_id, prompt)).output or ""
                if step.kind == "tool":
                    return await self._tool(runner, spec, step, variables, tool_urls, stack, sessions, usage,
                                            tenant_id)
                sub = _step_spec(spec, step, render(step.system_prompt, variables) if step.system_prompt else None)
                wanted = set(step.tools)
                local = [lt for lt in local_tools if lt.name in wanted]
                with inner_step():  # limits and sandbox apply; the output checks wait for the workflow's output
                    out = await runner._run(sub, prompt, f"{thread_key}:{step.id}", tool_urls, usage, local,
                                            tenant_id, None, False)
                return out.output

            saver = getattr(runner, "checkpointer", None) if run_id else None
            graph = self._compile(runner, spec, run_step, saver)
            config: dict[str, Any] = {"recursion_limit": spec.workflow.max_total_steps + 5}
            state = None
            if saver is not None:  # one checkpoint thread per run, after each completed step
                config["configurable"] = {"thread_id": f"workflow:{run_id}"}
                config["metadata"] = {"run_id": run_id}
                if resume:  # redelivered: continue after the last completed step (None: nothing saved yet)
                    state = await runner._resume(graph, config, run_id)
                else:  # a fresh attempt must not add to the counters of an earlier one (reducers merge/add)
                    await _forget(saver, config["configurable"]["thread_id"])
            if state is None:
                state = await graph.ainvoke(
                    {"input": user_input, "output": "", "steps": {}, "iterations": {}, "edges": {}, "total": 0,
                     "next": ""}, config)
        return RunOutcome(output=state.get("output") or "", usage=usage, messages=int(state.get("total") or 0))

    def _compile(self, runner: Any, spec: AgentSpec, run_step: Any, checkpointer: Any = None) -> Any:
        wf = spec.workflow
        assert wf is not None
        tracer = runner.tracer
        builder = StateGraph(WorkflowState)

        def node(step: WorkflowStep) -> Any:
            async def fn(state: WorkflowState) -> dict[str, Any]:
                n = (state.get("iterations") or {}).get(step.id, 0) + 1
                if step.max_iterations is not None and n > step.max_iterations:
                    raise WorkflowError(f"Workflow stopped: step {step.id!r} would run a {_nth(n)} time, over its "
                                        f"max_iterations of {step.max_iterations}. Raise it or change the loop's "
                                        "exit condition.")
                if (state.get("total") or 0) + 1 > wf.max_total_steps:
                    raise WorkflowError(f"Workflow stopped: more than max_total_steps={wf.max_total_steps} steps ran.")
                attrs = {"workflow.step": step.id, "workflow.kind": step.kind, "workflow.iteration": n}
                with tracer.start_as_current_span("workflow.step", attributes=attrs) as span:
                    try:
                        output = await run_step(step, template_vars(state))
                    except AgentGraphError as exc:
                        span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                        raise
                    after = {**state, "output": output, "steps": {**(state.get("steps") or {}), step.id: output}}
                    target, edge_key = self._route(step.id, wf, after, state.get("edges") or {})
                    span.set_attribute("workflow.next", target)
                edges = {edge_key: (state.get("edges") or {}).get(edge_key, 0) + 1} if edge_key else {}
                return {"output": output, "steps": {step.id: output}, "iterations": {step.id: n}, "edges": edges,
                        "total": 1, "next": target}
            return fn

        for step in wf.steps:
            builder.add_node(step.id, node(step))
            targets = sorted({e.to for e in wf.outgoing(step.id)} | {SPEC_END})
            builder.add_conditional_edges(step.id, _read_next,
                                          {t: (END if t == SPEC_END else t) for t in targets})
        builder.add_edge(START, wf.start_id)
        return builder.compile(checkpointer=checkpointer)

    @staticmethod
    def _route(step_id: str, wf: Any, state: dict[str, Any], taken: dict[str, int]) -> tuple[str, str | None]:
        """Next step id (or ``END``) and the key of the edge taken; applies edge bounds."""
        edges = wf.outgoing(step_id)
        if not edges:
            return SPEC_END, None
        variables = template_vars(state)  # type: ignore[arg-type]
        for i, e in enumerate(edges):
            if e.condition is None or holds(e.condition, variables):
                key = f"{step_id}->{e.to}#{i}"
                n = taken.get(key, 0) + 1
                if e.max_iterations is not None and n > e.max_iterations:
                    raise WorkflowError(f"Workflow stopped: edge {step_id} -> {e.to} would be taken a {_nth(n)} "
                                        f"time, over its max_iterations of {e.max_iterations}. Raise it or change "
                                        "the loop's exit condition.")
                return e.to, key
        conds = "; ".join(e.condition or "" for e in edges)
        raise WorkflowError(f"Workflow stopped after step {step_id!r}: no edge condition matched ({conds}). Add an "
                            "edge without a condition as the default.", code="WORKFLOW_NO_ROUTE")

    @staticmethod
    async def _tool(runner: Any, spec: AgentSpec, step: WorkflowStep, variables: dict[str, Any],
                    tool_urls: dict[str, str], stack: AsyncExitStack, sessions: dict[str, dict[str, Any]],
                    usage: RunUsage, tenant_id: str | None) -> str:
        assert step.tool and step.operation
        if step.tool not in sessions:
            ref = next(t for t in spec.tools if t.tool_id == step.tool)
            one = spec.model_copy(update={"tools": [ToolRef(tool_id=ref.tool_id, on_failure="fail_closed")]})
            _, routes, _ = await runner._open_tools(one, tool_urls, stack, tenant_id)
            sessions[step.tool] = routes
        route = sessions[step.tool].get(step.operation)
        if route is None:
            raise ToolError(f"Tool {step.tool!r} has no operation {step.operation!r}; it offers "
                            f"{sorted(sessions[step.tool])}. Fix step {step.id!r}.")
        args = {k: render(v, variables) if isinstance(v, str) else v for k, v in step.arguments.items()}
        attrs = {"tool.id": route.tool_id, "tool.name": route.name,
                 "tool.arguments": json.dumps(redact_arguments(args))[:500]}
        with runner.tracer.start_as_current_span("tool.call", attributes=attrs) as span:
            try:  # the run's choke point: limits.max_tool_calls, sandbox answers / recordings, usage
                text = await guarded_tool_call(usage, route.tool_id, route.name, args,
                                               lambda: route.session.call_tool(route.name, args))
            except AgentGraphError as exc:
                span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                raise
            span.set_attribute("tool.result_chars", len(text))
        return text


async def _forget(saver: Any, thread_id: str) -> None:
    """Drop the checkpoints of ``thread_id`` (best effort: a saver without deletes keeps them)."""
    delete = getattr(saver, "adelete_thread", None)
    if delete is not None:
        try:
            await delete(thread_id)
        except NotImplementedError:
            pass


def _read_next(state: WorkflowState) -> str:
    return state.get("next") or SPEC_END


def _nth(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _step_spec(spec: AgentSpec, step: WorkflowStep, system_prompt: str | None) -> AgentSpec:
    """The ReAct spec of an ``llm`` step: its prompt, model and tools; no thread memory."""
    model = spec.model.model_copy(update={"name": step.model, "fallbacks": []}) if step.model else spec.model
    delegates = {delegate_tool_name(d.agent_id) for d in spec.delegates}
    return spec.model_copy(update={
        "agent_type": AgentType.react, "workflow": None, "system_prompt": system_prompt or spec.system_prompt,
        "model": model, "tools": [t for t in spec.tools if t.tool_id in step.tools and t.tool_id not in delegates],
        "memory": MemoryConfig(short_term=False),
        "limits": spec.limits.model_copy(update={"max_steps": step.max_tool_rounds if step.tools else 1}),
    })


__all__ = ["WorkflowRunner", "WorkflowError", "WorkflowState", "render", "holds", "template_vars"]
