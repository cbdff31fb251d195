"""Intent -> AgentSpec draft, with tool suggestions from the graph.

Pipeline for one builder turn:

1. Rank the tenant's tools by cosine similarity between the conversation's
   intent and each Tool's description embedding (all-MiniLM-L6-v2); keep the top
   ``max_candidates`` above ``min_score``.
2. Ask the LLM for a *draft* through structured output: a JSON schema whose
   strings and lists are bounded (so a 270M local model can finish it) and whose
   ``tool_id`` is an enum of the candidates (it cannot invent tools).
3. Validate with pydantic into an :class:`~agentgraph.spec.AgentSpec`. On failure,
   make one repair attempt that feeds the validation errors back; then raise
   :class:`~agentgraph.errors.InvalidSpecError` (code ``BUILD_FAILED``).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from agentgraph.errors import InvalidSpecError
from agentgraph.gateway import ChatModel
from agentgraph.spec import AgentSpec, AgentType, ModelConfig, ToolRef, format_validation_error
from graph import NotebookRepository, Tool, ToolRepository
from memory import Embedder, cosine

from builder._memory_draft import apply_memory_draft, suggest_notebooks
from builder._types_draft import SCHEDULE_PROMPT, SCHEDULE_PROPERTY, agent_type_guide, apply_type_draft, schedule_trigger
from builder._threads import BuilderThread, BuilderThreadStore
from builder._workflow_draft import apply_multi_agent_draft

log = logging.getLogger("agentgraph.builder")

# Draft bounds: shorter than AgentSpec's own limits so small models finish.
DRAFT_NAME_MAX = 48
DRAFT_DESCRIPTION_MAX = 240
DRAFT_PROMPT_MAX = 600
DRAFT_REASON_MAX = 120
DRAFT_TOOLS_MAX = 4

def system_prompt() -> str:
    """The builder's instructions; the agent types come from ``builder._types_draft.AGENT_TYPE_GUIDE``."""
    return f"""You design AI agents for a company. From the user's request, write a JSON agent draft:
- name: short title (2-5 words)
- description: one or two sentences on what the agent does
- system_prompt: instructions for the agent, in the second person ("You are ...")
{agent_type_guide()}
- tools: pick only from the candidate tools listed below that help with the request, each with a one-line reason.
{SCHEDULE_PROMPT}
Answer with JSON only."""


@dataclass
class ToolSuggestion:
    """A registered tool ranked for an intent.

    Attributes:
        score: cosine similarity in [-1, 1] between intent and tool description embeddings.
        reason: one line shown to the user.
    """

    tool_id: str
    name: str
    score: float
    reason: str
    operations: list[str] = field(default_factory=list)


@dataclass
class BuildResult:
    """One builder turn: the draft spec, the ranked tool suggestions and the thread."""

    spec: AgentSpec
    suggestions: list[ToolSuggestion]
    thread_id: str
    attempts: int
    message: str
    #: Colleagues who built similar agents (``graph.Recommender.similar_builders`` rows, issue 3),
    #: e.g. ``{"message": "Grace in Sales built a similar agent, 94% success over 120 runs", ...}``.
    similar_agents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def spec_yaml(self) -> str:
        """The draft as YAML."""
        return self.spec.to_yaml()


def draft_schema(candidate_ids: list[str]) -> dict[str, Any]:
    """JSON schema of the builder's structured output (bounded lengths, tool enum)."""
    tool_item: dict[str, Any] = {
        "type": "object",
        "properties": {
            "tool_id": {"type": "string", "enum": candidate_ids} if candidate_ids else {"type": "string", "maxLength": 1},
            "reason": {"type": "string", "maxLength": DRAFT_REASON_MAX},
        },
        "required": ["tool_id", "reason"],
    }
    return {
        "title": "AgentDraft",
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": DRAFT_NAME_MAX},
            "description": {"type": "string", "minLength": 1, "maxLength": DRAFT_DESCRIPTION_MAX},
            "system_prompt": {"type": "string", "minLength": 1, "maxLength": DRAFT_PROMPT_MAX},
            "agent_type": {"type": "string", "enum": [t.value for t in AgentType]},
            "tools": {"type": "array", "items": tool_item, "maxItems": min(DRAFT_TOOLS_MAX, len(candidate_ids))},
            "schedule": SCHEDULE_PROPERTY,
        },
        "required": ["name", "description", "system_prompt", "agent_type", "tools"],
    }


