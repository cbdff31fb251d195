"""Per-tool settings of the tool hub: credentials, HTTP behaviour, operation rules.

* :class:`ToolAuth` / :class:`ToolCredentials` - the secret part (auth kind and
  values, custom headers). Stored only as a Fernet token (:func:`seal_credentials`,
  :class:`agentgraph.secrets.SecretBox`); the API shows :func:`auth_summary`
  (kind + masked hint), never a value.
* :class:`ToolConfig` - timeout, retries with backoff, rate limit, response cap,
  health path. Not secret; stored as JSON on the Tool node.
* :class:`OperationRules` - allow/deny selectors (operationId, method, path glob,
  tag) deciding which operations are exposed over MCP (:func:`filter_spec`).
"""

from __future__ import annotations

import copy
import fnmatch
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from agentgraph.errors import UserError
from agentgraph.secrets import SecretBox

__all__ = [
    "AuthKind",
    "ToolAuth",
    "ToolCredentials",
    "ToolConfig",
    "OperationRules",
    "auth_summary",
    "mask_secret",
    "seal_credentials",
    "open_credentials",
    "filter_spec",
    "parse_model",
    "redact_arguments",
]

AuthKind = Literal["none", "api_key", "bearer", "basic", "oauth2_client_credentials"]
_METHODS = ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "MCP")
# Headers the platform or HTTP framing owns; a custom header must not replace them.
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "mcp-session-id",
                     "mcp-protocol-version"}


class ToolAuth(BaseModel):
    """How the platform authenticates to a tool's API (or external MCP server).

    Attributes:
        kind: ``none``, ``api_key`` (``name`` + ``value`` in a header or the query),
            ``bearer`` (``value`` sent as ``Authorization: Bearer``), ``basic``
            (``username`` + ``password``), ``oauth2_client_credentials``
            (``token_url``, ``client_id``, ``client_secret``, optional ``scopes``;
            tokens are fetched and refreshed with authlib).
        location: where an API key goes: ``header`` or ``query``.
    """

    model_config = ConfigDict(extra="forbid")

    kind: AuthKind = "none"
    name: str | None = Field(None, max_length=128, description="API key header or query parameter name.")
    location: Literal["header", "query"] = "header"
    value: SecretStr | None = Field(None, description="API key or bearer token.")
    username: str | None = Field(None, max_length=256)
    password: SecretStr | None = None
    token_url: str | None = Field(None, max_length=2048)
    client_id: str | None = Field(None, max_length=512)
    client_secret: SecretStr | None = None
    scopes: list[str] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _required_per_kind(self) -> "ToolAuth":
        need = {
            "api_key": ("name", "value"),
            "bearer": ("value",),
            "basic": ("username", "password"),
            "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
        }.get(self.kind, ())
        missing = [f for f in need if not _present(getattr(self, f))]
        if missing:
            raise ValueError(f"auth kind {self.kind!r} needs {', '.join(missing)}")
        if self.kind == "oauth2_client_credentials" and not str(self.token_url).startswith(("http://", "https://")):
            raise ValueError("token_url must be an http(s) URL, e.g. https://auth.example.com/oauth/token")
        return self

    def secret_values(self) -> list[str]:
        """Every secret value of this auth (for redaction checks in tests and logs)."""
        return [s.get_secret_value() for s in (self.value, self.password, self.client_secret) if s is not None]


class ToolCredentials(BaseModel):
    """Everything secret about a tool: its auth plus custom headers (values may be secret too)."""

    model_config = ConfigDict(extra="forbid")

    auth: ToolAuth = Field(default_factory=ToolAuth)
    headers: dict[str, str] = Field(default_factory=dict, max_length=32)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not name or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name (letters, digits, '-')")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the platform and cannot be customised")
        return v

    def to_plain(self) -> dict[str, Any]:
        """JSON-ready dict *with* secret values (only ever passed to :func:`seal_credentials`)."""
        data = self.model_dump(mode="python")
        auth = data["auth"]
        for key in ("value", "password", "client_secret"):
            if auth.get(key) is not None:
                auth[key] = auth[key].get_secret_value()
        return data


