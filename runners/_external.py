"""External agents (issue 7): one interface for agents run by remote platforms.

:class:`ExternalAgent` is what every adapter implements (``runners._external_adapters``):
``execute(input, ctx) -> ExternalResult``, ``health_check() -> HealthResult`` and the
agent's ``input_schema`` / ``output_schema``. This module also holds the pieces every
adapter shares: request templates, response extraction (JSONPath via ``jsonpath-ng``,
or dotted paths), JSON Schema checks (``jsonschema``), auth headers, and the errors.

Errors are :class:`agentgraph.errors.RunError` subclasses whose message names the
platform, the HTTP status and what to check, so a failed run says how to fix it.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from agentgraph.errors import RunError, RunTimeoutError
from agentgraph.spec import ExternalAgentConfig, ExternalAuth
from agentgraph.webhooks import signed_headers

__all__ = [
    "ExternalAgent",
    "ExternalAgentError",
    "ExternalContext",
    "ExternalMappingError",
    "ExternalResult",
    "ExternalTimeoutError",
    "HealthResult",
    "auth_headers",
    "check_against_schema",
    "extract",
    "output_text",
    "parse_input",
    "render_template",
    "status_hint",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
_WHOLE = re.compile(r"^\s*\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}\s*$")


class ExternalAgentError(RunError):
    """The remote agent platform failed or refused the call (message: platform, status, what to check)."""

    code = "EXTERNAL_AGENT_FAILED"

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code


class ExternalMappingError(ExternalAgentError):
    """The request could not be built, or the answer not found / not valid in the response."""

    code = "EXTERNAL_MAPPING_FAILED"


class ExternalTimeoutError(RunTimeoutError):
    """The remote platform did not answer within ``external.timeout_s`` (or a crew within ``poll_timeout_s``)."""


@dataclass(frozen=True)
class ExternalContext:
    """Who runs what: passed to :meth:`ExternalAgent.execute` and to request templates."""

    tenant_id: str
    agent_id: str
    run_id: str
    thread_id: str
    #: ``await_callback``: the one-shot URL the platform POSTs its answer to (``{{callback_url}}``).
    callback_url: str | None = None


@dataclass
class ExternalResult:
    """What a remote agent answered.

    Attributes:
        output: the run's output text (the extracted answer; JSON text when it is not a string).
        data: the extracted answer as parsed JSON (what ``output_schema`` checks).
        raw: the whole parsed response (JSON) or its text.
        status_code: HTTP status of the (last) call.
        calls: HTTP calls made (crewai: kickoff plus polls).
    """

    output: str
    data: Any = None
    raw: Any = None
    status_code: int | None = None
    calls: int = 1
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthResult:
    """Outcome of a health check ("Test connection").

    Attributes:
        ok: the platform answered and accepted the credentials.
        latency_ms: round trip of the probe, milliseconds.
        detail: one line for people (what answered, or what to check).
        status_code: HTTP status of the probe (None when nothing answered).
    """

    ok: bool
    latency_ms: float
    detail: str
    status_code: int | None = None


class ExternalAgent(ABC):
    """An agent executed by a remote platform. One adapter per platform (``runners._external_adapters``)."""

    #: Platform name used in errors, spans and docs (``rest``, ``n8n``...).
    platform: str = "rest"

    def __init__(self, config: ExternalAgentConfig) -> None:
        self.config = config

    @property
    def input_schema(self) -> dict[str, Any] | None:
        """JSON Schema the run input (parsed as JSON) must match, or None."""
        return self.config.input_schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """JSON Schema the extracted answer must match, or None."""
        return self.config.output_schema

    @abstractmethod
    async def execute(self, input: str, ctx: ExternalContext) -> ExternalResult:
        """Run the remote agent once on ``input``.

        Raises:
            ExternalAgentError: HTTP error, unreachable platform, refused credentials.
            ExternalMappingError: the input does not match ``input_schema``, or the answer is
                missing from the response / does not match ``output_schema``.
            ExternalTimeoutError: no answer within the timeout.
        """

    @abstractmethod
    async def health_check(self) -> HealthResult:
        """Probe the platform now (never raises: failures are ``ok=False`` with a detail)."""


# --- request side ---------------------------------------------------------------------------
def parse_input(text: str) -> Any:
    """The run input as JSON when it parses as a JSON object or array, else the text itself."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            pass
    return text