class AgentBuilder:
    """Builds and refines AgentSpec drafts (see module docstring).

    Args:
        llm: the gateway (or a scripted model in tests).
        embedder: sentence embedder used for tool ranking.
        tools: tool repository (reads Tool embeddings).
        threads: builder conversation store.
        model: model name written into drafts (``ModelConfig.name``) and used for building.
        max_candidates: tools offered to the LLM (5: enough for a choice, short enough for a small context).
        min_score: minimum cosine similarity for a tool to be a candidate (0.15, tuned on the demo
            CRM: unrelated tools score below 0.1 with all-MiniLM-L6-v2).
    """

    def __init__(
        self,
        llm: ChatModel,
        embedder: Embedder,
        tools: ToolRepository,
        threads: BuilderThreadStore,
        *,
        model: str = "default",
        max_candidates: int = 5,
        min_score: float = 0.15,
    ) -> None:
        self.llm = llm
        self.embedder = embedder
        self.tools = tools
        self.threads = threads
        self.model = model
        self.max_candidates = max_candidates
        self.min_score = min_score
        self.notebooks: NotebookRepository | None = None  # set by the platform when notebooks are enabled
        self.recommender: Any = None  # graph.Recommender, set by the platform (similar agents, issue 3)

    async def suggest_tools(self, *, tenant_id: str, intent: str, limit: int | None = None) -> list[ToolSuggestion]:
        """Tools of the tenant ranked by similarity to ``intent``, best first."""
        tools = await self.tools.list(tenant_id=tenant_id)
        if not tools or not intent.strip():
            return []
        [q] = await self.embedder.embed([intent])
        ranked: list[tuple[float, Tool]] = sorted(
            ((cosine(q, t.embedding or []), t) for t in tools), key=lambda p: p[0], reverse=True
        )
        out = []
        for score, t in ranked[: limit or self.max_candidates]:
            if score < self.min_score:
                break
            ops = [o.operation_id for o in t.operations]
            out.append(ToolSuggestion(
                tool_id=t.id, name=t.name, score=round(score, 4), operations=ops,
                reason=f"{int(round(score * 100))}% similar to your request; offers {', '.join(ops[:4])}",
            ))
        return out

    async def build(self, *, tenant_id: str, message: str, thread_id: str | None = None,
                    user_id: str | None = None) -> BuildResult:
        """Run one builder turn: a new intent, or a refinement in an existing thread.

        Args:
            tenant_id: tenant whose tools are candidates.
            message: the user's text ("I need an agent that ..." / "also look at the company").
            thread_id: builder thread to continue; None starts a new one.
            user_id: who builds; with a recommender set, colleagues' similar agents are suggested.

        Raises:
            UserError: empty message.
            InvalidSpecError: (code ``BUILD_FAILED``) no valid spec after one repair attempt.
            LLMError: the gateway failed.
        """
        if not message or not message.strip():
            raise InvalidSpecError("Describe the agent you need, e.g. 'an agent that looks up a lead in our CRM'.")
        thread = await self.threads.load(thread_id)
        thread.messages.append({"role": "user", "content": message.strip()})
        intent = " ".join(m["content"] for m in thread.messages if m["role"] == "user")
        suggestions = await self.suggest_tools(tenant_id=tenant_id, intent=intent)
        spec, attempts = await self._draft(thread, suggestions)
        notebooks = (await suggest_notebooks(self.notebooks, self.embedder, tenant_id=tenant_id, intent=intent)
                     if self.notebooks else [])
        spec = apply_memory_draft(spec, intent, notebooks)  # notebooks + memory section (issue 5)
        first = next(m["content"] for m in thread.messages if m["role"] == "user")
        spec = apply_type_draft(spec, intent, first)  # schedules, producer for documents (issue 7)
        thread.spec_yaml = spec.to_yaml()
        summary = f"Draft '{spec.name}' ({spec.agent_type.value}) with {len(spec.tools)} tool(s)."
        if spec.notebooks:
            summary += f" Notebooks: {', '.join(s.name for s in notebooks)}."
        thread.messages.append({"role": "assistant", "content": summary})
        await self.threads.save(thread)
        similar: list[dict[str, Any]] = []
        if self.recommender is not None and user_id:
            try:
                similar = await self.recommender.similar_builders(tenant_id=tenant_id, user_id=user_id,
                                                                  text=f"{spec.name}. {spec.description}", limit=3)
            except Exception:  # suggestions are a bonus: never fail a build for them
                log.exception("similar-agent suggestions failed")
        return BuildResult(spec=spec, suggestions=suggestions, thread_id=thread.id, attempts=attempts, message=summary,
                           similar_agents=similar)

    async def _draft(self, thread: BuilderThread, suggestions: list[ToolSuggestion]) -> tuple[AgentSpec, int]:
        candidates = {s.tool_id: s for s in suggestions}
        schema = draft_schema(list(candidates))
        lines = [f"- {s.tool_id}: {s.name}. Operations: {', '.join(s.operations[:8])}" for s in suggestions]
        context = "Candidate tools:\n" + ("\n".join(lines) if lines else "(none registered)")
        if thread.spec_yaml:
            context += f"\n\nCurrent draft (refine it with the user's latest message):\n{thread.spec_yaml}"
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": f"{system_prompt()}\n\n{context}"},
            *[m for m in thread.messages if m["role"] == "user"],
        ]
        last_error = ""
        for attempt in (1, 2):
            completion = await self.llm.complete(
                messages,
                model=self.model,
                response_format={"type": "json_object", "schema": schema},
                temperature=0.2,
                max_tokens=700,
            )
            try:
                run_input = next(m["content"] for m in thread.messages if m["role"] == "user")
                return self._to_spec(completion.content, candidates, run_input), attempt
            except InvalidSpecError as exc:
                last_error = exc.message
                # One repair attempt: show the model its answer and what was wrong.
                messages = messages + [
                    {"role": "assistant", "content": completion.content[:2000]},
                    {"role": "user", "content": f"That draft is invalid:\n{last_error}\nReturn corrected JSON only."},
                ]
        raise InvalidSpecError(
            "The builder could not turn this request into a valid agent after a repair attempt. "
            f"Last problems:\n{last_error}\nRephrase the request with what the agent should do and which data it needs.",
            code="BUILD_FAILED",
        )

    def _to_spec(self, content: str, candidates: dict[str, ToolSuggestion], run_input: str = "") -> AgentSpec:
        data = _parse_json(content)
        tools: list[ToolRef] = []
        for item in data.get("tools") or []:
            if not isinstance(item, dict):
                continue
            tid = str(item.get("tool_id", ""))
            if tid not in candidates or any(t.tool_id == tid for t in tools):
                continue  # the model may only pick registered candidates
            reason = str(item.get("reason") or "").strip() or candidates[tid].reason
            tools.append(ToolRef(tool_id=tid, reason=reason[:200]))
        agent_type = data.get("agent_type") or "react"
        if agent_type not in {t.value for t in AgentType}:
            agent_type = "react"
        raw = {
            "name": _clean(data.get("name")),
            "description": _clean(data.get("description")),
            "system_prompt": _clean(data.get("system_prompt")),
            "agent_type": agent_type,
            "model": ModelConfig(name=self.model).model_dump(),
            "tools": [t.model_dump() for t in tools],
        }
        trigger = schedule_trigger(data.get("schedule"), run_input)  # an invalid cron is dropped, not an error
        if trigger is not None:
            raw["triggers"] = [trigger.model_dump(mode="json")]
        raw = apply_multi_agent_draft(raw, run_input)  # routing requests -> workflow; completes workflow/team drafts
        try:
            return AgentSpec.model_validate(raw)
        except ValidationError as exc:
            raise InvalidSpecError(format_validation_error(exc)) from exc


def _clean(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


def _parse_json(content: str) -> dict[str, Any]:
    """Parse the model's JSON (tolerating a fenced block or text around one object)."""
    text = (content or "").strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise InvalidSpecError(f"The answer is not JSON: {text[:200]!r}") from None
        try:
            data = json.loads(text[start:end + 1])
        except json.JSONDecodeError as exc:
            raise InvalidSpecError(f"The answer is not valid JSON ({exc}): {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise InvalidSpecError("The answer must be a JSON object with name, description, system_prompt, agent_type, tools.")
    return data


__all__ = ["AgentBuilder", "BuildResult", "ToolSuggestion", "draft_schema"]
