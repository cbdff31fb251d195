"""``AgentSpec``: the one contract between builder, graph, runners and argo.

The builder emits it, ``graph`` persists it (as the ``spec_yaml`` of an immutable
AgentVersion), ``runners`` execute it and ``argo`` ships it to pods. The JSON schema
is published by :func:`agent_spec_json_schema` (and exported to
``docs/agent-spec.schema.json``); YAML round-trips through :meth:`AgentSpec.to_yaml`
and :meth:`AgentSpec.from_yaml`.

Versioning: ``spec_version`` is ``"1"``. A reader refuses versions it does not know.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentgraph._spec_external import ExternalAgentConfig, ExternalAuth, ExternalKind
from agentgraph._spec_types import ArtifactFormat, ProducerConfig
from agentgraph._spec_guardrails import GuardrailsConfig, PIIConfig, PIIPattern
from agentgraph._spec_workflow import (DelegateRef, TeamSpec, WorkflowEdge, WorkflowSpec, WorkflowStep,
                                       check_multi_agent)
from agentgraph.errors import InvalidSpecError
from agentgraph.triggers import TriggerSpec

SPEC_VERSION = "1"

# Length bounds keep the builder's structured-output schema finite, so a small
# local model (gemma3 270M) can finish a valid document (DESIGN.md facts).
NAME_MAX = 64
DESCRIPTION_MAX = 400
PROMPT_MAX = 2000
REASON_MAX = 200
TOOLS_MAX = 8
NOTEBOOKS_MAX = 4

_SLUG_RE = re.compile(r"[^a-z0-9]+")


class AgentType(str, Enum):
    """Built-in agent types (docs/agent-types.md).

    ``react``: a tool-using ReAct loop; ``qa``: stateless, grounded in its notebooks;
    ``conversational``: thread memory always on (long-term when enabled); ``producer``:
    creates artifacts (reports, PDF, JSON, CSV) with ``create_artifact``
    (``agentgraph._spec_types``). Further types are documented next to their members.
    """

    react = "react"
    qa = "qa"
    conversational = "conversational"
    producer = "producer"  # creates artifacts (agentgraph._spec_types.ProducerConfig)
    external = "external"  # run by a remote agent platform (agentgraph._spec_external)
    workflow = "workflow"  # steps, conditional edges, bounded loops (agentgraph._spec_workflow.WorkflowSpec)
    team = "team"  # sequential / parallel / supervisor team of agents (agentgraph._spec_workflow.TeamSpec)


class ToolRef(BaseModel):
    """A tool the agent may call, by Tool id in the graph.

    ``operations`` are the agent's allowed tools of this Tool (operationIds of an
    OpenAPI tool, tool names of an external MCP server); empty means every
    operation the tool exposes. ``on_failure`` decides what an unreachable or
    failing tool does to a run: ``fail_closed`` fails the run, ``fail_open``
    skips the tool and tells the model in a tool (or system) message.
    """

    model_config = ConfigDict(extra="forbid")

    tool_id: str = Field(..., min_length=1, max_length=NAME_MAX)
    operations: list[str] = Field(default_factory=list, max_length=64, description="Allowed tools; empty = all.")
    reason: str = Field("", max_length=REASON_MAX, description="Why the builder chose it (one line).")
    on_failure: Literal["fail_closed", "fail_open"] = Field(
        "fail_closed", description="fail_closed: a tool failure fails the run; fail_open: skip the tool, tell the model.")


class ModelConfig(BaseModel):
    """LLM choice: a LiteLLM model name (or a gateway alias) plus sampling settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", min_length=1, max_length=128)
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=32_768)
    fallbacks: list[str] = Field(default_factory=list, max_length=4)


class MemoryStrategy(str, Enum):
    """How an agent uses long-term memory.

    ``tools``: the model gets ``remember``/``recall`` tools; ``summary``: a summary of
    each thread is stored automatically after every run (and ``recall`` reads them);
    ``both``: both.
    """

    tools = "tools"
    summary = "summary"
    both = "both"


