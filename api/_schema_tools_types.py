"""GraphQL output types of the tool hub, shared by ``api._schema`` (the ``Tool`` type) and
``api._schema_tools`` (queries and mutations). No credential value has a field here:
only the auth kind, a masked hint and custom header *names*.
"""

from __future__ import annotations

import json

import strawberry

from graph import Tool as ToolRecord

__all__ = ["ToolAuthInfo", "ToolSettings", "ToolHealth", "ToolStats", "ConnectionTest", "tool_hub_fields"]


@strawberry.type(description="Which credentials a tool uses; never the values.")
class ToolAuthInfo:
    kind: str = strawberry.field(description="none, api_key, bearer, basic or oauth2_client_credentials.")
    hint: str = strawberry.field(description="Masked description, e.g. 'header X-API-Key: ****9f2c'.")
    header_names: list[str] = strawberry.field(description="Names of the custom headers (values are secret).")


@strawberry.type(description="HTTP behaviour of a tool (timeouts in seconds, sizes in bytes).")
class ToolSettings:
    timeout_s: float
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    rate_limit: str | None
    max_response_bytes: int
    health_path: str | None


@strawberry.type(description="Last health check or connection test of a tool.")
class ToolHealth:
    status: str = strawberry.field(description="unknown, up, degraded or down.")
    latency_ms: float | None
    checked_at: str | None
    message: str | None


@strawberry.type(description="Usage statistics of a tool (p50/p95 over the last 1000 calls, ms).")
class ToolStats:
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None


@strawberry.type(description="Outcome of 'Test connection'.")
class ConnectionTest:
    ok: bool
    status: str
    latency_ms: float
    http_status: int | None
    message: str


def tool_hub_fields(t: ToolRecord) -> dict[str, object]:
    """Tool-hub field values of the GraphQL ``Tool`` built from a graph record."""
    from runners._toolhub_config import ToolConfig

    cfg = ToolConfig.model_validate_json(t.config_json) if t.config_json else ToolConfig()
    return {
        "server_url": t.server_url,
        "auth": ToolAuthInfo(kind=t.auth_kind, hint=t.auth_hint, header_names=list(t.header_names)),
        "settings": ToolSettings(**json.loads(cfg.model_dump_json())),
        "allow": list(t.allow),
        "deny": list(t.deny),
        "health": ToolHealth(status=t.health_status, latency_ms=t.health_latency_ms, checked_at=t.health_checked_at,
                             message=t.health_message),
    }
