"""Multi-LLM comparison: the same input against 2-4 models at once, streamed, measured and scored.

Each column streams its answer (``ChatModel.stream``; the metered gateway meters and
budgets every call) and records latency, time to first token (TTFT), tokens in/out
and cost (LiteLLM ``response_cost``). Then it is scored:

* **judge**: an LLM (``judge_model``, configurable) grades the answer 0-10 against a
  rubric and answers JSON ``{"score", "reason"}``; normalised to 0-1.
* **checks** (deterministic, when asked): the share of ``expected_keywords`` found
  (case-insensitive) and, with an ``output_schema``, whether the answer is JSON valid
  against it (``jsonschema``); their mean is the check score.

``score`` = mean of judge and checks when both exist, else whichever exists. The
summary names the fastest (lowest latency), cheapest (lowest cost) and best scored
(ties: cheaper, then faster). Agent mode uses the agent's system prompt and sampling
settings for every column; tools are not called (a comparison measures the model).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import jsonschema

from agentgraph.budgets import CallScope
from agentgraph.errors import AgentGraphError, UserError
from agentgraph.gateway import ChatModel, astream
from agentgraph.metering import call_scope
from agentgraph.spec import AgentSpec
from graph import AgentRepository, ComparisonRecord, ComparisonRepository

MIN_MODELS, MAX_MODELS = 2, 4
DEFAULT_RUBRIC = "Correct, complete and concise answer to the task; no invented facts."
_SCORE = re.compile(r'"score"\s*:\s*"?(\d+(?:\.\d+)?)')

Emit = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class CompareRequest:
    """What to compare.

    Attributes:
        models: 2-4 distinct gateway model names.
        input: the user message every column receives.
        system_prompt: optional system message (the agent's, in agent mode).
        agent_id: set in agent mode (stored with the comparison).
        temperature / max_tokens: sampling settings for every column.
        judge_model: model that scores answers (``None``: no judge).
        rubric: what the judge looks for.
        expected_keywords / output_schema: deterministic checks (optional).
    """

    models: list[str]
    input: str
    system_prompt: str | None = None
    agent_id: str | None = None
    temperature: float | None = 0.2
    max_tokens: int | None = 512
    judge_model: str | None = "default"
    rubric: str = DEFAULT_RUBRIC
    expected_keywords: list[str] = field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    #: Agent mode: ``await agent_run(model) -> Execution`` runs the whole agent (tools
    #: included) on one model; columns then show the stored run instead of a stream.
    agent_run: Callable[[str], Awaitable[Any]] | None = field(default=None, repr=False)

    def validate(self) -> "CompareRequest":
        """Raises UserError saying what to change."""
        if not MIN_MODELS <= len(self.models) <= MAX_MODELS:
            raise UserError(f"Compare {MIN_MODELS} to {MAX_MODELS} models; got {len(self.models)}.")
        if len(set(self.models)) != len(self.models):
            raise UserError("Each model may appear once in a comparison; remove the duplicates.")
        if not self.input.strip():
            raise UserError("The comparison input is empty; type what every model should answer.")
        return self

    @property
    def messages(self) -> list[dict[str, Any]]:
        """OpenAI-format messages every column receives."""
        sys = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*sys, {"role": "user", "content": self.input}]


@dataclass
class ColumnResult:
    """One model's answer and figures (times in ms, cost in USD, scores in 0-1)."""

    model: str
    output: str = ""
    error: str | None = None
    answered_by: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    judge_score: float | None = None
    judge_reason: str | None = None
    check_score: float | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    execution_id: str | None = None  # agent mode: the stored run behind this column


@dataclass
class ComparisonOutcome:
    """Columns in request order plus the summary ``{"fastest", "cheapest", "best", "line"}``."""

    columns: list[ColumnResult]
    summary: dict[str, Any]

    def results(self) -> list[dict[str, Any]]:
        """Columns as plain dicts (stored as JSON)."""
        return [asdict(c) for c in self.columns]


class Comparator:
    """Runs comparisons (see module docstring).

    Args:
        llm: the gateway (metered in the platform).
    """

    def __init__(self, llm: ChatModel) -> None:
        self.llm = llm

    async def run(self, req: CompareRequest, emit: Emit | None = None) -> ComparisonOutcome:
        """Stream every column concurrently, score them, summarise.

        ``emit`` receives ``{"type": "delta", "index", "model", "text"}`` while answers
        stream, ``{"type": "column", "index", "model", "result"}`` per scored column and
        ``{"type": "summary", "summary"}`` at the end.

        Raises:
            UserError: invalid request. Column failures (including ``BUDGET_EXCEEDED``)
                are reported in that column's ``error``, not raised.
        """
        req.validate()

        async def noop(_: dict[str, Any]) -> None:
            return None

        out = emit or noop
        columns = await asyncio.gather(*(self._column(i, m, req, out) for i, m in enumerate(req.models)))
        await asyncio.gather(*(self._score(i, c, req, out) for i, c in enumerate(columns)))
        summary = summarise(columns)
        await out({"type": "summary", "summary": summary})
        return ComparisonOutcome(columns=list(columns), summary=summary)

    async def _column(self, index: int, model: str, req: CompareRequest, emit: Emit) -> ColumnResult:
        if req.agent_run is not None:
            return await self._agent_column(index, model, req, emit)
        col = ColumnResult(model=model)
        parts: list[str] = []
        try:
            async for ev in astream(self.llm, req.messages, model=model, temperature=req.temperature,
                                    max_tokens=req.max_tokens):
                if ev.delta:
                    parts.append(ev.delta)
                    await emit({"type": "delta", "index": index, "model": model, "text": ev.delta})
                if ev.completion is not None:
                    c = ev.completion
                    col.output, col.answered_by = c.content or "".join(parts), c.model
                    col.latency_ms, col.ttft_ms = round(c.latency_ms, 3), round(float(c.extra.get("ttft_ms", c.latency_ms)), 3)
                    col.prompt_tokens, col.completion_tokens, col.cost_usd = c.prompt_tokens, c.completion_tokens, c.cost_usd
        except AgentGraphError as exc:
            col.error = f"{exc.code}: {exc.message}"
        except Exception as exc:  # one broken column must not sink the others
            col.error = f"{type(exc).__name__}: {exc}"
        return col

    async def _agent_column(self, index: int, model: str, req: CompareRequest, emit: Emit) -> ColumnResult:
        """One full agent run (LLM + tools) on ``model``; its answer arrives as one delta."""
        col = ColumnResult(model=model)
        assert req.agent_run is not None
        try:
            e = await req.agent_run(model)
        except AgentGraphError as exc:
            col.error = f"{exc.code}: {exc.message}"
            return col
        except Exception as exc:  # one broken column must not sink the others
            col.error = f"{type(exc).__name__}: {exc}"
            return col
        col.output, col.answered_by = e.output or "", e.model
        col.latency_ms, col.ttft_ms = round(e.latency_ms or 0.0, 3), None  # runs do not stream tokens
        col.prompt_tokens, col.completion_tokens, col.cost_usd = e.prompt_tokens, e.completion_tokens, e.cost_usd
        col.execution_id = e.id
        if e.status != "succeeded":
            col.error = f"{e.error_code}: {e.error}"
        elif col.output:
            await emit({"type": "delta", "index": index, "model": model, "text": col.output})
        return col

    async def _score(self, index: int, col: ColumnResult, req: CompareRequest, emit: Emit) -> None:
        if col.error is None:
            col.checks = run_checks(col.output, req.expected_keywords, req.output_schema)
            parts = [v for k, v in col.checks.items() if k in ("keywords", "schema")]
            col.check_score = sum(float(p) for p in parts) / len(parts) if parts else None
            if req.judge_model:
                col.judge_score, col.judge_reason = await self._judge(col.output, req)
            scored = [s for s in (col.judge_score, col.check_score) if s is not None]
            col.score = round(sum(scored) / len(scored), 4) if scored else None
        await emit({"type": "column", "index": index, "model": col.model, "result": asdict(col)})

    async def _judge(self, answer: str, req: CompareRequest) -> tuple[float | None, str]:
        prompt = (f"Task given to an AI model:\n{req.input}\n\nIts answer:\n{answer}\n\nRubric: {req.rubric}\n"
                  'Grade the answer from 0 (useless) to 10 (perfect). Reply only with JSON: {"score": <0-10>, '
                  '"reason": "<one sentence>"}')
        schema = {"type": "object", "properties": {"score": {"type": "integer", "maximum": 10},
                                                   "reason": {"type": "string", "maxLength": 200}},
                  "required": ["score", "reason"]}
        try:
            c = await self.llm.complete([{"role": "system", "content": "You are a strict, fair evaluator."},
                                         {"role": "user", "content": prompt}], model=req.judge_model, temperature=0.0,
                                        max_tokens=120, response_format={"type": "json_object", "schema": schema})
        except AgentGraphError as exc:
            return None, f"judge failed: {exc.code}"
        return parse_judge(c.content)


def parse_judge(text: str) -> tuple[float | None, str]:
    """``(score in 0-1, reason)`` from a judge answer (JSON, else a ``"score": n`` pattern)."""
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("score"), (int, float, str)):
            return max(0.0, min(1.0, float(data["score"]) / 10)), str(data.get("reason", ""))[:300]
    except (json.JSONDecodeError, ValueError):
        pass
    m = _SCORE.search(text or "")
    if m:
        return max(0.0, min(1.0, float(m.group(1)) / 10)), "score parsed from a non-JSON judge answer"
    return None, "the judge's answer had no score"