class MemoryConfig(BaseModel):
    """Memory tiers: working (the run's LangGraph state, always on), short-term
    (thread checkpoints in Redis) and long-term (DeepLake store, per tenant/user/agent).

    Token counts are estimates at 4 characters per token (OpenAI's rule of thumb for English).
    """

    model_config = ConfigDict(extra="forbid")

    short_term: bool = Field(True, description="Keep the thread's messages between runs (Redis checkpoints).")
    thread_ttl_min: float | None = Field(None, ge=1, description="Checkpoint TTL in minutes (default: the platform's).")
    long_term: bool = Field(False, description="Give the agent a long-term memory (per user and agent).")
    strategy: MemoryStrategy = MemoryStrategy.tools
    recall_k: int = Field(5, ge=1, le=20, description="Memories returned by one recall.")
    context_window_tokens: int = Field(
        4096, ge=512, le=2_000_000, description="Model context window (4096: the local Gemma 3 270M server).")
    summarize_at: float = Field(
        0.75, gt=0.1, le=0.95, description="Summarise older messages when the prompt reaches this share of the window.")
    keep_recent_messages: int = Field(6, ge=2, le=50, description="Messages kept verbatim when summarising.")


class NotebookRef(BaseModel):
    """A notebook (knowledge base) the agent searches, by Notebook id in the graph."""

    model_config = ConfigDict(extra="forbid")

    notebook_id: str = Field(..., min_length=1, max_length=NAME_MAX)
    top_k: int = Field(5, ge=1, le=20, description="Chunks returned per search.")
    min_similarity: float | None = Field(None, ge=-1.0, le=1.0, description="Drop chunks below this cosine similarity.")
    reason: str = Field("", max_length=REASON_MAX, description="Why the builder chose it (one line).")


