"""``ExternalAgentConfig``: the ``external`` section of an AgentSpec (issue 7, docs/external-agents.md).

An external agent's run is executed by a remote agent platform (a REST endpoint, an
n8n / Make / Zapier webhook, a LangGraph deployment, a LangServe runnable, a CrewAI
crew) instead of the platform's LangGraph runner. The spec says where to call, how
to authenticate (by the *name* of a stored secret, never the secret itself), how to
build the request body from the run and where the answer is in the response.

Request templates are JSON values whose strings may hold ``{{ placeholder }}``
markers: ``input`` (the run input text), ``input.<dotted.path>`` (a field of the
input when it is a JSON object), ``thread_id``, ``run_id``, ``agent_id`` and, with
``await_callback``, ``callback_url`` (where the platform POSTs its answer). A string
that is exactly one placeholder is replaced by the value itself (objects stay
objects); placeholders inside longer strings are filled as text.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Placeholders a request template may use (besides ``input.<path>``).
TEMPLATE_NAMES = ("input", "thread_id", "run_id", "agent_id", "callback_url")
_SECRET_NAME = r"^[A-Za-z0-9_.\-]{1,64}$"


class ExternalKind(str, Enum):
    """Remote agent platforms with an adapter (``runners._external_adapters``)."""

    rest = "rest"
    n8n = "n8n"
    make = "make"
    zapier = "zapier"
    langgraph = "langgraph"
    langserve = "langserve"
    crewai = "crewai"


class ExternalAuth(BaseModel):
    """How the platform authenticates to the remote agent.

    ``secret`` is the name of a tenant secret stored encrypted by the platform
    (GraphQL ``setAgentSecret``); the value never appears in the spec.

    * ``none``: no credentials.
    * ``bearer``: ``Authorization: Bearer <secret>``.
    * ``basic``: HTTP Basic with ``username`` and the secret as password.
    * ``header``: header ``header`` (e.g. ``X-API-Key``) set to the secret.
    * ``hmac``: the body signed with the secret, HMAC-SHA256 over ``"<timestamp>.<body>"``,
      sent as ``X-Agentgraph-Timestamp`` / ``X-Agentgraph-Signature: sha256=<hex>``
      (the same scheme as the platform's own webhooks, ``agentgraph.webhooks``).
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["none", "bearer", "basic", "header", "hmac"] = "none"
    secret: str | None = Field(None, pattern=_SECRET_NAME, description="Name of the stored secret (not its value).")
    username: str | None = Field(None, max_length=256, description="basic: the user name.")
    header: str | None = Field(None, max_length=128, pattern=r"^[A-Za-z0-9\-_]+$",
                               description="header: the header carrying the secret (e.g. X-API-Key).")

    @model_validator(mode="after")
    def _complete(self) -> "ExternalAuth":
        if self.kind != "none" and not self.secret:
            raise ValueError(f"auth kind {self.kind!r} needs `secret`: the name of a stored secret "
                             "(create it with the GraphQL mutation setAgentSecret)")
        if self.kind == "basic" and not self.username:
            raise ValueError("auth kind 'basic' needs `username`")
        if self.kind == "header" and not self.header:
            raise ValueError("auth kind 'header' needs `header`, the header name (e.g. X-API-Key)")
        return self


class ExternalAgentConfig(BaseModel):
    """Where and how an external agent is called (see module docstring).

    Defaults per ``kind`` (applied by the adapter when a field is left empty):
    request ``{"input": "{{input}}", "thread_id": ..., "run_id": ...}`` for rest/n8n/make/zapier,
    ``{"messages": [{"role": "user", "content": "{{input}}"}]}`` for langgraph,
    ``"{{input}}"`` for langserve (sent as ``{"input": ...}``), ``{"input": "{{input}}"}`` as crewai ``inputs``;
    the answer is the whole response unless ``response_path`` says where it is.
    """

    model_config = ConfigDict(extra="forbid")

    kind: ExternalKind
    url: str = Field(..., min_length=8, max_length=2048, description="http(s) URL of the endpoint / deployment.")
    method: Literal["POST", "PUT", "PATCH", "GET"] = Field("POST", description="rest only; others use their own.")
    headers: dict[str, str] = Field(default_factory=dict, max_length=16,
                                    description="Extra non-secret headers (secrets go in `auth`).")
    auth: ExternalAuth = Field(default_factory=ExternalAuth)
    request_template: Any = Field(
        None, description="JSON body with {{input}}, {{input.<path>}}, {{thread_id}}, {{run_id}}, {{agent_id}}.")
    response_path: str | None = Field(
        None, max_length=256,
        description="Where the answer is in the JSON response: a JSONPath ($.data.answer) or a dotted path.")
    input_schema: dict[str, Any] | None = Field(None, description="JSON Schema the run input (as JSON) must match.")
    output_schema: dict[str, Any] | None = Field(None, description="JSON Schema the extracted answer must match.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Timeout of one HTTP call, seconds.")
    health_path: str | None = Field(None, max_length=256,
                                    description="Path GETted by the health check (default per kind).")
    assistant_id: str | None = Field(None, max_length=128, description="langgraph: graph / assistant id.")
    poll_interval_s: float = Field(1.0, gt=0, le=60, description="crewai: seconds between status polls.")
    poll_timeout_s: float = Field(300.0, gt=0, le=3600, description="crewai: give up polling after this many s.")
    await_callback: bool = Field(
        False, description="Asynchronous platforms (zapier, make, n8n, rest): send {{callback_url}} and wait for the "
                           "platform to POST the answer there; response_path then applies to that callback body.")
    callback_timeout_s: float = Field(300.0, gt=0, le=3600, description="How long to wait for the callback, s.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip()
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be an http(s) URL with a host, got {v!r}")
        return v

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(v)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        return v

    @field_validator("response_path")
    @classmethod
    def _valid_path(cls, v: str | None) -> str | None:
        if v is None or not v.startswith("$"):
            return v
        from jsonpath_ng.ext import parse
        from jsonpath_ng.exceptions import JsonPathParserError

        try:
            parse(v)
        except (JsonPathParserError, Exception) as exc:  # the lexer raises plain Exceptions too
            raise ValueError(f"response_path is not a valid JSONPath: {exc}") from exc
        return v

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if name.lower() in ("authorization", "proxy-authorization", "cookie", "x-api-key"):
                raise ValueError(f"header {name!r} carries credentials: configure it in `auth` with a stored secret")
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> "ExternalAgentConfig":
        if self.kind is ExternalKind.langgraph and not self.assistant_id:
            raise ValueError("kind 'langgraph' needs `assistant_id` (the graph id from langgraph.json, e.g. 'agent')")
        if self.await_callback and self.kind in (ExternalKind.langgraph, ExternalKind.langserve,
                                                 ExternalKind.crewai):
            raise ValueError(f"await_callback applies to webhook platforms; {self.kind.value} answers synchronously")
        if self.kind is not ExternalKind.rest and self.method != "POST":
            raise ValueError(f"`method` applies to kind 'rest' only; {self.kind.value} endpoints take POST")
        return self


__all__ = ["ExternalAgentConfig", "ExternalAuth", "ExternalKind", "TEMPLATE_NAMES"]