def run_checks(output: str, keywords: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """Deterministic checks: ``keywords`` = share found (0-1) with ``missing``; ``schema`` = 1.0/0.0 with ``schema_error``."""
    out: dict[str, Any] = {}
    if keywords:
        low = output.lower()
        missing = [k for k in keywords if k.lower() not in low]
        out["keywords"] = round(1 - len(missing) / len(keywords), 4)
        out["missing"] = missing
    if schema:
        try:
            jsonschema.validate(json.loads(output), schema)
            out["schema"] = 1.0
        except (json.JSONDecodeError, jsonschema.ValidationError) as exc:
            out["schema"] = 0.0
            out["schema_error"] = str(getattr(exc, "message", exc))[:200]
        except jsonschema.SchemaError as exc:
            raise UserError(f"The output schema is not a valid JSON schema: {exc.message}") from exc
    return out


def summarise(columns: list[ColumnResult]) -> dict[str, Any]:
    """Fastest, cheapest and best scored among answered columns, plus a one-line text."""
    ok = [c for c in columns if c.error is None]
    if not ok:
        return {"fastest": None, "cheapest": None, "best": None, "line": "No model answered."}
    fastest = min(ok, key=lambda c: c.latency_ms)
    cheapest = min(ok, key=lambda c: (c.cost_usd, c.latency_ms))
    scored = [c for c in ok if c.score is not None]
    best = max(scored, key=lambda c: (c.score, -c.cost_usd, -c.latency_ms)) if scored else None
    line = (f"Fastest: {fastest.model} ({fastest.latency_ms / 1000:.2f} s) · Cheapest: {cheapest.model} "
            f"(${cheapest.cost_usd:.6f}) · Best: " + (f"{best.model} (score {best.score:.2f})" if best else "n/a"))
    return {"fastest": fastest.model, "cheapest": cheapest.model, "best": best.model if best else None, "line": line}


class ComparisonService:
    """Runs a comparison for a tenant (agent or bare prompt), attributes its spend, stores it.

    Args:
        comparator: the runner of columns.
        comparisons / agents: repositories.
        judge_model: default judge (``AGENTGRAPH_LLM__JUDGE_MODEL``).
    """

    def __init__(self, comparator: Comparator, comparisons: ComparisonRepository, agents: AgentRepository, *,
                 judge_model: str = "default", agent_runner: Callable[..., Awaitable[Any]] | None = None) -> None:
        self.comparator = comparator
        self.comparisons = comparisons
        self.agents = agents
        self.judge_model = judge_model
        #: ``await agent_runner(tenant_id=, user_id=, agent_id=, input=, model=) -> Execution``
        #: (``RunService.run``): agent mode runs the whole agent, tools included.
        self.agent_runner = agent_runner

    async def compare(self, *, tenant_id: str, user_id: str | None, models: list[str], input: str,
                      agent_id: str | None = None, system_prompt: str | None = None, judge_model: str | None = None,
                      use_judge: bool = True, rubric: str | None = None, expected_keywords: list[str] | None = None,
                      output_schema: dict[str, Any] | None = None, emit: Emit | None = None) -> ComparisonRecord:
        """Compare and store; see :meth:`Comparator.run` for ``emit`` events.

        Raises:
            UserError: invalid request. NotFoundError: unknown agent.
        """
        req = CompareRequest(models=list(models), input=input, system_prompt=system_prompt, agent_id=agent_id,
                             judge_model=(judge_model or self.judge_model) if use_judge else None,
                             rubric=rubric or DEFAULT_RUBRIC, expected_keywords=list(expected_keywords or []),
                             output_schema=output_schema)
        if agent_id:
            spec = AgentSpec.from_yaml((await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id)).spec_yaml)
            req.system_prompt, req.temperature, req.max_tokens = spec.system_prompt, spec.model.temperature, spec.model.max_tokens
            if self.agent_runner is not None:
                runner = self.agent_runner

                async def agent_run(model: str) -> Any:
                    return await runner(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id, input=input,
                                        model=model)

                req.agent_run = agent_run
        req.validate()
        with call_scope(CallScope(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id)):
            outcome = await self.comparator.run(req, emit)
        return await self.comparisons.create(
            tenant_id=tenant_id, mode="agent" if agent_id else "prompt", agent_id=agent_id, input=input,
            models=list(models), judge_model=req.judge_model, results_json=json.dumps(outcome.results()),
            summary_json=json.dumps(outcome.summary), created_by=user_id)


__all__ = ["ColumnResult", "ComparisonService", "CompareRequest", "Comparator", "ComparisonOutcome", "DEFAULT_RUBRIC", "parse_judge",
           "run_checks", "summarise"]
