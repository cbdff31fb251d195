"""Guardrail enforcement in a run (issue 7, docs/guardrails.md).

:class:`RunGuard` is built per run by ``runners._sandbox.GuardrailServices``; the
RunService makes it current (:func:`guard_scope`) around the run and the runner's
nodes find it with :func:`current_guard`. It is called:

* :meth:`RunGuard.check_input` by the RunService before the run starts (blocked topics);
* :meth:`RunGuard.check_limits` after every LLM call and :meth:`RunGuard.before_tool`
  before every tool call (``RunLimits.max_tool_calls``, ``max_tokens``, ``max_cost_usd``,
  read from the run's ``RunUsage``);
* :meth:`RunGuard.call_tool` around every tool call (sandbox answers, recordings);
* :meth:`RunGuard.finalize` on the final answer: output JSON Schema with one repair
  attempt, then blocked topics on the output.

Every agent type goes through the same hooks: :func:`guarded_llm_call` and
:func:`guarded_tool_call` are the choke points of every LLM and tool call of a run (ReAct
turns and tools, workflow steps, team merges, an external agent's remote call), and
:func:`finalize_output` applies the final-answer checks to runs whose answer is not one
ReAct conversation (workflow, team, external). A child run's guard is bound to its parent's
(:meth:`RunGuard.bind`): limits are read over the run tree, PII rules are shared.

Each refusal raises ``RunError`` with a stable code (:data:`LIMIT_CODE`,
:data:`SCHEMA_CODE`, :data:`BLOCKED_CODE`) that the RunService stores on the failed Execution.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agentgraph.errors import RunError
from agentgraph.spec import AgentSpec

from runners._pii import Redactor

LIMIT_CODE = "RUN_LIMIT_EXCEEDED"
SCHEMA_CODE = "OUTPUT_SCHEMA_INVALID"
BLOCKED_CODE = "BLOCKED_TOPIC"
#: Validation errors listed in a repair prompt or an error message (the rest are counted).
MAX_ERRORS = 10
_SPAN_ID_KEYS = frozenset({"span_id", "parent_id", "trace_id"})
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)

#: ``async hook(tool_id, operation, arguments, real_call) -> text``: wraps one tool call.
ToolHook = Callable[[str, str, dict[str, Any], Callable[[], Awaitable[str]]], Awaitable[str]]


def topic_pattern(topics: list[str]) -> re.Pattern[str] | None:
    """One regex matching any topic: case-insensitive, whole words, any whitespace between words.

    ``"credit card"`` matches "Credit  card" and "credit card's" but not "creditcard";
    ``"war"`` does not match "software". None when ``topics`` is empty.
    """
    if not topics:
        return None
    parts = [r"\s+".join(re.escape(w) for w in t.split()) for t in topics]
    # \b only works next to word characters: a topic starting/ending with punctuation uses lookarounds.
    return re.compile("|".join(rf"(?<!\w){p}(?!\w)" for p in parts), re.IGNORECASE)


def find_blocked(text: str, topics: list[str]) -> str | None:
    """The first blocked topic ``text`` mentions (as configured), else None."""
    rx = topic_pattern(topics)
    m = rx.search(text or "") if rx else None
    if m is None:
        return None
    found = " ".join(m.group(0).lower().split())
    return next((t for t in topics if " ".join(t.lower().split()) == found), found)


def validate_output(text: str, schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """Parse ``text`` as JSON (a surrounding Markdown code fence is allowed) and validate it.

    Returns:
        ``(value, errors)``: errors are ``"<path>: <message>"`` lines (``$`` is the root,
        e.g. ``$.items[0].price: -1 is less than the minimum of 0``), empty when valid.
    """
    from jsonschema import validators

    m = _FENCE.match(text or "")
    raw = m.group(1) if m else (text or "")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [f"$: the answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    cls = validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    return value, [f"{e.json_path}: {e.message}" for e in errors]


def schema_hint(schema: dict[str, Any]) -> str:
    """System-prompt instruction added when an output schema is set."""
    return ("Your final answer must be only a JSON document (no prose, no code fence) valid against this "
            f"JSON Schema:\n{json.dumps(schema, ensure_ascii=False)}")


def repair_prompt(errors: list[str], schema: dict[str, Any]) -> str:
    """User message asking the model to correct an answer that failed validation."""
    shown = "\n".join(f"- {e}" for e in errors[:MAX_ERRORS])
    more = f"\n(and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    return ("Your previous answer is not valid against the required JSON Schema:\n"
            f"{shown}{more}\nReply with only the corrected JSON document, valid against:\n"
            f"{json.dumps(schema, ensure_ascii=False)}")


@dataclass
class RunGuard:
    """The guardrails of one run (module docstring).

    Args:
        spec: the agent version being run.
        tool_hook: wraps each tool call (sandbox answers or recording), or None.
        sandbox: the run is a sandbox (test) run.
        redactor: the run's PII redactor (None: off); used for span attributes written here.
    """

    spec: AgentSpec
    tool_hook: ToolHook | None = None
    redactor: Redactor | None = None
    sandbox: bool = False  # the run is a sandbox run (its child runs are too)
    #: The run's own ``RunUsage`` (set by :meth:`bind`); each Execution stores only its own usage.
    usage: Any = None
    #: The guard of the parent run (child runs: team members, workflow agent steps, delegation).
    parent: RunGuard | None = None
    children: list[RunGuard] = field(default_factory=list)

    def bind(self, usage: Any, parent: RunGuard | None = None) -> None:
        """Attach the run's usage and, for a child run, its parent's guard.

        A child's usage then counts toward every ancestor's limits (read, never copied: the
        stored token and cost totals of each Execution stay its own, so sums are exact).
        """
        self.usage = usage
        if parent is not None:
            self.parent = parent
            parent.children.append(self)

    def tree_totals(self, usage: Any = None) -> tuple[int, float, int]:
        """``(tokens, cost_usd, tool_calls)`` of this run plus all its (finished or running) descendants."""
        own = usage if usage is not None else self.usage
        tokens = (own.prompt_tokens + own.completion_tokens) if own is not None else 0
        cost = own.cost_usd if own is not None else 0.0
        tools = own.tool_calls if own is not None else 0
        for child in self.children:
            t, c, n = child.tree_totals()
            tokens, cost, tools = tokens + t, cost + c, tools + n
        return tokens, cost, tools

    def tree_redactor(self) -> Redactor | None:
        """The redactor for what this run stores: its own plus its descendants' (their spans are in its trace)."""
        out = self.redactor
        for child in self.children:
            out = merge_redactors(out, child.tree_redactor())
        return out

    @property
    def system_hint(self) -> str | None:
        """Text appended to the system prompt (the output schema), or None."""
        schema = self.spec.guardrails.output_schema
        return schema_hint(schema) if schema is not None else None

    def check_input(self, text: str) -> None:
        """Refuse an input that mentions a blocked topic (before any LLM call).

        Raises:
            RunError: ``BLOCKED_TOPIC``.
        """
        topic = find_blocked(text, self.spec.guardrails.blocked_topics)
        if topic is not None:
            raise RunError(f"The input mentions the blocked topic {topic!r}; this agent does not handle it. "
                           "Rephrase the request, or edit guardrails.blocked_topics in the agent spec.",
                           code=BLOCKED_CODE)

    def _exceeded(self, field: str, reached: str, limit: str, whose: str = "") -> RunError:
        return RunError(f"The run exceeded limits.{field}{whose}: it reached {reached}, the limit is {limit}. Raise "
                        f"limits.{field} in the agent spec or make the task smaller.", code=LIMIT_CODE)

    def _whose(self, origin: RunGuard) -> str:
        if self is origin and not self.children:
            return ""
        return f" of {self.spec.name!r} (its child runs included)"

    def _check_own(self, usage: Any, origin: RunGuard, extra_tools: int = 0) -> None:
        lim = self.spec.limits
        tokens, cost, tools = self.tree_totals(usage)
        tools += extra_tools
        whose = self._whose(origin)
        if lim.max_tokens is not None and tokens > lim.max_tokens:
            raise self._exceeded("max_tokens", f"{tokens} tokens", f"{lim.max_tokens}", whose)
        if lim.max_cost_usd is not None and cost > lim.max_cost_usd:
            raise self._exceeded("max_cost_usd", f"{cost:.6f} USD", f"{lim.max_cost_usd:g} USD", whose)
        if lim.max_tool_calls is not None and tools > lim.max_tool_calls:
            raise self._exceeded("max_tool_calls", f"{tools} tool calls", f"{lim.max_tool_calls}", whose)

    def check_limits(self, usage: Any) -> None:
        """Fail the run when its usage so far is over a limit (after each LLM or tool call).

        The run's own limits read its usage plus its child runs'; then every ancestor's limits
        are checked the same way (a team's ``max_tokens`` bounds its members' runs too).

        Args:
            usage: the run's ``RunUsage`` (tokens, ``cost_usd``, ``tool_calls``).

        Raises:
            RunError: ``RUN_LIMIT_EXCEEDED`` naming the limit, the value reached and the spec field.
        """
        guard: RunGuard | None = self
        while guard is not None:
            guard._check_own(usage if guard is self else None, self)
            guard = guard.parent

    def before_tool(self, usage: Any) -> None:
        """Refuse the tool call that would go over ``limits.max_tool_calls`` (it is not made).

        Raises:
            RunError: ``RUN_LIMIT_EXCEEDED``.
        """
        guard: RunGuard | None = self
        while guard is not None:
            lim = guard.spec.limits.max_tool_calls
            if lim is not None:
                n = guard.tree_totals(usage if guard is self else None)[2] + 1
                if n > lim:
                    raise guard._exceeded("max_tool_calls", f"{n} tool calls", f"{lim}", guard._whose(self))
            guard = guard.parent

    async def call_tool(self, tool_id: str, operation: str, arguments: dict[str, Any],
                        real_call: Callable[[], Awaitable[str]]) -> str:
        """Make one tool call through the hook (sandbox, recording), or directly."""
        if self.tool_hook is None:
            return await real_call()
        return await self.tool_hook(tool_id, operation, arguments, real_call)

    async def finalize(self, llm: Any, tracer: Any, messages: list[dict[str, Any]], output: str,
                       usage: Any) -> str:
        """Enforce the output schema (one repair call) and blocked topics on the final answer.

        Args:
            llm: the gateway (``ChatModel``) for the repair call.
            tracer: OpenTelemetry tracer (the repair call is an ``llm.call`` span with ``llm.repair``).
            messages: the conversation as OpenAI messages, system prompt first, ending with the answer.
            output: the final answer's text.
            usage: the run's ``RunUsage`` (the repair call is added to it, then limits are checked).

        Returns:
            The answer to store: as given, or the (repaired) JSON document re-serialised.

        Raises:
            RunError: ``OUTPUT_SCHEMA_INVALID`` (naming the failing paths), ``BLOCKED_TOPIC``,
                ``RUN_LIMIT_EXCEEDED``.
        """
        schema = self.spec.guardrails.output_schema
        if schema is not None:
            value, errors = validate_output(output, schema)
            if errors:
                output = await self._repair(llm, tracer, messages, output, errors, usage)
                value, errors = validate_output(output, schema)
                if errors:
                    shown = "; ".join(errors[:MAX_ERRORS])
                    raise RunError(f"The answer does not satisfy guardrails.output_schema after one repair "
                                   f"attempt: {shown}. Make the system prompt describe the expected JSON, "
                                   "or relax the schema.", code=SCHEMA_CODE)
            output = json.dumps(value, ensure_ascii=False)
        topic = find_blocked(output, self.spec.guardrails.blocked_topics)
        if topic is not None:
            raise RunError(f"The answer mentioned the blocked topic {topic!r} and was withheld. Edit "
                           "guardrails.blocked_topics or the system prompt if this is expected.", code=BLOCKED_CODE)
        return output

    async def _repair(self, llm: Any, tracer: Any, messages: list[dict[str, Any]], output: str,
                      errors: list[str], usage: Any) -> str:
        spec = self.spec
        convo = [*messages]
        if not convo or convo[-1].get("role") != "assistant":
            convo.append({"role": "assistant", "content": output})
        convo.append({"role": "user", "content": repair_prompt(errors, spec.guardrails.output_schema or {})})
        with tracer.start_as_current_span("llm.call", attributes={"llm.model": spec.model.name,
                                                                  "llm.repair": True}) as span:
            span.set_attribute("guardrails.errors", len(errors))
            completion = await guarded_llm_call(llm, convo, usage=usage, span=span, guard=self, check=False,
                                                model=spec.model.name, temperature=spec.model.temperature,
                                                max_tokens=spec.model.max_tokens,
                                                fallbacks=spec.model.fallbacks or None)
        self.check_limits(usage)
        return completion.content or ""


