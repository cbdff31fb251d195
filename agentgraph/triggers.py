"""Agent triggers: what starts a run (part of the ``AgentSpec`` contract, field ``triggers``).

A trigger is data; where it runs is decided elsewhere. ``argo`` exports each one as
an Argo Events EventSource + Sensor pair (``agentgraph argo export``); the local
trigger service (issue 6, triggers part) serves the same specs on one machine.

Kinds and the run input they produce:

* ``webhook``: an HTTP endpoint; the input is read from the JSON payload at
  ``input_key`` (a dotted path into the event, Argo Events ``dataKey`` syntax:
  ``body.input`` = the request body's ``input`` field). Served locally at
  ``POST /hooks/{token}`` (docs/triggers.md): HMAC-SHA256 signed, optional JSON
  schema (``payload_schema``), IP allow-list (``allow_ips``) and ``input_template``.
* ``calendar``: a cron ``schedule`` in an IANA ``timezone``; the input is the fixed ``input``.
* ``s3``: object notifications of an S3-compatible store (MinIO); the input is
  ``input`` followed by the object key (``notification.0.s3.object.key``).
* ``kafka``: messages of a topic; the input is read at ``input_key`` (``body`` =
  the whole message).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

_NAME_RE = r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$"
_CRON_FIELDS = 5


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=_NAME_RE,
                      description="Trigger name, unique per agent: lower-case letters, digits, dashes (<= 32).")
    enabled: bool = True
    thread_id: str | None = Field(None, max_length=64,
                                  description="Run every event in this conversation thread (default: a new thread).")


class WebhookTrigger(_Trigger):
    """An HTTP endpoint; a POST with a JSON body starts a run."""

    kind: Literal["webhook"] = "webhook"
    endpoint: str = Field("/run", pattern=r"^/[A-Za-z0-9/_.-]*$", description="Path served by the event source.")
    method: Literal["POST", "PUT"] = "POST"
    port: int = Field(12000, ge=1, le=65535, description="Port of the event-source pod (Argo Events default 12000).")
    input_key: str = Field("body.input", max_length=200, description="Dotted path of the run input in the event.")
    payload_schema: dict[str, Any] | None = Field(
        None, description="JSON schema the request body must match (local webhooks answer 422 otherwise).")
    allow_ips: list[str] = Field(default_factory=list, max_length=32,
                                 description="Caller IPs or CIDRs allowed (empty: any), e.g. 192.0.2.0/24.")
    input_template: str | None = Field(
        None, max_length=2000, description="Run input with {{ dotted.path }} placeholders filled from the body; "
                                           "unset: the body as JSON.")

    @field_validator("allow_ips")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        from agentgraph.errors import UserError
        from agentgraph.webhooks import parse_allow_list

        try:
            parse_allow_list(v)
        except UserError as exc:
            raise ValueError(exc.message) from None
        return v

    @field_validator("payload_schema")
    @classmethod
    def _schema(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        from agentgraph.errors import UserError
        from agentgraph.webhooks import check_json_schema

        try:
            if v is not None:
                check_json_schema(v)
        except UserError as exc:
            raise ValueError(exc.message) from None
        return v


class CalendarTrigger(_Trigger):
    """A cron schedule in a time zone; each tick starts a run with a fixed input."""

    kind: Literal["calendar"] = "calendar"
    schedule: str = Field(..., max_length=100, description="Cron expression, 5 fields (minute hour dom month dow).")
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Berlin.")
    input: str = Field(..., min_length=1, max_length=2000, description="Run input sent on every tick.")

    @field_validator("schedule")
    @classmethod
    def _five_fields(cls, v: str) -> str:
        if len(v.split()) != _CRON_FIELDS:
            raise ValueError(f"schedule {v!r} must have 5 cron fields, e.g. '0 9 * * 1-5' (09:00 on weekdays)")
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"schedule {v!r} is not a valid cron expression, e.g. '*/15 * * * *' (every 15 min)")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'") from None
        return v


class S3Trigger(_Trigger):
    """Object notifications of an S3-compatible bucket (MinIO); each new object starts a run."""

    kind: Literal["s3"] = "s3"
    bucket: str = Field(..., min_length=3, max_length=63)
    endpoint: str = Field("minio:9000", max_length=200, description="host:port of the S3 API (no scheme).")
    prefix: str = Field("", max_length=200)
    suffix: str = Field("", max_length=50)
    events: list[str] = Field(default_factory=lambda: ["s3:ObjectCreated:Put"], min_length=1, max_length=8)
    insecure: bool = Field(False, description="Plain HTTP to the endpoint (in-cluster MinIO without TLS).")
    credentials_secret: str = Field("minio-credentials", max_length=253,
                                    description="Kubernetes Secret with keys accesskey and secretkey.")
    input: str = Field("Process the new object:", max_length=2000,
                       description="Text put before the object key in the run input.")


class KafkaTrigger(_Trigger):
    """Messages of a Kafka topic; each message starts a run."""

    kind: Literal["kafka"] = "kafka"
    url: str = Field(..., max_length=500, description="Bootstrap servers, comma-separated host:port.")
    topic: str = Field(..., min_length=1, max_length=249)
    consumer_group: str = Field("agentgraph", max_length=200)
    input_key: str = Field("body.input", max_length=200,
                           description="Dotted path of the run input in the event (body = the whole message).")


TriggerSpec = Annotated[
    Union[WebhookTrigger, CalendarTrigger, S3Trigger, KafkaTrigger], Field(discriminator="kind")
]
"""One trigger of an agent, discriminated by ``kind`` (webhook | calendar | s3 | kafka)."""

_ADAPTER: TypeAdapter[TriggerSpec] = TypeAdapter(TriggerSpec)
TRIGGER_KINDS = ("webhook", "calendar", "s3", "kafka")


def parse_trigger(data: object) -> WebhookTrigger | CalendarTrigger | S3Trigger | KafkaTrigger:
    """Validate one trigger mapping (``{"kind": "calendar", "name": ..., ...}``).

    Raises:
        pydantic.ValidationError: unknown kind or invalid field (AgentSpec.parse wraps it
            into an ``InvalidSpecError`` naming the field).
    """
    return _ADAPTER.validate_python(data)


def trigger_slug(text: str) -> str:
    """Kubernetes-name-safe slug (lower-case, dashes, <= 40 chars) used in manifest names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "agent"


__all__ = [
    "TRIGGER_KINDS",
    "CalendarTrigger",
    "KafkaTrigger",
    "S3Trigger",
    "TriggerSpec",
    "WebhookTrigger",
    "parse_trigger",
    "trigger_slug",
]
