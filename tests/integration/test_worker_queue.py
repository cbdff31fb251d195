"""The queue executor end to end on real Redis + ArcadeDB: lifecycle, cancel, timeout, retries,
dead letters, redelivery after a worker died, run events and trace continuity (issue 6).

Workers run in-process here (``argo.QueueWorker`` on the platform's ``RunService``);
``test_worker_reliability.py`` kills real worker processes.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from contextlib import asynccontextmanager

import pytest

from agentgraph.errors import ConflictError, LLMError
from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM
from argo import JobQueue, QueueWorker
from runners import cancel_key


@pytest.fixture(scope="module")
async def qp(services):
    """A platform with ``executor='queue'`` on its own queue (short visibility timeout), shared by the module.

    Each test leaves the queue drained.
    """
    from api._platform import Platform

    s = services.model_copy(deep=True)
    s.executor = "queue"
    s.workers.queue = f"test:jobs:{uuid.uuid4().hex[:8]}"
    s.workers.visibility_timeout_s = 2.0
    p = await Platform.start(s)
    try:
        yield p
    finally:
        await p.close()


@asynccontextmanager
async def worker(p, concurrency: int = 4):
    """An in-process worker on the platform's queue until the block ends."""
    w = p.settings.workers
    queue = JobQueue(p.settings.redis_url, queue=w.queue, visibility_timeout_s=w.visibility_timeout_s,
                     prefetch=concurrency)
    stop = asyncio.Event()
    qw = QueueWorker(p.runs, queue, concurrency=concurrency, poll_s=0.1)
    task = asyncio.create_task(qw.run_forever(stop))
    try:
        yield qw
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=90)  # generous: the shared CI box can be very slow
        if not done:  # say which task ignores the cancel
            stacks = io.StringIO()
            for t in asyncio.all_tasks():
                if t is not asyncio.current_task():
                    t.print_stack(limit=12, file=stacks)
            task.cancel()
            pytest.fail(f"the worker did not stop within 90 s; pending tasks:\n{stacks.getvalue()}")
        task.result()
        await queue.aclose()


