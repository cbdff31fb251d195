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


class Tool(BaseModel):
    """A registered tool (OpenAPI document served over MCP)."""

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
    """An agent; status ``draft`` until a version is published (``active``)."""

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

    @property
    def spans(self) -> list[dict[str, Any]]:
        """Execution chain as a list of span dicts."""
        return json.loads(self.spans_json or "[]")
