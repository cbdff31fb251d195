"""Sandbox mode and tool recordings (issue 7, docs/guardrails.md).

A sandbox run (``RunService.run(..., sandbox=True)``, GraphQL ``runAgent(sandbox: true)``)
calls no real MCP tool. Each call answers, in order of preference:

1. the **recording** of the same tool, operation and arguments from an earlier real run
   (Redis key ``agentgraph:sandbox:rec:{tenant}:{tool_id}:{operation}:{sha256(args)}``,
   kept ``recording_ttl_s``; stored after PII redaction when the agent redacts);
2. else an answer **generated from the operation's OpenAPI response schema** (the
   tool's resolved document in the graph): deterministic, taking ``example``,
   ``examples``, ``default``, ``const`` and the first ``enum`` value when the schema has
   them, else a typed placeholder (:func:`example_from_schema`).

An ``external`` agent's remote call is recorded and answered the same way (tool id
``external:<agent_id>``, operation ``execute``, arguments ``{"input": ...}``); with no
recording its answer is generated from ``external.output_schema``, else it is a
placeholder that says it is a sandbox answer (:func:`external_sandbox_answer`).

Real runs record every MCP tool answer (``settings.guardrails.record_tool_responses``).
In-process tools run as usual in a sandbox, except those that write
(:data:`WRITING_LOCAL_TOOLS`), which answer that nothing was stored. The Execution is
stored with ``sandbox: true`` and does not count in the agent's success statistics.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from agentgraph.spec import AgentSpec

from runners._guardrails import RunGuard, ToolHook, merge_redactors
from runners._openapi import mcp_tool_name
from runners._pii import Redactor

log = logging.getLogger("agentgraph.sandbox")
#: In-process tools that change stored data; a sandbox run does not call them.
WRITING_LOCAL_TOOLS = frozenset({"remember"})
#: Depth and breadth caps of generated answers (keep them small for the model's context).
MAX_DEPTH = 6
MAX_ITEMS = 2
_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


#: Tool id prefix of an external agent's remote call (``external:<agent_id>``).
EXTERNAL_PREFIX = "external:"


def external_sandbox_answer(spec: AgentSpec | None, agent_id: str) -> str:
    """A sandbox run's answer of an external agent never recorded: from ``external.output_schema``, else a placeholder."""
    schema = spec.external.output_schema if spec is not None and spec.external is not None else None
    if schema:
        value = example_from_schema(schema, name="answer")
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return (f"[sandbox answer] The external agent {agent_id!r} was not called (sandbox run) and no earlier real "
            "answer to this input was recorded; run it once for real, or give external.output_schema.")


def recording_key(tenant_id: str, tool_id: str, operation: str, arguments: dict[str, Any]) -> str:
    """Redis key of a recording: the arguments are hashed as canonical JSON (sorted keys)."""
    digest = hashlib.sha256(json.dumps(arguments or {}, sort_keys=True, default=str).encode()).hexdigest()
    return f"agentgraph:sandbox:rec:{tenant_id}:{tool_id}:{operation}:{digest}"


class ToolRecorder:
    """Stores and finds recorded tool answers in Redis.

    Args:
        redis: ``redis.asyncio.Redis``.
        ttl_s: how long a recording is kept, seconds.
    """

    def __init__(self, redis: Any, ttl_s: float) -> None:
        self.redis = redis
        self.ttl_s = int(ttl_s)

    async def save(self, tenant_id: str, tool_id: str, operation: str, arguments: dict[str, Any], text: str) -> None:
        """Record ``text`` as the answer of this call (replacing an older recording)."""
        await self.redis.set(recording_key(tenant_id, tool_id, operation, arguments), text, ex=self.ttl_s)

    async def find(self, tenant_id: str, tool_id: str, operation: str, arguments: dict[str, Any]) -> str | None:
        """The recorded answer of this call, or None."""
        raw = await self.redis.get(recording_key(tenant_id, tool_id, operation, arguments))
        return raw.decode() if isinstance(raw, bytes) else raw


