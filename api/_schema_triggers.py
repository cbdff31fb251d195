"""GraphQL for triggers (issue 6): query ``triggers(agentId)``; mutations ``createWebhookTrigger``,
``createScheduleTrigger``, ``syncAgentTriggers`` (from the AgentSpec), ``deleteTrigger``, ``rotateWebhookSecret``.

A webhook's URL and signing secret are returned once (``createWebhookTrigger``; the
secret again by ``rotateWebhookSecret``); no query returns them.
"""

from __future__ import annotations

from datetime import datetime, timezone

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError
from graph import TriggerRecord
from runners import TriggerService, next_fire

from api._platform import Platform


def _svc(info: Info) -> tuple[Platform, TriggerService]:
    p: Platform = info.context["platform"]
    if p.triggers is None:
        raise ServiceUnavailableError("Triggers are not started on this server.")
    return p, p.triggers


@strawberry.type(description="What starts an agent's runs from outside: a webhook or a cron schedule.")
class Trigger:
    id: strawberry.ID
    agent_id: str
    kind: str = strawberry.field(description="'webhook' or 'schedule'.")
    name: str
    enabled: bool
    config: JSON = strawberry.field(description="webhook: payloadSchema, allowIps, inputTemplate, threadId, "
                                                "toleranceS, maxBodyBytes; schedule: cron, timezone, input, threadId.")
    created_at: str
    last_fired_at: str | None
    last_run_id: str | None
    fire_count: int
    next_fire_at: str | None = strawberry.field(description="Next slot of a schedule (UTC, ISO 8601).")

    @classmethod
    def from_record(cls, t: TriggerRecord) -> "Trigger":
        cfg = t.config
        nxt = None
        if t.kind == "schedule" and cfg.get("cron"):
            nxt = next_fire(cfg["cron"], cfg.get("timezone", "UTC"), datetime.now(timezone.utc)).isoformat()
        camel = {"payload_schema": "payloadSchema", "allow_ips": "allowIps", "input_template": "inputTemplate",
                 "thread_id": "threadId", "tolerance_s": "toleranceS", "max_body_bytes": "maxBodyBytes"}
        return cls(id=strawberry.ID(t.id), agent_id=t.agent_id, kind=t.kind, name=t.name, enabled=t.enabled,
                   config={camel.get(k, k): v for k, v in cfg.items()}, created_at=t.created_at,
                   last_fired_at=t.last_fired_at, last_run_id=t.last_run_id, fire_count=t.fire_count,
                   next_fire_at=nxt)


@strawberry.type(description="A new webhook: its URL and signing secret are shown only now.")
class WebhookTriggerCreated:
    trigger: Trigger
    url: str = strawberry.field(description="POST JSON here (the token in it is the trigger's address).")
    secret: str = strawberry.field(description="HMAC-SHA256 key: sign 'timestamp.body' (docs/triggers.md).")


@strawberry.type(description="A webhook's new signing secret (the old one no longer verifies).")
class WebhookSecretRotated:
    trigger: Trigger
    secret: str


@strawberry.type(description="A trigger created from the AgentSpec; a webhook's URL and secret are shown once.")
class SyncedTrigger:
    trigger: Trigger
    url: str | None
    secret: str | None


@strawberry.type
class TriggerQuery:
    @strawberry.field(description="Triggers of the tenant, optionally of one agent, oldest first.")
    async def triggers(self, info: Info, agent_id: str | None = None) -> list[Trigger]:
        p, _ = _svc(info)
        return [Trigger.from_record(t) for t in await p.triggers.triggers.list(tenant_id=p.tenant_id,
                                                                                 agent_id=agent_id)]


@strawberry.type
class TriggerMutation:
    @strawberry.mutation(description="Create a webhook trigger; returns its URL and signing secret once.")
    async def create_webhook_trigger(self, info: Info, agent_id: str, name: str | None = None,
                                     payload_schema: JSON | None = None, allow_ips: list[str] | None = None,
                                     input_template: str | None = None, thread_id: str | None = None,
                                     tolerance_s: int = 300, max_body_bytes: int = 262_144) -> WebhookTriggerCreated:
        p, svc = _svc(info)
        rec, url, secret = await svc.create_webhook(
            tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, name=name, payload_schema=payload_schema,
            allow_ips=allow_ips, input_template=input_template, thread_id=thread_id, tolerance_s=tolerance_s,
            max_body_bytes=max_body_bytes)
        return WebhookTriggerCreated(trigger=Trigger.from_record(rec), url=url, secret=secret)

    @strawberry.mutation(description="Create a cron schedule (5 fields) in an IANA time zone with a fixed input.")
    async def create_schedule_trigger(self, info: Info, agent_id: str, cron: str, input: str,
                                      timezone: str = "UTC", name: str | None = None,
                                      thread_id: str | None = None) -> Trigger:
        p, svc = _svc(info)
        rec = await svc.create_schedule(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, cron=cron,
                                        timezone=timezone, input=input, name=name, thread_id=thread_id)
        return Trigger.from_record(rec)

    @strawberry.mutation(description="Create the webhook and calendar triggers declared in the agent's AgentSpec "
                                     "(`triggers`) that it does not have yet; returns those created.")
    async def sync_agent_triggers(self, info: Info, agent_id: str) -> list[SyncedTrigger]:
        p, svc = _svc(info)
        made = await svc.sync_from_spec(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id)
        return [SyncedTrigger(trigger=Trigger.from_record(t), url=u, secret=s) for t, u, s in made]

    @strawberry.mutation(description="Delete a trigger (a webhook URL answers 404 afterwards); returns its id.")
    async def delete_trigger(self, info: Info, id: strawberry.ID) -> strawberry.ID:
        p, svc = _svc(info)
        await svc.delete(tenant_id=p.tenant_id, trigger_id=str(id))
        return id

    @strawberry.mutation(description="Give a webhook a new signing secret, returned once; the old one stops working.")
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> WebhookSecretRotated:
        p, svc = _svc(info)
        rec, secret = await svc.rotate_secret(tenant_id=p.tenant_id, trigger_id=str(id))
        return WebhookSecretRotated(trigger=Trigger.from_record(rec), secret=secret)


__all__ = ["TriggerMutation", "TriggerQuery"]