class ToolConfig(BaseModel):
    """Non-secret HTTP behaviour of a tool.

    Attributes:
        timeout_s: per upstream request (connect + read), seconds.
        max_attempts: attempts per call including the first; retries happen on
            429 and 5xx (idempotent methods) or 429/503 and connection errors (POST,
            PATCH: the request may have had an effect otherwise).
        backoff_initial_s / backoff_max_s: exponential backoff with jitter
            between attempts (tenacity ``wait_exponential_jitter``); a
            ``Retry-After`` header is honoured up to ``backoff_max_s``.
        rate_limit: ``limits`` syntax such as ``"60/minute"`` or ``"5 per second"``;
            ``None`` means only the tenant-wide limit applies.
        max_response_bytes: larger upstream bodies are refused (HTTP 502 to the
            caller) so one call cannot flood the model's context or memory.
        health_path: path (relative to the base URL) probed by "Test connection"
            and the scheduled health check; ``None`` picks a safe GET.
    """

    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(30.0, gt=0, le=600)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_initial_s: float = Field(0.5, ge=0, le=60)
    backoff_max_s: float = Field(10.0, ge=0, le=300)
    rate_limit: str | None = Field(None, max_length=64)
    max_response_bytes: int = Field(1_000_000, ge=1_000, le=50_000_000)
    health_path: str | None = Field(None, max_length=512)

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        from limits import parse

        try:
            parse(v)
        except ValueError as exc:
            raise ValueError(f"rate_limit {v!r} is not valid: use e.g. '60/minute' or '5 per second'") from exc
        return v.strip()

    @field_validator("health_path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if "://" in v or not v.startswith("/"):
            raise ValueError("health_path must be a path starting with '/', relative to the base URL")
        return v


class OperationRules(BaseModel):
    """Which operations of a tool are exposed over MCP.

    Selectors (case-sensitive except methods): ``getLead`` or ``id:get*``
    (operationId, glob), ``GET`` or ``method:DELETE``, ``/leads/*`` or
    ``path:/admin/**`` (path template, glob), ``tag:notes``. An operation is
    exposed when ``allow`` is empty or one allow selector matches it, and no
    deny selector matches it (deny wins).
    """

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(default_factory=list, max_length=500)
    deny: list[str] = Field(default_factory=list, max_length=500)

    @field_validator("allow", "deny")
    @classmethod
    def _selectors(cls, v: list[str]) -> list[str]:
        out = []
        for s in v:
            s = s.strip()
            if not s:
                continue
            kind, _, rest = s.partition(":")
            if rest and kind not in ("id", "method", "path", "tag"):
                if not s.startswith("/"):
                    raise ValueError(f"selector {s!r}: use id:, method:, path: or tag: before the colon")
            out.append(s)
        return out

    def allows(self, operation_id: str, method: str, path: str, tags: tuple[str, ...] | list[str] = ()) -> bool:
        """True when the operation is exposed (see class docstring)."""
        def match(sel: str) -> bool:
            kind, _, rest = sel.partition(":")
            if rest and kind in ("id", "method", "path", "tag"):
                if kind == "id":
                    return fnmatch.fnmatchcase(operation_id, rest)
                if kind == "method":
                    return method.upper() == rest.upper()
                if kind == "path":
                    return fnmatch.fnmatchcase(path, rest)
                return rest in tags
            if sel.upper() in _METHODS:
                return method.upper() == sel.upper()
            if sel.startswith("/"):
                return fnmatch.fnmatchcase(path, sel)
            return fnmatch.fnmatchcase(operation_id, sel)

        if self.allow and not any(match(s) for s in self.allow):
            return False
        return not any(match(s) for s in self.deny)


def _present(v: Any) -> bool:
    if isinstance(v, SecretStr):
        return bool(v.get_secret_value())
    return bool(v)


def parse_model(model: type[BaseModel], data: Any, what: str) -> Any:
    """Validate ``data`` into ``model``, raising a :class:`UserError` naming each bad field.

    Raises:
        UserError: ``data`` does not fit ``model``; ``what`` names it in the message.
    """
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}" for e in exc.errors())
        raise UserError(f"Invalid {what}: {problems}. Fix these fields and try again.") from None