def redact_outcome(redactor: Redactor | None, output: str | None, error: str | None,
                   spans: list[dict[str, Any]]) -> tuple[str | None, str | None, list[dict[str, Any]]]:
    """Output, error and spans of a run as they may be stored (PII redacted when ``redactor`` is set)."""
    if redactor is None:
        return output, error, spans
    # Span and trace ids stay as they are: an all-digit id could pass as a card number and break the tree.
    kept = [{k: v if k in _SPAN_ID_KEYS else redactor.redact_obj(v) for k, v in span.items()} for span in spans]
    return redactor.redact(output) if output else output, redactor.redact(error) if error else error, kept




# --- the run's guard, visible to the runner's nodes (LangGraph copies the context into its tasks) ---
_current_guard: contextvars.ContextVar[RunGuard | None] = contextvars.ContextVar("agentgraph_guard", default=None)


def current_guard() -> RunGuard | None:
    """The guard of the run executing in this task, or None (no guardrails)."""
    return _current_guard.get()


def in_sandbox() -> bool:
    """True inside a sandbox run (a child run started here must be a sandbox run too)."""
    guard = _current_guard.get()
    return guard is not None and guard.sandbox


@contextlib.contextmanager
def guard_scope(guard: RunGuard | None) -> Iterator[None]:
    """Make ``guard`` the current run's guard inside the block."""
    token = _current_guard.set(guard)
    try:
        yield
    finally:
        _current_guard.reset(token)


