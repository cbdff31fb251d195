"""Records returned by the repositories (plain pydantic models, one per node label)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field


def now_iso() -> str:
    """Current UTC time as ISO 8601 with milliseconds (stored as a string property)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def new_id(prefix: str) -> str:
    """Random id with a readable prefix, e.g. ``run_4f1c2a9b0d3e``."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


class Tenant(BaseModel):
    """An organisation; every other node carries its ``tenant_id``."""

    id: str
    name: str
    created_at: str


class User(BaseModel):
    """A person in a tenant, with one role (admin, operator, viewer)."""

    id: str
    tenant_id: str
    name: str
    email: str
    role: str = "admin"
    created_at: str


class ToolOperation(BaseModel):
    """One operation of an OpenAPI tool (an MCP tool of the same name)."""

    operation_id: str
    method: str
    path: str
    summary: str = ""
    tags: list[str] = Field(default_factory=list)


class Tool(BaseModel):
    """A registered tool: an OpenAPI document served over MCP (``kind='openapi'``) or an
    external MCP server (``kind='mcp'``, ``server_url``).

    Tool-hub fields (issue 4): ``auth_kind``/``auth_hint`` describe the credentials
    without revealing them (the Fernet token ``secrets_enc`` is deliberately not
    a field: it never leaves ``graph._tools``); ``config_json`` is the
    ``ToolConfig``; ``allow``/``deny`` the operation rules; ``health_*`` the
    last check; ``stats_*`` the call statistics (latencies in ms, p50/p95 over
    the last calls kept in ``stats_sample_json``).
    """

    id: str
    tenant_id: str
    name: str
    description: str
    kind: str = "openapi"
    base_url: str
    status: str = "active"
    created_at: str
    created_by: str | None = None
    operations: list[ToolOperation] = Field(default_factory=list)
    embedding: list[float] | None = None
    openapi_json: str | None = None
    server_url: str | None = None
    auth_kind: str = "none"
    auth_hint: str = ""
    header_names: list[str] = Field(default_factory=list)
    config_json: str | None = None
    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)
    health_status: str = "unknown"
    health_latency_ms: float | None = None
    health_checked_at: str | None = None
    health_message: str | None = None
    stats_calls: int = 0
    stats_errors: int = 0
    stats_p50_ms: float | None = None
    stats_p95_ms: float | None = None

    @property
    def openapi(self) -> dict[str, Any] | None:
        """The stored (resolved) OpenAPI document."""
        return json.loads(self.openapi_json) if self.openapi_json else None


class AgentVersion(BaseModel):
    """An immutable version of an agent: its AgentSpec as YAML."""

    id: str
    tenant_id: str
    agent_id: str
    version: int
    spec_yaml: str
    spec_hash: str
    created_at: str
    created_by: str | None = None
    tool_ids: list[str] = Field(default_factory=list)


class Agent(BaseModel):
    """An agent; status ``draft`` until a version is published (``active``).

    Lifecycle (issue 3, ``graph._lifecycle``): draft -> provisioning -> active <->
    deprecated, and failed (``provisioning_error`` says why; retry -> provisioning).
    Marketplace counters (``graph._marketplace``) are denormalised onto the node and
    updated in the same transaction as an Execution's finish or a rating:
    ``runs``/``successes`` count finished Executions, ``latency_sum_ms`` and
    ``cost_sum_usd`` sum theirs, ``rating_sum``/``rating_count`` the stars.
    """

    id: str
    tenant_id: str
    name: str
    description: str
    agent_type: str
    status: str = "draft"
    latest_version: int = 1
    active_version: int | None = None
    created_at: str
    updated_at: str
    created_by: str | None = None
    provisioning_error: str | None = None
    derived_from: str | None = None
    runs: int = 0
    successes: int = 0
    latency_sum_ms: float = 0.0
    cost_sum_usd: float = 0.0
    rating_sum: int = 0
    rating_count: int = 0
    visibility: str = "tenant"  # private, team, department or tenant (graph._sharing)

    @property
    def success_rate(self) -> float | None:
        """Successful share of finished runs in [0, 1]; ``None`` before the first run."""
        return self.successes / self.runs if self.runs else None

    @property
    def rating_avg(self) -> float | None:
        """Mean stars (1-5); ``None`` when unrated."""
        return self.rating_sum / self.rating_count if self.rating_count else None


class Department(BaseModel):
    """A department of a tenant; users ``BELONGS_TO`` it."""

    id: str
    tenant_id: str
    name: str
    created_at: str


class Team(BaseModel):
    """A team, ``PART_OF`` a department (optional); users are ``MEMBER_OF`` it."""

    id: str
    tenant_id: str
    name: str
    department_id: str | None = None
    created_at: str


class Rating(BaseModel):
    """One user's stars (1-5) and review of an agent; one per user and agent, updatable."""

    id: str
    tenant_id: str
    agent_id: str
    user_id: str
    stars: int
    review: str = ""
    created_at: str
    updated_at: str


class Template(BaseModel):
    """A reusable AgentSpec (YAML) made from an agent; ``createAgentFromTemplate`` instantiates it."""

    id: str
    tenant_id: str
    name: str
    description: str
    agent_type: str
    spec_yaml: str
    source_agent_id: str | None = None
    created_by: str | None = None
    created_at: str


class Execution(BaseModel):
    """One run of an agent version.

    Times are ISO 8601 UTC; ``latency_ms`` is wall time; ``spans_json`` holds the
    execution chain (a JSON list of spans, see ``runners`` tracing).
    """

    id: str
    tenant_id: str
    agent_id: str
    version: int
    thread_id: str
    status: str
    input: str
    output: str | None = None
    error: str | None = None
    error_code: str | None = None
    started_at: str
    ended_at: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model: str | None = None
    triggered_by: str | None = None
    spans_json: str = "[]"
    workflow_name: str | None = None  # Argo Workflow running it (executor "argo", issue 6)
    attempt: int = 0  # attempts started by workers (queue executor, issue 6); 0 = never claimed
    parent_id: str | None = None  # the Execution that started this child run (issue 7); None: top level
    artifacts_json: str = "[]"  # files created by the run (producer agents, issue 7; runners._artifacts)
    sandbox: bool = False  # a test run: tools answered from recordings, not counted in statistics (issue 7)

    @property
    def spans(self) -> list[dict[str, Any]]:
        """Execution chain as a list of span dicts."""
        return json.loads(self.spans_json or "[]")

    @property
    def artifacts(self) -> list[dict[str, Any]]:
        """Artifacts created by the run: ``{id, name, format, media_type, bytes, sha256, url, ...}`` dicts."""
        return json.loads(self.artifacts_json or "[]")
