"""Schedules fire each slot exactly once with two schedulers on one Redis; restarts fire at most one catch-up;
idempotency keys hold under a concurrent race (real graph and Redis)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from agentgraph.errors import ServiceUnavailableError, UserError
from agentgraph.spec import AgentSpec
from graph import TriggerRepository
from runners import IdempotencyInFlightError, IdempotencyStore, Scheduler

UTC = timezone.utc


async def _agent(p, name: str) -> str:
    spec = AgentSpec(name=name, description="d", system_prompt="p")
    a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=f"{name}-{id(spec)}", name=name, description="d",
                                 agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return a.id


@pytest.fixture()
async def schedule(platform):
    """An every-5-minutes schedule "created" just before BASE, 30 days ahead: the test drives the clock, and the
    platform's own schedulers (running in the session's processes on the real clock) never see a due slot."""
    aid = await _agent(platform, "cron")
    t = await platform.triggers.create_schedule(tenant_id=platform.tenant_id, user_id=platform.user_id,
                                                agent_id=aid, cron="*/5 * * * *", timezone="Europe/Berlin",
                                                input="daily report")
    created = (_base() - timedelta(seconds=1)).isoformat(timespec="milliseconds")
    await platform.graph.write("MATCH (t:AgentTrigger {id: $id}) SET t.created_at = $c", id=t.id, c=created)
    return t


def _base() -> datetime:
    b = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=30)
    return b - timedelta(minutes=b.minute % 5)


def _schedulers(platform, fires: list, n: int = 2, **kw) -> list[Scheduler]:
    async def fire(trigger, slot):
        fires.append((trigger.id, slot))
        await asyncio.sleep(0.01)  # let the other scheduler interleave
        return f"run-{len(fires)}"

    repo = TriggerRepository(platform.graph)

    class Only(TriggerRepository):  # each test sees only its own schedule (others may exist in the session)
        async def list_schedules(self):
            return [t for t in await repo.list_schedules() if t.id == kw["only"]]

    return [Scheduler(triggers=Only(platform.graph), redis=platform.redis, fire=fire, refresh_s=0)
            for _ in range(n)]


async def test_two_schedulers_fire_each_slot_once(platform, schedule) -> None:
    fires: list = []
    a, b = _schedulers(platform, fires, only=schedule.id)
    base = _base()
    for k in range(6):  # six consecutive slots, several ticks per slot from both schedulers
        for s in range(0, 300, 60):
            now = base + timedelta(minutes=5 * k, seconds=s)
            await asyncio.gather(a.tick(now), b.tick(now), a.tick(now))
    slots = [slot for _, slot in fires]
    assert len(slots) == len(set(slots)) == 6
    assert slots == sorted(slots) and slots[0] == base
    stored = await platform.triggers.triggers.get(tenant_id=platform.tenant_id, trigger_id=schedule.id)
    assert stored.fire_count == 6 and stored.last_fired_at == slots[-1].isoformat(timespec="milliseconds")


async def test_restart_fires_at_most_one_catch_up(platform, schedule) -> None:
    fires: list = []
    [a] = _schedulers(platform, fires, n=1, only=schedule.id)
    base = _base()
    await a.tick(base)
    assert len(fires) == 1
    # "Down" for an hour: a new process (fresh scheduler, state from the graph) fires only the latest slot.
    fires.clear()
    [b] = _schedulers(platform, fires, n=1, only=schedule.id)
    later = base + timedelta(minutes=62)
    await b.tick(later)
    await b.tick(later + timedelta(seconds=30))
    assert [s for _, s in fires] == [base + timedelta(minutes=60)]
    # Down longer than the grace time: the stale slot is skipped, the next one fires normally.
    fires.clear()
    [c] = _schedulers(platform, fires, n=1, only=schedule.id, )
    c.misfire_grace_s = 60
    await c.tick(later + timedelta(hours=3, minutes=2))
    assert fires == []
    await c.tick(later + timedelta(hours=3, minutes=3))
    assert [s for _, s in fires] == [base + timedelta(hours=4, minutes=5)]


async def test_failed_fire_releases_the_slot_for_a_retry(platform, schedule) -> None:
    calls: list = []

    async def flaky(trigger, slot):
        calls.append(slot)
        if len(calls) == 1:
            raise ServiceUnavailableError("graph down")
        return "run-ok"

    repo = TriggerRepository(platform.graph)

    class Only(TriggerRepository):
        async def list_schedules(self):
            return [t for t in await repo.list_schedules() if t.id == schedule.id]

    s = Scheduler(triggers=Only(platform.graph), redis=platform.redis, fire=flaky, refresh_s=0)
    now = _base()
    assert await s.tick(now) == []
    assert await s.tick(now + timedelta(seconds=5)) == [(schedule.id, now)]
    assert calls == [now, now]


async def test_real_fire_starts_a_run(platform, schedule) -> None:
    run_id = await platform.triggers.fire_schedule(schedule, datetime.now(UTC))
    e = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=run_id)
    assert e.input == "daily report" and e.status in ("queued", "running", "succeeded")
    await platform.triggers.drain()
    e = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=run_id)
    assert e.status == "succeeded"


async def test_bad_schedules_are_refused(platform) -> None:
    aid = await _agent(platform, "cron-bad")
    svc = platform.triggers
    with pytest.raises(UserError, match="cron"):
        await svc.create_schedule(tenant_id=platform.tenant_id, user_id=None, agent_id=aid, cron="61 * * * *",
                                  input="x")
    with pytest.raises(UserError, match="time zone"):
        await svc.create_schedule(tenant_id=platform.tenant_id, user_id=None, agent_id=aid, cron="0 9 * * *",
                                  timezone="Mars/Olympus", input="x")
    assert await svc.triggers.list(tenant_id=platform.tenant_id, agent_id=aid) == []


async def test_idempotency_race_starts_one_run(platform) -> None:
    store = IdempotencyStore(platform.redis, wait_s=5)
    started: list[int] = []

    async def start():
        started.append(1)
        await asyncio.sleep(0.2)  # the in-flight window the duplicates hit
        return "run-A"

    async def load(run_id):
        return run_id

    results = await asyncio.gather(*(store.run_once(tenant_id="t", agent_id="a", key="k-race", start=start,
                                                    run_id_of=lambda r: r, load=load) for _ in range(20)))
    assert len(started) == 1
    assert {r for r, _ in results} == {"run-A"} and sum(created for _, created in results) == 1
    # A start that fails releases the key; the retry starts a run.
    async def boom():
        raise ServiceUnavailableError("graph down")

    with pytest.raises(ServiceUnavailableError):
        await store.run_once(tenant_id="t", agent_id="a", key="k-fail", start=boom, run_id_of=str, load=load)
    assert await store.run_once(tenant_id="t", agent_id="a", key="k-fail", start=start, run_id_of=lambda r: r,
                                load=load) == ("run-A", True)
    # A duplicate that waits past wait_s while the first is still starting gets a 409-class error.
    slow_store = IdempotencyStore(platform.redis, wait_s=0.05)

    async def slow():
        await asyncio.sleep(0.5)
        return "run-B"

    first = asyncio.create_task(slow_store.run_once(tenant_id="t", agent_id="a", key="k-slow", start=slow,
                                                    run_id_of=lambda r: r, load=load))
    await asyncio.sleep(0.05)
    with pytest.raises(IdempotencyInFlightError):
        await slow_store.run_once(tenant_id="t", agent_id="a", key="k-slow", start=slow, run_id_of=lambda r: r,
                                  load=load)
    assert await first == ("run-B", True)


async def test_served_platform_scheduler_fires_a_due_schedule(platform, gql) -> None:
    """The API's own loop (real clock): a schedule due now fires once within a refresh period."""
    aid = await _agent(platform, "cron-live")
    body = gql("mutation($a: String!) { createScheduleTrigger(agentId: $a, cron: \"* * * * *\", timezone: \"UTC\", "
               "input: \"tick\") { id nextFireAt } }", a=aid)
    assert "errors" not in body, body
    tid = body["data"]["createScheduleTrigger"]["id"]
    assert body["data"]["createScheduleTrigger"]["nextFireAt"].endswith(":00+00:00")
    # Pretend it was created an hour ago so the current minute's slot is due now.
    created = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    await platform.graph.write("MATCH (t:AgentTrigger {id: $id}) SET t.created_at = $c", id=tid, c=created)
    deadline = asyncio.get_running_loop().time() + 45
    while True:
        t = await platform.triggers.triggers.get(tenant_id=platform.tenant_id, trigger_id=tid)
        if t.last_run_id or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert t.last_run_id and t.fire_count >= 1 and t.last_fired_at.endswith(":00.000+00:00")
    e = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=t.last_run_id)
    assert e.input == "tick"
