"""AgentSpec sections for workflows, multi-agent teams and delegation (issue 7).

* :class:`WorkflowSpec` - ``agent_type: workflow``: steps (``llm`` | ``tool`` | ``agent``)
  joined by edges with optional conditions and bounded loops; compiled to a LangGraph
  ``StateGraph`` by ``runners._workflow``.
* :class:`TeamSpec` - ``agent_type: team``: members (other agents of the tenant) run as
  a ``sequential`` pipeline, ``parallel`` fan-out/fan-in, or under a ``supervisor``
  that hands off to them (``runners._team``).
* :class:`DelegateRef` - ``delegates``: agents any agent may call as a tool ``ask_<agent>``
  (``runners._delegation``).

Templates (step prompts, tool arguments) and edge conditions use Jinja2's
*sandboxed* environment (no Python ``eval``; attribute access to internals is
refused). Variables: ``input`` (the run's input), ``output`` (the last step's output
text), ``json`` (that output parsed as JSON, ``{}`` when it is not JSON), ``steps``
(step id -> output text), ``steps_json`` (step id -> parsed JSON) and ``iterations``
(step id -> times run). Functions: ``contains(text, needle)`` and
``equals(a, b)`` (both case-insensitive for strings). Examples::

    contains(output, "billing")
    json.category == "billing" and json.confidence >= 0.5
    not equals(output, "done")
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Literal

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

END = "END"
STEPS_MAX = 24
EDGES_MAX = 64
MEMBERS_MAX = 8
DELEGATES_MAX = 8
_ID = r"^[a-z][a-z0-9_-]{0,39}$"
#: Variables a template or condition may read (module docstring).
VARIABLES = frozenset({"input", "output", "json", "steps", "steps_json", "iterations"})
FUNCTIONS = frozenset({"contains", "equals"})


def _norm(v: Any) -> Any:
    return v.strip().lower() if isinstance(v, str) else v


def _contains(text: Any, needle: Any) -> bool:
    if isinstance(text, (list, tuple, dict)):
        return needle in text
    return str(_norm(needle)) in str(_norm(text) if text is not None else "")


def _equals(a: Any, b: Any) -> bool:
    return _norm(a) == _norm(b)


@lru_cache(maxsize=1)
def expression_env() -> ImmutableSandboxedEnvironment:
    """The sandboxed Jinja2 environment of templates and conditions (module docstring)."""
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    env.globals.update(contains=_contains, equals=_equals)
    return env


def _check_names(source: str, what: str) -> None:
    """Raise ValueError when ``source`` reads a variable that does not exist."""
    env = expression_env()
    try:
        unknown = meta.find_undeclared_variables(env.parse(source)) - VARIABLES - FUNCTIONS
    except TemplateSyntaxError as exc:
        raise ValueError(f"{what} does not parse: {exc.message}") from exc
    if unknown:
        raise ValueError(f"{what} uses unknown name(s) {sorted(unknown)}; available: "
                         f"{sorted(VARIABLES)} and functions {sorted(FUNCTIONS)}")


def check_condition(expr: str) -> str:
    """Validate an edge condition (syntax and names). Returns it stripped.

    Raises:
        ValueError: it does not parse or reads unknown names.
    """
    expr = expr.strip()
    try:
        expression_env().compile_expression(expr)
    except TemplateSyntaxError as exc:
        raise ValueError(f"condition {expr!r} does not parse: {exc.message}") from exc
    _check_names("{{ " + expr + " }}", f"condition {expr!r}")
    return expr


def check_template(text: str) -> str:
    """Validate a template (syntax and names). Returns it unchanged.

    Raises:
        ValueError: it does not parse or reads unknown names.
    """
    _check_names(text, "template")
    return text


def parse_json(text: str | None) -> Any:
    """``text`` parsed as JSON (also inside a fenced ```json block), else ``{}``."""
    if not text:
        return {}
    s = text.strip()
    m = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if m:
        s = m.group(1).strip()
    try:
        return json.loads(s)
    except (json.JSONDecodeError, ValueError):
        return {}


class WorkflowStep(BaseModel):
    """One node of a workflow.

    Kinds: ``llm`` (a model turn - with ``tools``, a bounded tool loop), ``tool`` (one
    tool operation called with templated ``arguments``), ``agent`` (another agent of
    the tenant run as a child run with the rendered ``prompt`` as its input).
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(..., pattern=_ID, description="Step id (lower-case, digits, '-' or '_'); 'END' is reserved.")
    kind: Literal["llm", "tool", "agent"] = "llm"
    prompt: str = Field("", max_length=4000, description=(
        "Jinja2 template of the step's input (llm: user message; agent: the child's input). "
        "Empty: the last step's output, or the run's input for the first step."))
    system_prompt: str | None = Field(None, max_length=2000, description="llm: instead of the agent's system prompt.")
    tools: list[str] = Field(default_factory=list, max_length=8,
                             description="llm: tool ids (from the agent's tools) this step may call.")
    model: str | None = Field(None, max_length=128, description="llm: model for this step (default: the agent's).")
    max_tool_rounds: int = Field(4, ge=1, le=20, description="llm with tools: most model turns in the step.")
    tool: str | None = Field(None, max_length=64, description="tool: the tool id (one of the agent's tools).")
    operation: str | None = Field(None, max_length=128, description="tool: the operation (MCP tool name) to call.")
    arguments: dict[str, Any] = Field(default_factory=dict,
                                      description="tool: arguments; string values are Jinja2 templates.")
    agent_id: str | None = Field(None, max_length=64, description="agent: the agent to run as a child run.")
    max_iterations: int | None = Field(None, ge=1, le=50, description="Most times this step may run in one run.")

    @field_validator("prompt", "system_prompt")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        return check_template(v) if v else v

    @model_validator(mode="after")
    def _kind_fields(self) -> "WorkflowStep":
        if self.kind == "tool" and not (self.tool and self.operation):
            raise ValueError(f"step {self.id!r}: a tool step needs 'tool' (a tool id) and 'operation'")
        if self.kind == "agent" and not self.agent_id:
            raise ValueError(f"step {self.id!r}: an agent step needs 'agent_id'")
        for k, v in self.arguments.items():
            if isinstance(v, str):
                check_template(v)
        return self


class WorkflowEdge(BaseModel):
    """A transition ``from`` -> ``to`` (a step id or ``END``), taken when ``condition`` holds.

    After a step, its outgoing edges are tried in order; the first whose condition is
    true (no condition: always) is taken. A step without outgoing edges ends the run.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    source: str = Field(..., alias="from", max_length=40)
    to: str = Field(..., max_length=40)
    condition: str | None = Field(None, max_length=400, description="Sandboxed Jinja2 expression (module docstring).")
    max_iterations: int | None = Field(None, ge=1, le=50, description="Most times this edge may be taken in one run.")

    @field_validator("condition")
    @classmethod
    def _condition(cls, v: str | None) -> str | None:
        return check_condition(v) if v and v.strip() else None


class WorkflowSpec(BaseModel):
    """A multi-step graph (see module docstring). ``start`` defaults to the first step."""

    model_config = ConfigDict(extra="forbid")

    steps: list[WorkflowStep] = Field(..., min_length=1, max_length=STEPS_MAX)
    edges: list[WorkflowEdge] = Field(default_factory=list, max_length=EDGES_MAX)
    start: str | None = Field(None, max_length=40)
    max_total_steps: int = Field(50, ge=1, le=500, description="Most step executions in one run (all steps).")

    def outgoing(self, step_id: str) -> list[WorkflowEdge]:
        """Edges leaving ``step_id``, in declaration order."""
        return [e for e in self.edges if e.source == step_id]

    @property
    def start_id(self) -> str:
        """Id of the first step run."""
        return self.start or self.steps[0].id

    @model_validator(mode="after")
    def _graph(self) -> "WorkflowSpec":
        validate_workflow_graph(self)
        return self


def validate_workflow_graph(wf: WorkflowSpec) -> None:
    """Check ids, reachability, a path to END from every step, and that every loop is bounded.

    A loop is bounded when it passes through a step or an edge with ``max_iterations``.

    Raises:
        ValueError: naming the offending step, edge or loop.
    """
    ids = [s.id for s in wf.steps]
    if len(ids) != len(set(ids)):
        raise ValueError(f"step ids must be unique, got {ids}")
    if END.lower() in ids:
        raise ValueError("'end' is reserved; rename that step")
    known = set(ids)
    if wf.start is not None and wf.start not in known:
        raise ValueError(f"start {wf.start!r} is not a step id; steps: {ids}")
    for e in wf.edges:
        if e.source not in known:
            raise ValueError(f"edge from unknown step {e.source!r}; steps: {ids}")
        if e.to != END and e.to not in known:
            raise ValueError(f"edge {e.source} -> {e.to}: unknown step {e.to!r}; steps: {ids} or {END!r}")
    succ: dict[str, list[str]] = {i: [] for i in ids}
    for e in wf.edges:
        succ[e.source].append(e.to)
    seen, todo = {wf.start_id}, [wf.start_id]
    while todo:
        for n in succ.get(todo.pop(), []):
            if n != END and n not in seen:
                seen.add(n)
                todo.append(n)
    unreachable = [i for i in ids if i not in seen]
    if unreachable:
        raise ValueError(f"step(s) {unreachable} cannot be reached from the start step {wf.start_id!r}; "
                         "add an edge to them or remove them")
    ends = {i for i in ids if not succ[i] or END in succ[i]}  # no outgoing edge: the run ends there
    changed = True
    while changed:
        changed = False
        for i in ids:
            if i not in ends and any(n in ends for n in succ[i]):
                ends.add(i)
                changed = True
    stuck = [i for i in ids if i not in ends]
    if stuck:
        raise ValueError(f"step(s) {stuck} have no path to END; add an edge to END (or a step that ends)")
    # Every cycle must pass a bounded step or a bounded edge: drop those, the rest must be acyclic.
    bounded_steps = {s.id for s in wf.steps if s.max_iterations}
    free: dict[str, list[str]] = {i: [] for i in ids if i not in bounded_steps}
    for e in wf.edges:
        if e.max_iterations is None and e.source in free and e.to in free:
            free[e.source].append(e.to)
    cycle = _find_cycle(free)
    if cycle:
        raise ValueError(f"loop {' -> '.join(cycle)} has no bound; set max_iterations on one of its steps or edges")


def _find_cycle(succ: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in succ.get(n, []):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in succ:
        if n not in state and (found := visit(n)):
            return found
    return None


class TeamSpec(BaseModel):
    """A multi-agent team of existing agents (their active versions) in the same tenant.

    * ``sequential``: each member's output is the next member's input; the last answers.
    * ``parallel``: members run concurrently on the same input, then ``aggregate``
      (``concat``: their outputs under headings; ``llm``: the team's model merges them).
    * ``supervisor``: the team's own model (its system prompt) hands off to members
      through ``transfer_to_<member>`` tools until it answers (at most ``limits.max_steps`` turns).
    """

    model_config = ConfigDict(extra="forbid")

    pattern: Literal["sequential", "parallel", "supervisor"]
    members: list[str] = Field(..., min_length=1, max_length=MEMBERS_MAX, description="Agent ids.")
    aggregate: Literal["concat", "llm"] = Field("concat", description="parallel: how outputs are merged.")
    aggregate_prompt: str = Field("Merge the answers below into one answer to the request.", max_length=2000,
                                  description="parallel + llm: instruction for the merge.")

    @field_validator("members")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(v) != len(set(v)):
            raise ValueError(f"team members must be distinct, got {v}")
        return v


class DelegateRef(BaseModel):
    """Another agent this agent may call as the tool ``ask_<agent_id>`` (a nested child run)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(..., min_length=1, max_length=64)
    description: str = Field("", max_length=400, description="When to ask it (shown to the model).")


def delegate_tool_name(agent_id: str, prefix: str = "ask_") -> str:
    """Function name of a delegate / handoff tool: ``ask_<agent>`` within ``[a-zA-Z0-9_-]{1,64}``."""
    return (prefix + re.sub(r"[^a-zA-Z0-9_-]+", "_", agent_id))[:64]


def referenced_agents(spec: Any) -> list[str]:
    """Agent ids a spec runs as child runs (team members, workflow agent steps, delegates), in order, distinct."""
    ids = [*(spec.team.members if spec.team else []),
           *(s.agent_id for s in (spec.workflow.steps if spec.workflow else []) if s.kind == "agent" and s.agent_id),
           *(d.agent_id for d in spec.delegates)]
    return list(dict.fromkeys(ids))


def check_multi_agent(spec: Any) -> None:
    """Cross-field rules of an AgentSpec for workflows, teams and delegates.

    Raises:
        ValueError: the type and its section disagree, or a step references a tool the agent lacks.
    """
    kind = getattr(spec.agent_type, "value", spec.agent_type)
    if kind == "workflow" and spec.workflow is None:
        raise ValueError("agent_type 'workflow' needs a 'workflow' section (steps and edges)")
    if kind == "team" and spec.team is None:
        raise ValueError("agent_type 'team' needs a 'team' section (pattern and members)")
    if spec.workflow is not None and kind != "workflow":
        raise ValueError("a 'workflow' section needs agent_type 'workflow'")
    if spec.team is not None and kind != "team":
        raise ValueError("a 'team' section needs agent_type 'team'")
    if spec.workflow is not None:
        have = set(spec.tool_ids)
        asks = {delegate_tool_name(d.agent_id) for d in spec.delegates}
        for s in spec.workflow.steps:
            missing = [t for t in s.tools if t not in have | asks] + [t for t in [s.tool] if t and t not in have]
            if missing:
                raise ValueError(f"step {s.id!r} uses tool(s) {missing} that are not in the agent's tools "
                                 f"{sorted(have)} nor its delegates {sorted(asks)}")
    ids = [d.agent_id for d in spec.delegates]
    if len(ids) != len(set(ids)):
        raise ValueError(f"delegates must be distinct, got {ids}")


__all__ = ["WorkflowSpec", "WorkflowStep", "WorkflowEdge", "TeamSpec", "DelegateRef", "END", "check_multi_agent",
           "delegate_tool_name", "expression_env", "parse_json", "referenced_agents"]