class RetryPolicy(BaseModel):
    """How a worker retries a run that failed for a transient reason (issue 6).

    Transient: provider or tool unavailable, a backing service down, the worker
    process died. The wait before attempt ``n + 1`` is
    ``backoff_s * backoff_multiplier ** (n - 1)`` seconds, capped at ``MAX_BACKOFF_S``.
    After ``attempts`` attempts the run is failed with ``RETRIES_EXHAUSTED`` and
    dead-lettered. Defaults: 3 attempts, 1 s then 2 s (a common queue default).
    """

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(3, ge=1, le=10, description="Attempts in total, the first included.")
    backoff_s: float = Field(1.0, ge=0, le=300, description="Wait before the second attempt, seconds.")
    backoff_multiplier: float = Field(2.0, ge=1, le=10, description="Factor applied to the wait per attempt.")

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based) before the next one."""
        return min(self.backoff_s * self.backoff_multiplier ** max(attempt - 1, 0), MAX_BACKOFF_S)


#: Upper bound of one retry wait, seconds (an hour: longer waits belong to a schedule).
MAX_BACKOFF_S = 3600.0


class RunLimits(BaseModel):
    """Per-run limits enforced by the runner."""

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(120.0, gt=0, le=3600)
    max_steps: int = Field(8, ge=1, le=100, description="LLM turns (each may call tools).")
    # Issue 7 (runners._guardrails): checked after every LLM/tool call; exceeding one fails the run
    # with RUN_LIMIT_EXCEEDED. None: no limit.
    max_tool_calls: int | None = Field(None, ge=0, le=10_000, description="Tool calls in one run.")
    max_tokens: int | None = Field(None, ge=1, le=100_000_000, description="Prompt + completion tokens of the run.")
    max_cost_usd: float | None = Field(None, gt=0, le=10_000, description="LLM cost of the run, USD.")
    max_depth: int | None = Field(None, ge=1, le=10, description=(
        "Most nesting of child runs below this one (delegation, teams, agent steps); capped by the platform "
        "setting run.max_depth (default 3, AGENTGRAPH_RUN__MAX_DEPTH)."))
    retry: RetryPolicy = Field(default_factory=RetryPolicy,
                               description="Retries of transient failures by the worker (queue executor).")


class AgentSpec(BaseModel):
    """Full configuration of one agent version.

    Fields are bounded (see module constants) so that a JSON schema generated from
    this model is finite for structured output.

    Raises:
        InvalidSpecError: from :meth:`parse`, :meth:`from_yaml` when input is invalid.
    """

    model_config = ConfigDict(extra="forbid", use_enum_values=False)

    spec_version: str = Field(SPEC_VERSION, description="AgentSpec schema version.")
    name: str = Field(..., min_length=1, max_length=NAME_MAX)
    description: str = Field(..., min_length=1, max_length=DESCRIPTION_MAX)
    system_prompt: str = Field(..., min_length=1, max_length=PROMPT_MAX)
    agent_type: AgentType = AgentType.react
    model: ModelConfig = Field(default_factory=ModelConfig)
    tools: list[ToolRef] = Field(default_factory=list, max_length=TOOLS_MAX)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    notebooks: list[NotebookRef] = Field(default_factory=list, max_length=NOTEBOOKS_MAX)
    limits: RunLimits = Field(default_factory=RunLimits)
    guardrails: GuardrailsConfig = Field(default_factory=GuardrailsConfig,
                                         description="Output schema, blocked topics, PII redaction (issue 7).")
    tags: list[str] = Field(default_factory=list, max_length=8)
    triggers: list[TriggerSpec] = Field(
        default_factory=list, max_length=8,
        description="What starts a run besides a direct call (agentgraph.triggers); exported to Argo Events.")
    external: ExternalAgentConfig | None = Field(
        None, description="agent_type 'external': the remote agent platform that runs it (docs/external-agents.md).")
    workflow: WorkflowSpec | None = Field(
        None, description="agent_type 'workflow': steps and edges (docs/agent-types.md).")
    team: TeamSpec | None = Field(None, description="agent_type 'team': pattern and member agents.")
    delegates: list[DelegateRef] = Field(
        default_factory=list, max_length=8, description="Agents this one may call as tools `ask_<agent_id>`.")
    producer: ProducerConfig | None = Field(
        None, description="agent_type 'producer': formats and bounds of the artifacts it creates (defaults when "
                          "omitted; docs/agent-types.md).")

    @model_validator(mode="after")
    def _producer_config(self) -> "AgentSpec":
        if self.producer is not None and self.agent_type != AgentType.producer:
            raise ValueError("`producer` settings are allowed only when agent_type is 'producer'")
        return self

    @model_validator(mode="after")
    def _multi_agent(self) -> "AgentSpec":
        check_multi_agent(self)
        return self

    @model_validator(mode="after")
    def _external_config(self) -> "AgentSpec":
        if (self.agent_type == AgentType.external) != (self.external is not None):
            raise ValueError("`external` is required when agent_type is 'external' and allowed only then")
        return self

    @field_validator("triggers")
    @classmethod
    def _unique_trigger_names(cls, v: list[Any]) -> list[Any]:
        names = [t.name for t in v]
        if len(names) != len(set(names)):
            raise ValueError(f"trigger names must be unique within an agent, got {names}")
        return v

    @field_validator("spec_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v != SPEC_VERSION:
            raise ValueError(f"unsupported spec_version {v!r}; this platform reads version {SPEC_VERSION!r}")
        return v

    @field_validator("name")
    @classmethod
    def _strip_name(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("name must not be blank")
        return v

    @property
    def slug(self) -> str:
        """Lower-case, dash-separated name (e.g. ``crm-follow-up``)."""
        return _SLUG_RE.sub("-", self.name.lower()).strip("-") or "agent"

    @property
    def tool_ids(self) -> list[str]:
        """Ids of the tools referenced, in order, without duplicates."""
        seen: dict[str, None] = {}
        for t in self.tools:
            seen.setdefault(t.tool_id, None)
        return list(seen)

    @property
    def notebook_ids(self) -> list[str]:
        """Ids of the notebooks referenced, in order, without duplicates."""
        return list(dict.fromkeys(n.notebook_id for n in self.notebooks))

    # --- (de)serialisation -------------------------------------------------
    def to_yaml(self) -> str:
        """Serialise to YAML (enum values as strings, key order as declared).

        Sections added after a spec was first stored (:data:`_OMITTED_WHEN_DEFAULT`) are left
        out while they hold their defaults, so an unchanged spec keeps its YAML, and its
        version hash, across platform upgrades.
        """
        data = self.model_dump(mode="json")
        for path, default in _OMITTED_WHEN_DEFAULT.items():
            *parents, key = path.split(".")
            node = data
            for p in parents:
                node = node.get(p) or {}
            if key in node and node[key] == default:
                del node[key]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    @classmethod
    def parse(cls, data: Any) -> "AgentSpec":
        """Validate a mapping into an AgentSpec.

        Raises:
            InvalidSpecError: listing each invalid field and why.
        """
        if not isinstance(data, dict):
            raise InvalidSpecError(
                f"An AgentSpec must be a mapping of fields, got {type(data).__name__}. "
                "Start from `agentgraph spec schema` or an example in docs/."
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidSpecError(format_validation_error(exc)) from exc

    @classmethod
    def from_yaml(cls, text: str) -> "AgentSpec":
        """Parse YAML text.

        Raises:
            InvalidSpecError: when the YAML does not parse or the spec is invalid.
        """
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidSpecError(f"AgentSpec YAML does not parse: {exc}") from exc
        return cls.parse(data)

    @classmethod
    def from_json(cls, text: str) -> "AgentSpec":
        """Parse JSON text. Raises InvalidSpecError like :meth:`from_yaml`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidSpecError(f"AgentSpec JSON does not parse: {exc}") from exc
        return cls.parse(data)