async def _drained(p, timeout_s: float = 30.0) -> dict[str, int]:
    """Queue depth once the last job is acknowledged (the ack follows the stored outcome)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    depth = await p.queue.depth()
    while depth["in_flight"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        depth = await p.queue.depth()
    return depth


async def _agent(p, *, timeout_s: float = 60.0, attempts: int = 3, backoff_s: float = 0.1) -> str:
    name = f"q-{uuid.uuid4().hex[:6]}"
    spec = AgentSpec(name=name, description="d", system_prompt="p",
                     limits={"timeout_s": timeout_s, "retry": {"attempts": attempts, "backoff_s": backoff_s}})
    a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=name, name=name, description="d",
                                 agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return a.id


async def _until(p, run_id: str, statuses: set[str], timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while True:
        e = await p.executions.get(tenant_id=p.tenant_id, execution_id=run_id)
        if e.status in statuses:
            return e
        assert time.monotonic() < deadline, f"run {run_id} still {e.status}, wanted {statuses}"
        await asyncio.sleep(0.05)


async def _statuses(p, run_id: str) -> list[str]:
    return [ev.status for ev in await p.runs.events.history(run_id)]


def _answer(text: str = "done"):
    return FunctionLLM(lambda messages, info: {"content": text})


async def test_queued_run_is_processed_by_a_worker_with_events_in_order(qp) -> None:
    qp.runs.runner.llm = _answer("hello from the worker")
    aid = await _agent(qp)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    assert e.status == "queued" and e.attempt == 0
    assert (await qp.queue.depth())["ready"] == 1
    async with worker(qp):
        done = await _until(qp, e.id, {"succeeded", "failed"})
        # the ack follows the stored outcome: wait for it before the worker stops (a stop cancels a job
        # still between the two, and the queue redelivers it later: at-least-once, not what this checks)
        drained = await _drained(qp)
    assert (done.status, done.output, done.attempt) == ("succeeded", "hello from the worker", 1)
    assert await _statuses(qp, e.id) == ["queued", "running", "succeeded"]
    last = (await qp.runs.events.history(e.id))[-1]
    assert last.data["attempt"] == 1 and last.data["latency_ms"] > 0
    assert drained == {"ready": 0, "in_flight": 0, "delayed": 0}


async def test_trace_continues_from_the_api_through_the_queue(qp) -> None:
    qp.runs.runner.llm = _answer()
    aid = await _agent(qp)
    with qp.runs.tracer.start_as_current_span("client.request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    async with worker(qp):
        done = await _until(qp, e.id, {"succeeded"})
    spans = {s["name"]: s for s in done.spans}
    assert {"agent.run", "llm.call"} <= set(spans)
    assert {s["trace_id"] for s in done.spans} == {trace_id}
    # agent.run's parent is the API's queue.enqueue span (recorded in the API's collector, not the run's).
    assert spans["agent.run"]["parent_id"] is not None
    assert spans["llm.call"]["parent_id"] == spans["agent.run"]["span_id"]


async def test_cancel_a_queued_run_and_the_worker_skips_it(qp) -> None:
    calls = []
    qp.runs.runner.llm = FunctionLLM(lambda m, i: calls.append(1) or {"content": "x"})
    aid = await _agent(qp)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    cancelled = await qp.runs.cancel(tenant_id=qp.tenant_id, execution_id=e.id, user_id="admin")
    assert (cancelled.status, cancelled.error_code) == ("cancelled", "RUN_CANCELLED")
    async with worker(qp):
        deadline = time.monotonic() + 10
        while (await qp.queue.depth())["ready"] or (await qp.queue.depth())["in_flight"]:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    assert calls == []
    assert (await qp.executions.get(tenant_id=qp.tenant_id, execution_id=e.id)).status == "cancelled"
    assert await _statuses(qp, e.id) == ["queued", "cancelled"]
    with pytest.raises(ConflictError):
        await qp.runs.cancel(tenant_id=qp.tenant_id, execution_id=e.id)


async def test_cancel_a_running_run_in_its_worker(qp) -> None:
    started = asyncio.Event()

    async def slow(messages, info):
        started.set()
        await asyncio.sleep(30)
        return {"content": "too late"}

    qp.runs.runner.llm = FunctionLLM(slow)
    aid = await _agent(qp)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    async with worker(qp):
        await _until(qp, e.id, {"running"})
        await asyncio.wait_for(started.wait(), 10)
        # What RunService.cancel does in an API process that does not hold the run: set the key.
        await qp.redis.set(cancel_key(e.id), "admin", ex=60)
        done = await _until(qp, e.id, {"cancelled", "failed", "succeeded"}, timeout_s=10)
    assert (done.status, done.error_code) == ("cancelled", "RUN_CANCELLED")
    assert await _statuses(qp, e.id) == ["queued", "running", "cancelled"]
    assert await qp.redis.exists(cancel_key(e.id)) == 0


async def test_cancel_an_inline_run_in_this_process(services, platform) -> None:
    started = asyncio.Event()

    async def slow(messages, info):
        started.set()
        await asyncio.sleep(30)
        return {"content": "too late"}

    platform.runs.runner.llm = FunctionLLM(slow)
    aid = await _agent(platform)
    task = asyncio.create_task(platform.runs.run(tenant_id=platform.tenant_id, user_id=None, agent_id=aid,
                                                 input="hi"))
    await asyncio.wait_for(started.wait(), 10)
    [run_id] = platform.runs.running_ids
    answer = await platform.runs.cancel(tenant_id=platform.tenant_id, execution_id=run_id)
    assert (answer.status, answer.error_code) == ("cancelled", "RUN_CANCELLED")
    assert (await asyncio.wait_for(task, 10)).status == "cancelled"
    assert await _statuses(platform, run_id) == ["running", "cancelled"]


async def test_run_timeout_is_recorded_as_timed_out(qp) -> None:
    async def slow(messages, info):
        await asyncio.sleep(5)
        return {"content": "too late"}

    qp.runs.runner.llm = FunctionLLM(slow)
    aid = await _agent(qp, timeout_s=0.3)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    async with worker(qp):
        done = await _until(qp, e.id, {"timed_out", "failed", "succeeded"})
    assert (done.status, done.error_code, done.attempt) == ("timed_out", "RUN_TIMEOUT", 1)  # not retried
    assert "timeout_s" in done.error


async def test_transient_failures_are_retried_then_dead_lettered(qp) -> None:
    def down(messages, info):
        raise LLMError("provider down")

    qp.runs.runner.llm = FunctionLLM(down)
    aid = await _agent(qp, attempts=2, backoff_s=0.2)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    async with worker(qp):
        done = await _until(qp, e.id, {"failed", "succeeded"})
        deadline = time.monotonic() + 10
        while not [d for d in await qp.queue.dead_letters(tenant_id=qp.tenant_id) if d["execution_id"] == e.id]:
            assert time.monotonic() < deadline, "never dead-lettered"
            await asyncio.sleep(0.05)
    assert (done.status, done.error_code, done.attempt) == ("failed", "RETRIES_EXHAUSTED", 2)
    assert "LLM_FAILED" in done.error and "provider down" in done.error
    assert await _statuses(qp, e.id) == ["queued", "running", "queued", "running", "failed"]
    events = await qp.runs.events.history(e.id)
    assert events[2].data["error_code"] == "LLM_FAILED" and events[2].data["retry_in_s"] == pytest.approx(0.2)
    dead = await qp.queue.dead_letters(tenant_id=qp.tenant_id)
    assert [(d["attempts"], d["error_code"]) for d in dead if d["execution_id"] == e.id] == [("2", "RETRIES_EXHAUSTED")]


async def test_a_retry_that_succeeds_is_not_dead_lettered(qp) -> None:
    calls = []

    def flaky(messages, info):
        calls.append(1)
        if len(calls) == 1:
            raise LLMError("provider hiccup")
        return {"content": "second time lucky"}

    qp.runs.runner.llm = FunctionLLM(flaky)
    aid = await _agent(qp, attempts=3, backoff_s=0.1)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    async with worker(qp):
        done = await _until(qp, e.id, {"failed", "succeeded"})
    assert (done.status, done.output, done.attempt) == ("succeeded", "second time lucky", 2)
    assert e.id not in {d["execution_id"] for d in await qp.queue.dead_letters(tenant_id=qp.tenant_id)}


async def test_a_job_whose_worker_died_is_redelivered_once_and_recorded_once(qp) -> None:
    qp.runs.runner.llm = _answer("recovered")
    aid = await _agent(qp)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    # A "worker" reads the job and claims the run, then dies: no ack, no lease renewal.
    q = qp.queue
    got = await q.redis.xreadgroup("agentgraph-workers", "dead-worker", {q.queue: ">"}, count=1)
    assert got and got[0][1]
    claimed = await qp.runs.lifecycle.claim(tenant_id=qp.tenant_id, execution_id=e.id)
    assert claimed is not None and claimed.status == "running"
    async with worker(qp):
        done = await _until(qp, e.id, {"succeeded", "failed"}, timeout_s=20)
    assert (done.status, done.output, done.attempt) == ("succeeded", "recovered", 2)
    assert (await q.depth())["in_flight"] == 0
    statuses = await _statuses(qp, e.id)
    assert statuses[0] == "queued" and statuses[-1] == "succeeded" and statuses.count("succeeded") == 1


async def test_graphql_cancel_run_and_dead_letters(qp) -> None:
    from api.app import schema

    qp.runs.runner.llm = _answer()
    aid = await _agent(qp)
    e = await qp.runs.run(tenant_id=qp.tenant_id, user_id=qp.user_id, agent_id=aid, input="hi")
    from api._auth import Caller

    ctx = {"platform": qp, "request": None,
           "caller": Caller(tenant_id=qp.tenant_id, user_id=qp.user_id, role="admin", via="api_key")}
    res = await schema.execute('mutation($id: ID!) { cancelRun(id: $id) { id status errorCode attempt } }',
                               variable_values={"id": e.id}, context_value=ctx)
    assert res.errors is None, res.errors
    assert res.data["cancelRun"] == {"id": e.id, "status": "cancelled", "errorCode": "RUN_CANCELLED", "attempt": 0}
    res = await schema.execute("{ deadLetters { executionId attempts errorCode } runQueue { ready inFlight delayed } }",
                               context_value=ctx)
    assert res.errors is None, res.errors
    dead = await qp.queue.dead_letters(tenant_id=qp.tenant_id)
    assert [d["executionId"] for d in res.data["deadLetters"]] == [d["execution_id"] for d in dead]
    assert res.data["runQueue"]["delayed"] == 0
