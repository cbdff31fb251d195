"""``agent_type: team`` -> a LangGraph graph over member agents (issue 7).

Members are other agents of the tenant (their active versions); each member run is a
child run (``runners._delegation``): its own Execution with ``parent_id``, its spans
nested under a ``team.member`` span of the team's run.

* ``sequential`` - nodes in member order; each gets the previous member's output
  (the first gets the run's input); the last output is the answer.
* ``parallel`` - fan-out from START to every member (LangGraph runs them in one
  superstep, concurrently), fan-in to ``aggregate``: ``concat`` puts the outputs under
  ``### <member>`` headings in member order; ``llm`` asks the team's model to merge them
  (``team.aggregate_prompt``).
* ``supervisor`` - the team's own ReAct loop (its system prompt and model) with a
  handoff tool ``transfer_to_<member>`` per member (LangGraph-style handoffs): each call
  runs that member on the task given and returns its answer to the supervisor, until the
  supervisor answers (at most ``limits.max_steps`` turns).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from opentelemetry.trace import Status, StatusCode

from agentgraph._spec_workflow import delegate_tool_name
from agentgraph.errors import AgentGraphError
from agentgraph.spec import AgentSpec, MemoryConfig

from runners._delegation import SubAgents, current_run
from runners._local_tools import LocalTool, RunContext
from runners._runner import RunOutcome, RunUsage


class TeamState(TypedDict):
    """LangGraph state of a team run: the text handed on, and each member's output."""

    input: str
    text: str
    outputs: Annotated[dict[str, str], operator.or_]


class TeamRunner:
    """Type runner of ``team`` agents (``AgentRunner.type_runners['team']``).

    Args:
        subs: child runs of the members.
    """

    def __init__(self, subs: SubAgents) -> None:
        self.subs = subs

    async def __call__(self, runner: Any, spec: AgentSpec, user_input: str, *, thread_key: str,
                       tool_urls: dict[str, str], usage: RunUsage, local_tools: list[LocalTool],
                       tenant_id: str | None = None, run_id: str | None = None, resume: bool = False) -> RunOutcome:
        """Run the team of ``spec`` on ``user_input`` (module docstring).

        Raises:
            ChildRunError: a member run failed.
            DelegationError: nesting too deep or a cycle.
            LLMError: the supervisor's or the merge's model call failed.
        """
        assert spec.team is not None
        ctx = current_run(run_id)
        team = spec.team
        if team.pattern == "supervisor":
            handoffs = [await self._handoff(ctx, m) for m in team.members]
            return await runner._run(spec, user_input, thread_key, tool_urls, usage, [*local_tools, *handoffs],
                                     tenant_id, run_id, resume)
        builder = StateGraph(TeamState)
        names = [f"m{i}_{m}"[:60] for i, m in enumerate(team.members)]
        for name, member in zip(names, team.members, strict=True):
            builder.add_node(name, self._member_node(runner, ctx, member, parallel=team.pattern == "parallel"))
        if team.pattern == "sequential":
            builder.add_edge(START, names[0])
            for a, b in zip(names, names[1:], strict=False):
                builder.add_edge(a, b)
            builder.add_edge(names[-1], END)
        else:
            for name in names:
                builder.add_edge(START, name)
            builder.add_node("aggregate", self._aggregate_node(runner, spec, thread_key, tool_urls, usage,
                                                               tenant_id))
            builder.add_edge(names, "aggregate")
            builder.add_edge("aggregate", END)
        state = await builder.compile().ainvoke({"input": user_input, "text": user_input, "outputs": {}},
                                                {"recursion_limit": len(names) + 5})
        return RunOutcome(output=state["text"], usage=usage, messages=len(state["outputs"]))

    def _member_node(self, runner: Any, ctx: RunContext, member: str, *, parallel: bool) -> Any:
        async def fn(state: TeamState) -> dict[str, Any]:
            given = state["input"] if parallel else state["text"]
            with runner.tracer.start_as_current_span("team.member", attributes={"team.member": member}) as span:
                try:
                    child = await self.subs.run_child(ctx, member, given)
                except AgentGraphError as exc:
                    span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                    raise
                span.set_attribute("team.child_run", child.id)
            out = child.output or ""
            return {"outputs": {member: out}} if parallel else {"text": out, "outputs": {member: out}}
        return fn

    @staticmethod
    def _aggregate_node(runner: Any, spec: AgentSpec, thread_key: str, tool_urls: dict[str, str], usage: RunUsage,
                        tenant_id: str | None) -> Any:
        assert spec.team is not None
        team = spec.team

        async def fn(state: TeamState) -> dict[str, Any]:
            parts = [f"### {m}\n{state['outputs'].get(m, '')}" for m in team.members]
            if team.aggregate == "concat":
                return {"text": "\n\n".join(parts)}
            merge = spec.model_copy(update={"tools": [], "memory": MemoryConfig(short_term=False),
                                            "limits": spec.limits.model_copy(update={"max_steps": 1})})
            prompt = f"{team.aggregate_prompt}\n\nRequest: {state['input']}\n\n" + "\n\n".join(parts)
            with runner.tracer.start_as_current_span("team.aggregate", attributes={"team.members": len(parts)}):
                out = await runner._run(merge, prompt, f"{thread_key}:merge", tool_urls, usage, [], tenant_id,
                                        None, False)
            return {"text": out.output}
        return fn

    async def _handoff(self, ctx: RunContext, member: str) -> LocalTool:
        description = await self.subs.describe(ctx.tenant_id, member)

        async def transfer(args: dict[str, Any]) -> str:
            task = str(args.get("task") or args.get("request") or "").strip()
            if not task:
                return "Give `task`: what the member agent should do, self-contained."
            child = await self.subs.run_child(ctx, member, task)
            return child.output or ""

        return LocalTool(
            name=delegate_tool_name(member, "transfer_to_"), kind="handoff",
            description=f"Hand a task to the team member {member!r}: {description}"[:400],
            parameters={"type": "object", "properties": {"task": {
                "type": "string", "description": "The task for that member, self-contained."}}, "required": ["task"]},
            fn=transfer, attributes={"agent_id": member})


__all__ = ["TeamRunner", "TeamState"]