#: Spec fields (dotted paths) that :meth:`AgentSpec.to_yaml` omits while they equal these
#: defaults: everything issue 7 added (guardrails, run limits, agent-type sections).
_OMITTED_WHEN_DEFAULT: dict[str, Any] = {
    "limits.max_tool_calls": None, "limits.max_tokens": None, "limits.max_cost_usd": None, "limits.max_depth": None,
    "guardrails": GuardrailsConfig().model_dump(mode="json"), "external": None, "workflow": None, "team": None,
    "delegates": [], "producer": None,
}


def format_validation_error(exc: ValidationError) -> str:
    """Render a pydantic ValidationError as 'field: problem' lines for users and LLM repair."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        lines.append(f"{loc}: {err['msg']}")
    return "Invalid AgentSpec:\n" + "\n".join(f"- {line}" for line in lines)


def agent_spec_json_schema() -> dict[str, Any]:
    """The published JSON schema of AgentSpec v1 (draft 2020-12, from pydantic)."""
    schema = AgentSpec.model_json_schema()
    schema["$id"] = f"https://agentgraph.dev/schemas/agent-spec/v{SPEC_VERSION}.json"
    return schema


__all__ = [
    "SPEC_VERSION",
    "AgentSpec",
    "AgentType",
    "ToolRef",
    "ModelConfig",
    "MemoryConfig",
    "MemoryStrategy",
    "NotebookRef",
    "RunLimits",
    "RetryPolicy",
    "GuardrailsConfig",
    "PIIConfig",
    "PIIPattern",
    "agent_spec_json_schema",
    "format_validation_error",
    "ExternalAgentConfig",
    "ExternalAuth",
    "ExternalKind",
    "ArtifactFormat",
    "ProducerConfig",
    "WorkflowSpec",
    "WorkflowStep",
    "WorkflowEdge",
    "TeamSpec",
    "DelegateRef",
]