_inner_of: contextvars.ContextVar[RunGuard | None] = contextvars.ContextVar("agentgraph_inner", default=None)


@contextlib.contextmanager
def inner_step() -> Iterator[None]:
    """Inside: ReAct loops are steps of a larger answer (workflow ``llm`` steps).

    Limits, sandbox and recordings still apply to their calls; the final-answer checks
    (schema hint, output schema, blocked topics on output) wait for the run's final output.
    Scoped to the current guard, so a child run started inside gets its own final checks.
    """
    token = _inner_of.set(_current_guard.get())
    try:
        yield
    finally:
        _inner_of.reset(token)


def final_checks_apply() -> RunGuard | None:
    """The current guard when a ReAct loop here produces the run's answer (not an :func:`inner_step`), else None."""
    guard = _current_guard.get()
    return guard if guard is not None and _inner_of.get() is not guard else None


# --- the choke points: every LLM and tool call of a run, whatever its agent type ---------------------
async def guarded_llm_call(llm: Any, messages: list[dict[str, Any]], *, usage: Any, span: Any = None,
                           guard: RunGuard | None = None, check: bool = True, **kwargs: Any) -> Any:
    """One LLM call of a run: accounted once in ``usage``, then the run limits are checked.

    Args:
        llm: the gateway (``ChatModel``); ``kwargs`` go to its ``complete``.
        usage: the run's ``RunUsage`` (``llm_ms``, ``llm_calls``, tokens, ``cost_usd``, ``model``).
        span: the caller's ``llm.call`` span: gets the response model, token and cost attributes.
        guard: the run's guard (default: the current one); None and no current guard: no limits.
        check: check the limits after the call (``max_tokens``, ``max_cost_usd``).

    Returns:
        The gateway's completion.

    Raises:
        RunError: ``RUN_LIMIT_EXCEEDED`` (the call was made and counted).
        LLMError: the gateway failed.
    """
    started = time.perf_counter()
    completion = await llm.complete(messages, **kwargs)
    usage.llm_ms += (time.perf_counter() - started) * 1000
    usage.llm_calls += 1
    usage.prompt_tokens += completion.prompt_tokens
    usage.completion_tokens += completion.completion_tokens
    usage.cost_usd += completion.cost_usd
    usage.model = completion.model or usage.model
    if span is not None:
        span.set_attribute("llm.response_model", completion.model or "")
        span.set_attribute("llm.usage.prompt_tokens", completion.prompt_tokens)
        span.set_attribute("llm.usage.completion_tokens", completion.completion_tokens)
        span.set_attribute("llm.cost_usd", completion.cost_usd)
    guard = guard or _current_guard.get()
    if check and guard is not None:
        guard.check_limits(usage)
    return completion


