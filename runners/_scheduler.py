"""Cron schedules with time zones: fire each due slot exactly once across restarts and API processes.

Library: ``croniter`` 7 (Pallets-eco maintained; 5-field cron, DST-aware iteration
over ``zoneinfo`` datetimes). We need cron *arithmetic* only - the next and the
latest slot of an expression in a zone - not a job store or executor:
APScheduler 3 would bring its own in-memory job store that knows nothing of other
API processes, and claiming a slot in Redis would still be ours to do.

Exactly-once firing:

* Every API process runs a :class:`Scheduler` loop (built by ``Platform.start``, started
  by the API app's lifespan; workers and runner pods do not run it).
  For each enabled schedule trigger it computes the latest due slot; before
  starting a run it claims ``agentgraph:schedule:{trigger_id}:{slot_unix_s}`` with
  Redis ``SET NX`` (kept ``CLAIM_TTL_S``). Only the process that wins the claim fires.
* The slot fired is persisted as the trigger's ``last_fired_at``; a slot at or
  before it (or before the trigger's ``created_at``) never fires.
* Restarts: only the *latest* due slot is considered, so a platform that was down
  for hours fires at most one catch-up run, and only when that slot is at most
  ``misfire_grace_s`` old (default 3600 s, APScheduler's "misfire grace time" idea);
  older missed slots are skipped.
* A run that cannot be started (graph down) releases its claim; the next tick retries
  within the grace time.

DST (checked in tests/unit/test_triggers_cron.py): a wall-clock time skipped in spring
(02:30 on the night clocks jump 02:00 -> 03:00) fires at 03:00 (croniter; Vixie cron does
the same). A wall-clock time repeated in autumn fires once (the first occurrence) when
the hour field is fixed (``30 2 * * *``); expressions with ``*`` or a step in the hour
field fire on every real hour, twice in the repeated hour, as Vixie cron does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis.asyncio as aioredis
from croniter import croniter

from agentgraph.errors import UserError
from graph import TriggerRecord, TriggerRepository

from runners._periodic import Periodic

log = logging.getLogger("agentgraph.scheduler")
#: How long a slot claim is kept, seconds (7 days: far longer than any grace time).
CLAIM_TTL_S = 7 * 24 * 3600
#: ``async fire(trigger, slot) -> run id`` starts the run of one slot.
FireFn = Callable[[TriggerRecord, datetime], Awaitable[str | None]]


def check_schedule(cron: str, tz: str) -> ZoneInfo:
    """Validate a 5-field cron expression and an IANA time zone; return the zone.

    Raises:
        UserError: invalid expression or unknown zone, with an example of a valid one.
    """
    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise UserError(f"{cron!r} is not a 5-field cron expression (minute hour day month weekday), "
                        "e.g. '0 9 * * 1-5' for 09:00 on weekdays.")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"Unknown time zone {tz!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'.") from None


def _fixed_hour(cron: str) -> bool:
    hour = cron.split()[1]
    return "*" not in hour and "/" not in hour


def _wall(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.astimezone(tz).replace(tzinfo=None)


def next_fire(cron: str, tz: str, after: datetime) -> datetime:
    """First slot strictly after ``after`` (aware datetime), in UTC."""
    zone = check_schedule(cron, tz)
    it = croniter(cron, after.astimezone(zone))
    slot = it.get_next(datetime)
    if _fixed_hour(cron):
        prev = croniter(cron, slot).get_prev(datetime)
        if _wall(prev, zone) == _wall(slot, zone):  # the repeat of an autumn wall time: skip it
            slot = it.get_next(datetime)
    return slot.astimezone(timezone.utc)


def due_slot(cron: str, tz: str, now: datetime) -> datetime:
    """Latest slot at or before ``now`` (aware datetime), in UTC."""
    zone = check_schedule(cron, tz)
    # +1 s: croniter's get_prev excludes its start, and a slot exactly at ``now`` is due.
    slot = croniter(cron, (now + timedelta(seconds=1)).astimezone(zone)).get_prev(datetime)
    if _fixed_hour(cron):
        prev = croniter(cron, slot).get_prev(datetime)
        if _wall(prev, zone) == _wall(slot, zone):
            slot = prev
    return slot.astimezone(timezone.utc)


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts).astimezone(timezone.utc) if ts else None


def claim_key(trigger_id: str, slot: datetime) -> str:
    """Redis key claiming one slot of one trigger."""
    return f"agentgraph:schedule:{trigger_id}:{int(slot.timestamp())}"


class Scheduler:
    """Fires due schedule triggers (see module docstring).

    Args:
        triggers: trigger repository (the schedule list and ``last_fired_at``).
        redis: async Redis client shared by every API process (slot claims).
        fire: starts the run of one slot and returns its run id.
        interval_s: tick period, seconds (cron resolution is one minute).
        refresh_s: how often the schedule list is re-read from the graph, seconds.
        misfire_grace_s: the latest slot is fired only while at most this old, seconds.
    """

    def __init__(self, *, triggers: TriggerRepository, redis: aioredis.Redis, fire: FireFn, interval_s: float = 1.0,
                 refresh_s: float = 10.0, misfire_grace_s: float = 3600.0) -> None:
        self.triggers = triggers
        self.redis = redis
        self.fire = fire
        self.interval_s = interval_s
        self.refresh_s = refresh_s
        self.misfire_grace_s = misfire_grace_s
        self._schedules: list[TriggerRecord] = []
        self._loaded_at: float | None = None
        self._fired: dict[str, datetime] = {}  # trigger id -> latest slot known fired (by any process)
        # Graph or Redis down: keep going, recover by itself (one warning line per failed tick).
        self._loop = Periodic(self.tick, interval_s, name="agentgraph-scheduler", first_delay_s=0, traceback=False)

    async def refresh(self) -> None:
        """Re-read the enabled schedules from the graph."""
        self._schedules = await self.triggers.list_schedules()
        self._loaded_at = asyncio.get_running_loop().time()

    async def tick(self, now: datetime | None = None) -> list[tuple[str, datetime]]:
        """Fire every due, unclaimed slot; return ``[(trigger_id, slot)]`` fired by this process."""
        now = now or datetime.now(timezone.utc)
        loop_now = asyncio.get_running_loop().time()
        if self._loaded_at is None or loop_now - self._loaded_at >= self.refresh_s:
            await self.refresh()
        fired: list[tuple[str, datetime]] = []
        for t in self._schedules:
            cfg = t.config
            try:
                slot = due_slot(cfg["cron"], cfg.get("timezone", "UTC"), now)
            except (UserError, KeyError):
                continue  # validated at creation; a hand-edited node must not stop the loop
            ref = max(filter(None, [_parse(t.last_fired_at), _parse(t.created_at), self._fired.get(t.id)]))
            if slot <= ref or (now - slot).total_seconds() > self.misfire_grace_s:
                continue
            key = claim_key(t.id, slot)
            if not await self.redis.set(key, "1", nx=True, ex=CLAIM_TTL_S):
                self._fired[t.id] = slot  # another process fired it
                continue
            try:
                run_id = await self.fire(t, slot)
            except Exception:
                await self.redis.delete(key)  # retried on the next tick, within the grace time
                log.exception("schedule %s: could not start the run of slot %s", t.id, slot.isoformat())
                continue
            self._fired[t.id] = slot
            fired.append((t.id, slot))
            try:
                await self.triggers.mark_fired(trigger_id=t.id, fired_at=slot.isoformat(timespec="milliseconds"),
                                               run_id=run_id)
            except Exception:  # the claim already prevents a second fire; the record catches up next time
                log.exception("schedule %s: fired %s but could not record it", t.id, slot.isoformat())
        return fired

    def start(self) -> None:
        """Run the loop in a background task (idempotent)."""
        self._loop.start()

    async def stop(self) -> None:
        """Stop the loop and wait for it."""
        await self._loop.stop()


__all__ = ["CLAIM_TTL_S", "Scheduler", "check_schedule", "claim_key", "due_slot", "next_fire"]
