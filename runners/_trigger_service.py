"""Triggers as a service: create/rotate/delete webhook and schedule triggers, and start their runs.

Secrets: a webhook has a URL token (``secrets.token_urlsafe(32)``, 256 bits; only its
SHA-256 is stored, so a leaked graph does not reveal URLs) and a signing secret
(``whsec_`` + 256 random bits) kept encrypted with the platform's Fernet keys
(:class:`~agentgraph.secrets.SecretBox`): verifying an HMAC needs the secret itself.
Both are returned once, at creation (the secret again by :meth:`rotate_secret`).

Starting a run: with a queue/Argo executor configured, ``RunService.run`` queues it
and returns at once. Without one (the inline default) a webhook must still answer
fast, so the Execution is stored as ``queued`` here and run in a background task
of this process (``RunService.run(execution_id=...)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import datetime
from typing import Any

from agentgraph.errors import UserError
from agentgraph.secrets import SecretBox
from agentgraph.webhooks import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE_S, check_json_schema, parse_allow_list
from graph import Execution, TriggerRecord, TriggerRepository, new_id, now_iso

from runners._events import RunEvent, RunEventBus
from runners._idempotency import IdempotencyStore
from runners._scheduler import check_schedule
from runners._service import MAX_INPUT_CHARS, RunService

log = logging.getLogger("agentgraph.triggers")
_NAME_MAX = 64


def token_hash(token: str) -> str:
    """SHA-256 hex of a webhook URL token (what the graph stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _name(name: str | None, kind: str) -> str:
    name = (name or f"{kind}-{secrets.token_hex(3)}").strip()
    if not name or len(name) > _NAME_MAX:
        raise UserError(f"A trigger name must be 1..{_NAME_MAX} characters.")
    return name


class TriggerService:
    """Trigger management and run starts (see module docstring).

    Args:
        triggers: trigger repository.
        runs: the run service.
        idempotency: the idempotency-key store.
        box: encrypts signing secrets at rest.
        public_url: the platform's public base URL (webhook URLs are ``{public_url}/hooks/{token}``).
        events: run event bus; publishes ``queued`` for runs this service queues itself
            (default: the run service's bus).
        cache_s: how long a webhook token lookup is cached, seconds.
    """

    def __init__(self, *, triggers: TriggerRepository, runs: RunService, idempotency: IdempotencyStore,
                 box: SecretBox, public_url: str, events: RunEventBus | None = None, cache_s: float = 5.0) -> None:
        self.triggers = triggers
        self.runs = runs
        self.idempotency = idempotency
        self.box = box
        self.public_url = public_url.rstrip("/")
        self.events = events
        self.cache_s = cache_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cache: dict[str, tuple[float, tuple[TriggerRecord, list[str]] | None]] = {}
        self._fired: dict[str, tuple[int, str, str]] = {}  # trigger id -> (fires, last at, last run id)

    def hook_url(self, token: str) -> str:
        """Public URL of a webhook token."""
        return f"{self.public_url}/hooks/{token}"

    # --- management ------------------------------------------------------------------------------------
    async def create_webhook(self, *, tenant_id: str, user_id: str | None, agent_id: str, name: str | None = None,
                             payload_schema: dict[str, Any] | None = None, allow_ips: list[str] | None = None,
                             input_template: str | None = None, thread_id: str | None = None,
                             tolerance_s: int = DEFAULT_TOLERANCE_S,
                             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> tuple[TriggerRecord, str, str]:
        """Create a webhook trigger; return ``(trigger, url, secret)`` (URL and secret are shown once).

        Raises:
            UserError: invalid schema, allow-list entry, tolerance or size.
            NotFoundError: unknown agent. ConflictError: duplicate name.
        """
        if payload_schema is not None:
            check_json_schema(payload_schema)
        parse_allow_list(allow_ips or [])
        if not 30 <= tolerance_s <= 3600:
            raise UserError("tolerance_s must be between 30 and 3600 seconds (default 300).")
        if not 1 <= max_body_bytes <= 10 * 1024 * 1024:
            raise UserError("max_body_bytes must be between 1 and 10485760 (10 MiB).")
        token, secret = secrets.token_urlsafe(32), "whsec_" + secrets.token_urlsafe(32)
        config = {"payload_schema": payload_schema, "allow_ips": allow_ips or [], "input_template": input_template,
                  "thread_id": thread_id, "tolerance_s": tolerance_s, "max_body_bytes": max_body_bytes}
        rec = await self.triggers.create(tenant_id=tenant_id, agent_id=agent_id, kind="webhook",
                                         name=_name(name, "webhook"), config=config, created_by=user_id,
                                         token_hash=token_hash(token), secret_enc=self.box.encrypt(secret))
        return rec, self.hook_url(token), secret

    async def create_schedule(self, *, tenant_id: str, user_id: str | None, agent_id: str, cron: str,
                              timezone: str = "UTC", input: str, name: str | None = None,
                              thread_id: str | None = None) -> TriggerRecord:
        """Create a schedule trigger (cron in an IANA time zone, fixed run input).

        Raises:
            UserError: invalid cron, zone or input. NotFoundError / ConflictError as for webhooks.
        """
        check_schedule(cron, timezone)
        if not input.strip() or len(input) > MAX_INPUT_CHARS:
            raise UserError(f"A schedule's input must be 1..{MAX_INPUT_CHARS} characters.")
        config = {"cron": cron.strip(), "timezone": timezone, "input": input, "thread_id": thread_id}
        return await self.triggers.create(tenant_id=tenant_id, agent_id=agent_id, kind="schedule",
                                          name=_name(name, "schedule"), config=config, created_by=user_id)

    async def sync_from_spec(self, *, tenant_id: str, user_id: str | None, agent_id: str
                             ) -> list[tuple[TriggerRecord, str | None, str | None]]:
        """Create the local triggers declared in the agent's active (else latest) AgentSpec.

        ``webhook`` and ``calendar`` (-> ``schedule``) entries whose name the agent does not
        have yet are created; existing names are left alone (delete one to re-create it);
        disabled entries and ``s3``/``kafka`` (Argo Events only) are skipped.

        Returns:
            ``[(trigger, url, secret)]`` for the triggers created; url/secret only for webhooks,
            shown once.
        """
        from agentgraph.spec import AgentSpec
        from agentgraph.triggers import CalendarTrigger, WebhookTrigger

        av = await self.runs.agents.get_version(tenant_id=tenant_id, agent_id=agent_id)
        spec = AgentSpec.from_yaml(av.spec_yaml)
        have = {t.name for t in await self.triggers.list(tenant_id=tenant_id, agent_id=agent_id)}
        out: list[tuple[TriggerRecord, str | None, str | None]] = []
        for t in spec.triggers:
            if not t.enabled or t.name in have:
                continue
            if isinstance(t, WebhookTrigger):
                rec, url, secret = await self.create_webhook(
                    tenant_id=tenant_id, user_id=user_id, agent_id=agent_id, name=t.name,
                    payload_schema=t.payload_schema, allow_ips=t.allow_ips, input_template=t.input_template,
                    thread_id=t.thread_id)
                out.append((rec, url, secret))
            elif isinstance(t, CalendarTrigger):
                rec = await self.create_schedule(tenant_id=tenant_id, user_id=user_id, agent_id=agent_id,
                                                 cron=t.schedule, timezone=t.timezone, input=t.input, name=t.name,
                                                 thread_id=t.thread_id)
                out.append((rec, None, None))
        return out

    async def rotate_secret(self, *, tenant_id: str, trigger_id: str) -> tuple[TriggerRecord, str]:
        """Give a webhook a new signing secret (the old one stops working at once); return it once."""
        secret = "whsec_" + secrets.token_urlsafe(32)
        rec = await self.triggers.set_secret(tenant_id=tenant_id, trigger_id=trigger_id,
                                             secret_enc=self.box.encrypt(secret))
        self.forget(trigger_id)
        return rec, secret

    async def resolve_webhook(self, token: str) -> tuple[TriggerRecord, list[str]] | None:
        """The enabled webhook trigger of a URL token and its signing secrets, or None.

        Cached ``cache_s`` per process (a webhook burst costs one graph read); rotations and
        deletions made in this process take effect at once, in other processes within ``cache_s``.
        """
        th = token_hash(token)
        loop = asyncio.get_running_loop()
        hit = self._cache.get(th)
        if hit is not None and loop.time() - hit[0] < self.cache_s:
            return hit[1]
        found = await self.triggers.find_webhook(th)
        value = None
        if found is not None and found[0].enabled:
            value = (found[0], [self.box.decrypt(found[1])])
        self._cache[th] = (loop.time(), value)
        if len(self._cache) > 10_000:  # bound memory under a flood of random tokens
            self._cache.clear()
        return value

    def forget(self, trigger_id: str) -> None:
        """Drop cached lookups of a trigger (after rotate/delete)."""
        for th, (_, value) in list(self._cache.items()):
            if value is None or value[0].id == trigger_id:
                self._cache.pop(th, None)

    async def delete(self, *, tenant_id: str, trigger_id: str) -> None:
        """Delete a trigger (its webhook URL answers 404 from now on)."""
        await self.triggers.delete(tenant_id=tenant_id, trigger_id=trigger_id)
        self.forget(trigger_id)

    def note_fired(self, trigger: TriggerRecord, run_id: str) -> None:
        """Record a webhook fire on the Trigger node, batched: at most one graph write per trigger per second."""
        count, _, _ = self._fired.get(trigger.id, (0, "", ""))

        self._fired[trigger.id] = (count + 1, now_iso(), run_id)
        if count == 0:
            task = asyncio.create_task(self._flush_fired(trigger.id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush_fired(self, trigger_id: str) -> None:
        await asyncio.sleep(1.0)
        count, at, run_id = self._fired.pop(trigger_id, (0, "", ""))
        if count:
            try:
                await self.triggers.mark_fired(trigger_id=trigger_id, fired_at=at, run_id=run_id, count=count)
            except Exception:
                log.warning("could not record %d fires of trigger %s", count, trigger_id, exc_info=True)

    # --- runs --------------------------------------------------------------------------------------------
    async def start_run(self, trigger: TriggerRecord, input: str, *, idempotency_key: str | None = None,
                        thread_id: str | None = None) -> tuple[Execution, bool]:
        """Start (queue) a run of the trigger's agent; return ``(execution, created)``.

        ``created`` is False when ``idempotency_key`` was seen before: the first run is returned.

        Raises:
            UserError: empty or oversized input; NotFoundError: the agent has no version.
            IdempotencyInFlightError: a concurrent duplicate is still starting.
        """
        thread_id = thread_id or trigger.config.get("thread_id")

        async def start() -> Execution:
            return await self._queue(trigger.tenant_id, trigger.agent_id, input, thread_id,
                                     triggered_by=trigger.created_by)

        if idempotency_key:
            async def load(run_id: str) -> Execution:
                return await self.runs.executions.get(tenant_id=trigger.tenant_id, execution_id=run_id)

            return await self.idempotency.run_once(tenant_id=trigger.tenant_id, agent_id=trigger.agent_id,
                                                   key=idempotency_key, start=start, run_id_of=lambda e: e.id,
                                                   load=load)
        return await start(), True

    async def fire_schedule(self, trigger: TriggerRecord, slot: datetime) -> str:
        """Start the run of one schedule slot (the scheduler's ``fire``); return the run id."""
        execution, _ = await self.start_run(trigger, trigger.config["input"])
        log.info("schedule %s fired slot %s as run %s", trigger.id, slot.isoformat(), execution.id)
        return execution.id

    async def _queue(self, tenant_id: str, agent_id: str, input: str, thread_id: str | None, *,
                     triggered_by: str | None) -> Execution:
        if not input.strip():
            raise UserError("The run input is empty; send a payload (or fix the trigger's input_template).")
        if len(input) > MAX_INPUT_CHARS:
            raise UserError(f"The run input has {len(input)} characters; the limit is {MAX_INPUT_CHARS}.")
        runs = self.runs
        if runs.executor is not None:  # the worker queue or Argo: queued and returned at once
            return await runs.run(tenant_id=tenant_id, user_id=triggered_by, agent_id=agent_id, input=input,
                                  thread_id=thread_id)
        av = await runs.agents.get_version(tenant_id=tenant_id, agent_id=agent_id)
        queued = await runs.executions.start(tenant_id=tenant_id, agent_id=agent_id, version=av.version,
                                             thread_id=thread_id or new_id("thr"), input=input,
                                             triggered_by=triggered_by, status="queued")
        events = self.events or self.runs.events
        if events is not None:
            try:
                await events.publish(RunEvent(run_id=queued.id, tenant_id=tenant_id, agent_id=agent_id,
                                                   status="queued", data={"version": av.version}))
            except Exception:  # events are best effort; the Execution is the record
                log.warning("could not publish the queued event of %s", queued.id, exc_info=True)
        task = asyncio.create_task(self._run_inline(queued))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return queued

    async def _run_inline(self, queued: Execution) -> None:
        try:
            await self.runs.run(tenant_id=queued.tenant_id, user_id=queued.triggered_by, agent_id=queued.agent_id,
                                input=queued.input, thread_id=queued.thread_id, execution_id=queued.id)
        except Exception:
            log.exception("background run %s failed to start", queued.id)

    async def drain(self, timeout_s: float = 30.0) -> None:
        """Wait (up to ``timeout_s``) for background runs, then cancel the rest (shutdown)."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


__all__ = ["TriggerService", "token_hash"]