def mask_secret(value: str) -> str:
    """``****`` plus the last 4 characters when the secret has at least 16 (else only ``****``).

    Showing 4 of 16+ characters lets a user tell keys apart without making them guessable.
    """
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


def auth_summary(creds: ToolCredentials) -> tuple[str, str]:
    """``(kind, hint)`` safe to show: e.g. ``("api_key", "header X-API-Key: ****9f2c")``."""
    a = creds.auth
    if a.kind == "api_key":
        return a.kind, f"{a.location} {a.name}: {mask_secret(a.value.get_secret_value() if a.value else '')}"
    if a.kind == "bearer":
        return a.kind, f"token {mask_secret(a.value.get_secret_value() if a.value else '')}"
    if a.kind == "basic":
        return a.kind, f"user {a.username}, password ****"
    if a.kind == "oauth2_client_credentials":
        scopes = f", scopes {' '.join(a.scopes)}" if a.scopes else ""
        return a.kind, f"client {a.client_id} at {a.token_url}{scopes}"
    return "none", ""


def seal_credentials(box: SecretBox, creds: ToolCredentials) -> str:
    """Fernet token of the credentials JSON (the only form stored in the graph)."""
    return box.encrypt(json.dumps(creds.to_plain(), sort_keys=True))


def open_credentials(box: SecretBox, token: str | None) -> ToolCredentials:
    """Decrypt a stored token; ``None``/empty means no credentials.

    Raises:
        ConfigError: the token was made with a key that is no longer configured.
    """
    if not token:
        return ToolCredentials()
    return ToolCredentials.model_validate(json.loads(box.decrypt(token)))


def filter_spec(spec: dict[str, Any], rules: OperationRules, *, strip_params: set[tuple[str, str]] = frozenset()
                ) -> tuple[dict[str, Any], int]:
    """Copy of a resolved OpenAPI 3 ``spec`` keeping only allowed operations.

    Args:
        spec: resolved document (every operation has an ``operationId``).
        rules: allow/deny selectors.
        strip_params: ``(in, lower-case name)`` parameters removed from every
            operation because the platform fills them (e.g. the API key header),
            so the model is never asked for a credential.

    Returns:
        ``(filtered spec, number of operations kept)``.
    """
    out = copy.deepcopy(spec)
    kept = 0
    for path, item in list((out.get("paths") or {}).items()):
        if not isinstance(item, dict):
            continue
        for method in list(item):
            op = item[method]
            if method.upper() not in _METHODS or not isinstance(op, dict):
                continue
            tags = tuple(str(t) for t in op.get("tags") or ())
            if not rules.allows(str(op.get("operationId", "")), method, path, tags):
                del item[method]
                continue
            kept += 1
            if strip_params and op.get("parameters"):
                op["parameters"] = [p for p in op["parameters"]
                                    if (str(p.get("in")), str(p.get("name", "")).lower()) not in strip_params]
        if strip_params and item.get("parameters"):
            item["parameters"] = [p for p in item["parameters"]
                                  if (str(p.get("in")), str(p.get("name", "")).lower()) not in strip_params]
        if not any(m.upper() in _METHODS for m in item):
            del out["paths"][path]
    return out, kept


# Argument names whose values are masked in traces (a model may pass a credential it was given).
_SECRET_KEYS = ("password", "passwd", "secret", "token", "api_key", "apikey", "api-key", "authorization",
                "credential", "private_key", "access_key", "client_secret", "cookie", "session")


def redact_arguments(args: Any) -> Any:
    """Copy of tool-call ``args`` with values under secret-looking keys replaced by ``"****"`` (recursive)."""
    if isinstance(args, dict):
        return {k: "****" if any(s in str(k).lower() for s in _SECRET_KEYS) else redact_arguments(v)
                for k, v in args.items()}
    if isinstance(args, list):
        return [redact_arguments(v) for v in args]
    return args