def _lookup(values: dict[str, Any], name: str) -> tuple[bool, Any]:
    head, _, rest = name.partition(".")
    if head not in values:
        return False, None
    node = values[head]
    for part in rest.split(".") if rest else ():
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def render_template(template: Any, *, input: str, ctx: ExternalContext, platform: str = "rest") -> Any:
    """Fill ``{{ placeholder }}`` markers in a JSON template (see ``agentgraph._spec_external``).

    ``{{input}}`` is the input text; ``{{input.a.b}}`` a field of the input parsed as JSON.

    Raises:
        ExternalMappingError: a placeholder names something that does not exist (e.g.
            ``{{input.order_id}}`` when the input has no such field).
    """
    parsed = parse_input(input)
    values = {"input": input, "thread_id": ctx.thread_id, "run_id": ctx.run_id, "agent_id": ctx.agent_id}
    if ctx.callback_url:
        values["callback_url"] = ctx.callback_url

    def value_of(name: str) -> Any:
        scope = dict(values, input=parsed) if name.startswith("input.") else values
        found, value = _lookup(scope, name)
        if not found:
            raise ExternalMappingError(
                f"{platform}: the request template uses {{{{{name}}}}} but the run has no such value; "
                "use {{input}}, {{input.<field>}} (input sent as a JSON object), {{thread_id}}, {{run_id}}, "
                "{{agent_id}} or, with await_callback, {{callback_url}}.")
        return value

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            whole = _WHOLE.match(node)
            if whole:
                return value_of(whole.group(1))
            return _PLACEHOLDER.sub(
                lambda m: (lambda v: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))(
                    value_of(m.group(1))), node)
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        return node

    return fill(template)


def auth_headers(auth: ExternalAuth, secret: str | None, body: bytes) -> dict[str, str]:
    """Headers carrying the credentials of ``auth`` (``secret`` is the decrypted stored secret).

    ``hmac`` signs ``body`` exactly as sent (``agentgraph.webhooks.signed_headers``).
    """
    if auth.kind == "none" or secret is None:
        return {}
    if auth.kind == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if auth.kind == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"{auth.username}:{secret}".encode()).decode()}
    if auth.kind == "header":
        return {str(auth.header): secret}
    return signed_headers(secret, body)  # hmac


# --- response side --------------------------------------------------------------------------
_MISSING = object()


@functools.lru_cache(maxsize=256)
def _jsonpath(path: str) -> Any:
    """Compiled JSONPath (jsonpath-ng's parser builds tables per parse: compile once per path)."""
    from jsonpath_ng.ext import parse

    return parse(path)


def extract(data: Any, path: str | None, *, platform: str = "rest") -> Any:
    """The value at ``path`` in ``data``: a JSONPath (``$.data.answer``, ``$.messages[-1].content``,
    via ``jsonpath-ng``'s extended parser) or a dotted path (``data.items.0.text``); None: ``data``.

    Raises:
        ExternalMappingError: nothing at the path (the message shows the keys that exist).
    """
    if not path:
        return data
    if path.startswith("$"):
        matches = [m.value for m in _jsonpath(path).find(data)]
        value = matches[0] if len(matches) == 1 else (matches if matches else _MISSING)
    else:
        value = data
        for part in path.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
                value = value[int(part)]
            else:
                value = _MISSING
                break
    if value is _MISSING:
        shape = sorted(data)[:10] if isinstance(data, dict) else type(data).__name__
        raise ExternalMappingError(
            f"{platform}: the response has nothing at response_path {path!r} (top-level keys: {shape}); "
            "check the response mapping against what the platform answers (Test run shows it).")
    return value


def check_against_schema(value: Any, schema: dict[str, Any] | None, *, what: str, platform: str) -> None:
    """Validate ``value`` against a JSON Schema (draft 2020-12).

    Raises:
        ExternalMappingError: naming the first failing field and the rule it breaks.
    """
    if not schema:
        return
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.path) or "(root)"
        raise ExternalMappingError(
            f"{platform}: the {what} does not match its {what.split()[0]}_schema at {where}: {err.message}")


def output_text(value: Any) -> str:
    """Run output text of an extracted answer: strings as is, other values as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def status_hint(status: int) -> str:
    """What to check for an HTTP error status of a remote platform."""
    if status in (401, 403):
        return "the credentials were refused: check the stored secret named in auth.secret and the auth kind"
    if status == 404:
        return "nothing at that URL: check the URL (is the workflow / scenario / zap active and published?)"
    if status in (400, 422):
        return "the request was refused: check request_template against what the endpoint expects"
    if status == 429:
        return "rate limited by the platform: slow down the triggers or raise the platform's quota"
    if status >= 500:
        return "the remote platform failed: check its execution log; the run can be retried"
    return "check the URL, method and request mapping"