def example_from_schema(schema: Any, depth: int = 0, name: str = "") -> Any:
    """A deterministic example value of a (resolved) JSON Schema / OpenAPI schema object.

    Explicit values win (``example``, ``examples[0]``, ``default``, ``const``, ``enum[0]``);
    ``allOf`` merges object properties; ``anyOf``/``oneOf`` take the first non-null
    branch; arrays get one item; strings follow their ``format`` (``date-time``,
    ``email``, ...) or read ``"<name> (sandbox)"``; numbers take ``minimum`` or 1.
    """
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_from_schema(part, depth + 1, name)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("anyOf", "oneOf"):
        branches = [b for b in schema.get(key) or [] if isinstance(b, dict) and b.get("type") != "null"]
        if branches:
            return example_from_schema(branches[0], depth + 1, name)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: example_from_schema(v, depth + 1, k) for k, v in props.items()}
    if kind == "array":
        n = max(1, min(int(schema.get("minItems") or 1), MAX_ITEMS))
        return [example_from_schema(schema.get("items") or {}, depth + 1, name) for _ in range(n)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, low if isinstance(low, (int, float)) else 1)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return _string_example(schema, name)


def _string_example(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format", "")
    by_format = {"date-time": "2026-01-01T00:00:00Z", "date": "2026-01-01", "email": "user@sandbox.example",
                 "uri": "https://sandbox.example/", "uuid": "00000000-0000-4000-8000-000000000000"}
    if fmt in by_format:
        return by_format[fmt]
    text = f"{name or 'value'} (sandbox)"
    return text[: schema["maxLength"]] if isinstance(schema.get("maxLength"), int) else text


def response_schema(openapi: dict[str, Any], operation: str) -> dict[str, Any] | None:
    """The JSON response schema of the success answer of the operation MCP names ``operation``.

    Looks for the operation whose ``operationId`` becomes ``operation`` (fastmcp's naming),
    then its first 2xx response (``default`` last) with ``application/json`` (or any) content.
    """
    for item in (openapi.get("paths") or {}).values():
        for method, op in (item or {}).items():
            if method not in _HTTP_METHODS or not isinstance(op, dict):
                continue
            if mcp_tool_name(str(op.get("operationId", ""))) != operation:
                continue
            responses = op.get("responses") or {}
            codes = sorted(c for c in responses if str(c).startswith("2")) + (["default"] if "default" in responses else [])
            for code in codes:
                content = (responses[code] or {}).get("content") or {}
                media = content.get("application/json") or next(iter(content.values()), None)
                if isinstance(media, dict) and "schema" in media:
                    return media["schema"]
            return {}
    return None


class GuardrailServices:
    """Builds each run's :class:`RunGuard` and redactor, and keeps the tool recordings.

    Args:
        redis: Redis for recordings and stashed raw inputs.
        tools: ``graph.ToolRepository`` (OpenAPI documents for generated answers).
        pii_enabled / pii_patterns: platform defaults (``settings.guardrails``).
        record: record real tool answers for later sandbox runs.
        recording_ttl_s: how long recordings are kept, seconds.
    """

    def __init__(self, *, redis: Any, tools: Any, pii_enabled: bool = False,
                 pii_patterns: dict[str, str] | None = None, record: bool = True,
                 recording_ttl_s: float = 30 * 86400) -> None:
        self.redis = redis
        self.tools = tools
        self.pii_enabled = pii_enabled
        self.pii_patterns = dict(pii_patterns or {})
        self.record = record
        self.recorder = ToolRecorder(redis, recording_ttl_s)
        self.default_redactor = Redactor.for_agent(None, default_enabled=pii_enabled, platform_patterns=pii_patterns)

    def redactor_for(self, spec: AgentSpec, parent: RunGuard | None = None) -> Redactor | None:
        """The PII redactor of ``spec``'s runs (None: redaction off); a child run adds its parent's rules."""
        own = Redactor.for_agent(spec.guardrails.pii, default_enabled=self.pii_enabled,
                                 platform_patterns=self.pii_patterns)
        return merge_redactors(parent.redactor if parent is not None else None, own)

    def for_run(self, spec: AgentSpec, *, tenant_id: str, sandbox: bool,
                parent: RunGuard | None = None) -> tuple[RunGuard, Redactor | None]:
        """The guard (with the sandbox or recording tool hook) and redactor of one run (``parent``: a child run's)."""
        redactor = self.redactor_for(spec, parent)
        hook: ToolHook | None = None
        if sandbox:
            hook = self._sandbox_hook(tenant_id, spec)
        elif self.record and (spec.tools or spec.external is not None):
            hook = self._recording_hook(tenant_id, redactor)
        return RunGuard(spec, tool_hook=hook, redactor=redactor, sandbox=sandbox), redactor

    def _recording_hook(self, tenant_id: str, redactor: Redactor | None) -> ToolHook:
        async def hook(tool_id: str, operation: str, arguments: dict[str, Any], real_call: Any) -> str:
            text = await real_call()
            if not tool_id.startswith("local:"):
                try:
                    await self.recorder.save(tenant_id, tool_id, operation, arguments,
                                             redactor.redact(text) if redactor else text)
                except Exception:  # a recording is a convenience: never fail the real run for it
                    log.warning("could not record %s.%s", tool_id, operation, exc_info=True)
            return text
        return hook

    def _sandbox_hook(self, tenant_id: str, spec: AgentSpec | None = None) -> ToolHook:
        docs: dict[str, dict[str, Any]] = {}

        async def hook(tool_id: str, operation: str, arguments: dict[str, Any], real_call: Any) -> str:
            if tool_id.startswith("local:"):
                if operation in WRITING_LOCAL_TOOLS:
                    return "Sandbox mode: nothing was stored."
                return await real_call()
            recorded = await self.recorder.find(tenant_id, tool_id, operation, arguments)
            if recorded is not None:
                return recorded
            if tool_id.startswith(EXTERNAL_PREFIX):  # never the remote platform
                return external_sandbox_answer(spec, tool_id.removeprefix(EXTERNAL_PREFIX))
            if tool_id not in docs:
                tool = await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)
                docs[tool_id] = tool.openapi or {}
            schema = response_schema(docs[tool_id], operation)
            if schema is None:
                return json.dumps({"sandbox": True, "note": f"no recording and no OpenAPI operation {operation!r}"})
            return json.dumps(example_from_schema(schema), ensure_ascii=False)
        return hook

    def store_text(self, spec: AgentSpec, text: str, parent: RunGuard | None = None) -> str:
        """``text`` as it may be stored for ``spec``'s runs (PII redacted when on; a child run's with its parent's rules)."""
        redactor = self.redactor_for(spec, parent)
        return redactor.redact(text) if redactor is not None else text

    # Raw inputs of queued runs: the graph keeps the redacted input, the worker's model needs the real one.
    @staticmethod
    def _input_key(execution_id: str) -> str:
        return f"agentgraph:run-input:{execution_id}"

    async def prepare_queued(self, queued: Any, raw_input: str, sandbox: bool, lifecycle: Any,
                             ttl_s: int = 7 * 86400) -> Any:
        """Before a queued run is submitted: flag it sandbox and keep its real input for the worker.

        The real input (when redaction changed it) is kept in Redis ``ttl_s`` seconds (retried
        attempts read it again).
        """
        if raw_input != queued.input:
            await self.redis.set(self._input_key(queued.id), raw_input, ex=ttl_s)
        if sandbox:
            queued = await lifecycle.mark_sandbox(tenant_id=queued.tenant_id, execution_id=queued.id)
        return queued

    async def for_execution(self, execution: Any, spec: AgentSpec, raw_input: str | None,
                            parent: RunGuard | None = None) -> tuple[RunGuard, Redactor | None, str]:
        """Guard, redactor and the input the model gets (the real one) for one Execution (``parent``: a child's)."""
        guard, redactor = self.for_run(spec, tenant_id=execution.tenant_id, sandbox=execution.sandbox, parent=parent)
        if raw_input is None and redactor is not None:  # a queued run: its real input was stashed
            raw = await self.redis.get(self._input_key(execution.id))
            raw_input = raw.decode() if isinstance(raw, bytes) else raw
        return guard, redactor, raw_input or execution.input


__all__ = ["EXTERNAL_PREFIX", "GuardrailServices", "ToolRecorder", "WRITING_LOCAL_TOOLS", "example_from_schema",
           "external_sandbox_answer", "recording_key", "response_schema"]