async def guarded_tool_call(usage: Any, tool_id: str, operation: str, arguments: dict[str, Any],
                            real_call: Callable[[], Awaitable[str]]) -> str:
    """One tool call of a run (ReAct tools, workflow tool steps, an external agent's remote call).

    Refused before it is made when it would go over ``limits.max_tool_calls`` (the run's or an
    ancestor's); answered by the sandbox hook in a sandbox run (recording, else generated), else
    made for real and recorded; counted once in ``usage`` (``tool_calls``, ``tool_ms``), failed or not.

    Raises:
        RunError: ``RUN_LIMIT_EXCEEDED`` (nothing was called).
        AgentGraphError: whatever ``real_call`` raises.
    """
    guard = _current_guard.get()
    if guard is not None:
        guard.before_tool(usage)
    started = time.perf_counter()
    try:
        return await (guard.call_tool(tool_id, operation, arguments, real_call) if guard is not None
                      else real_call())
    finally:
        usage.tool_ms += (time.perf_counter() - started) * 1000
        usage.tool_calls += 1


async def finalize_output(llm: Any, tracer: Any, spec: AgentSpec, user_input: str, output: str, usage: Any) -> str:
    """Final-answer checks for runs whose answer is not one ReAct conversation (team, workflow, external).

    The repair call (when the output schema fails) sees the agent's system prompt with the
    schema hint, the input and the answer. Idempotent: a valid answer costs no call.

    Raises:
        RunError: ``OUTPUT_SCHEMA_INVALID``, ``BLOCKED_TOPIC``, ``RUN_LIMIT_EXCEEDED``.
    """
    guard = _current_guard.get()
    if guard is None:
        return output
    system = "\n\n".join(x for x in (spec.system_prompt, guard.system_hint) if x)
    convo = [{"role": "system", "content": system}, {"role": "user", "content": user_input},
             {"role": "assistant", "content": output}]
    return await guard.finalize(llm, tracer, convo, output, usage)


def merge_redactors(a: Redactor | None, b: Redactor | None) -> Redactor | None:
    """A redactor applying the rules of both (``a``'s first, duplicates by name once); None when both are None."""
    if a is None or b is None or a is b:
        return a or b
    merged = Redactor.__new__(Redactor)
    names = {r[0] for r in a.rules}
    merged.rules = [*a.rules, *(r for r in b.rules if r[0] not in names)]
    return merged


__all__ = [
    "BLOCKED_CODE",
    "LIMIT_CODE",
    "SCHEMA_CODE",
    "RunGuard",
    "ToolHook",
    "current_guard",
    "final_checks_apply",
    "finalize_output",
    "find_blocked",
    "guard_scope",
    "guarded_llm_call",
    "guarded_tool_call",
    "in_sandbox",
    "inner_step",
    "merge_redactors",
    "redact_outcome",
    "repair_prompt",
    "schema_hint",
    "topic_pattern",
    "validate_output",
]
