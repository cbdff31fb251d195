"""Guardrails of an AgentSpec (issue 7): output schema, blocked topics, PII redaction.

Imported by :mod:`agentgraph.spec` (field ``AgentSpec.guardrails``). The defaults
change nothing: no output schema, no blocked topic, PII redaction as the platform
settings say (``AGENTGRAPH_GUARDRAILS__PII_ENABLED``, off unless set).

Rules (enforced by ``runners._guardrails`` and ``runners._pii``; docs/guardrails.md):

* ``output_schema``: the final answer must be JSON valid against this JSON Schema
  (checked with ``jsonschema``). One repair attempt sends the validation errors back
  to the model; still invalid -> the run fails with ``OUTPUT_SCHEMA_INVALID``.
* ``blocked_topics``: matched case-insensitively on word boundaries
  (``\\b<topic>\\b``, inner whitespace matches any run of whitespace). An input that
  mentions one is refused before any LLM call; an answer that mentions one is
  withheld. Both fail the run with ``BLOCKED_TOPIC``.
* ``pii``: what is redacted from stored executions, spans, run events and logs.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Built-in PII detectors (regex, plus the Luhn checksum for card numbers): ``runners._pii``.
BuiltinPII = Literal["email", "phone", "credit_card", "iban", "ipv4", "us_ssn"]
BUILTIN_PII: tuple[str, ...] = ("email", "phone", "credit_card", "iban", "ipv4", "us_ssn")
TOPICS_MAX = 32
TOPIC_MAX = 100
PATTERNS_MAX = 16
_NAME = r"^[a-z][a-z0-9_]{0,31}$"


class PIIPattern(BaseModel):
    """A custom PII pattern: occurrences of ``regex`` become ``[REDACTED:<name>]``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=_NAME, description="Lower-case label used in the replacement, e.g. customer_id.")
    regex: str = Field(..., min_length=1, max_length=500, description="Python regular expression.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"regex {v!r} does not compile: {exc}") from exc
        return v


class PIIConfig(BaseModel):
    """PII redaction for storage and telemetry (the model still sees the real input).

    ``enabled`` None follows the platform default (settings ``guardrails.pii_enabled``).
    ``builtins`` None means every built-in detector (:data:`BUILTIN_PII`).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(None, description="Redact PII; null: the platform default.")
    builtins: list[BuiltinPII] | None = Field(
        None, max_length=len(BUILTIN_PII), description="Built-in detectors to use; null: all of them.")
    patterns: list[PIIPattern] = Field(default_factory=list, max_length=PATTERNS_MAX,
                                       description="Extra named regular expressions.")


class GuardrailsConfig(BaseModel):
    """Output schema, blocked topics and PII redaction of one agent (module docstring)."""

    model_config = ConfigDict(extra="forbid")

    output_schema: dict[str, Any] | None = Field(
        None, description="JSON Schema the final answer must satisfy (the answer is then JSON).")
    blocked_topics: list[str] = Field(
        default_factory=list, max_length=TOPICS_MAX,
        description="Topics or phrases refused in the input and withheld from the output "
                    "(case-insensitive, whole words).")
    pii: PIIConfig = Field(default_factory=PIIConfig)

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return v
        from jsonschema import exceptions, validators

        try:
            validators.validator_for(v).check_schema(v)
        except exceptions.SchemaError as exc:
            raise ValueError(f"output_schema is not a valid JSON Schema: {exc.message}") from exc
        return v

    @field_validator("blocked_topics")
    @classmethod
    def _clean_topics(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for t in v:
            t = " ".join(t.split())
            if not t:
                raise ValueError("blocked topics must not be blank")
            if len(t) > TOPIC_MAX:
                raise ValueError(f"blocked topic {t[:20]!r}... is longer than {TOPIC_MAX} characters")
            out.append(t)
        return out

    @property
    def active(self) -> bool:
        """True when a schema or a blocked topic applies (PII is decided with the platform default)."""
        return self.output_schema is not None or bool(self.blocked_topics)


__all__ = ["BUILTIN_PII", "GuardrailsConfig", "PIIConfig", "PIIPattern"]
