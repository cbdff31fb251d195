"""The local executor: a Redis job queue (taskiq-redis streams) and the workers that drain it.

With ``AGENTGRAPH_EXECUTOR=queue`` the API sets ``RunService.executor`` to a
:class:`QueueExecutor`: ``RunService.run`` stores the Execution as ``queued`` and the
executor appends a job to the Redis stream ``<queue>`` (default ``agentgraph:jobs``).
``agentgraph worker`` processes run :class:`QueueWorker`, which reads the stream in the
consumer group ``agentgraph-workers`` and calls ``RunService.run(execution_id=...)``.
Why taskiq-redis and these rules: docs/adr/0002-job-queue.md.

Delivery guarantees:

* at least once - a job is acknowledged (``XACK``) only after its outcome is stored;
* a job whose worker died is claimed again (``XAUTOCLAIM``) once it has been idle
  ``visibility_timeout_s``; a per-run lease (``<queue>:lease:<id>``, renewed every
  third of that timeout) makes sure only one live worker runs it, and the graph's
  compare-and-set claim (``graph.ExecutionLifecycle``) that it is recorded once;
* retries - a transient failure goes back to ``queued`` and the job is re-added
  after the spec's backoff through the sorted set ``<queue>:delayed``;
* dead letters - a run that failed its last attempt is appended to the stream
  ``<queue>:dead`` (``deadLetters`` in GraphQL).

Traces: the job carries the submitter's W3C ``traceparent``; the worker continues it,
so the run's ``agent.run`` span is a child of the API's ``queue.enqueue`` span.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from opentelemetry import context as otel_context
from opentelemetry import propagate
from opentelemetry.trace import Tracer
from taskiq import AckableMessage, BrokerMessage
from taskiq_redis import RedisStreamBroker

from agentgraph.errors import UserError
from graph import Execution, now_iso
from runners import RETRIES_EXHAUSTED_CODE, RunService, cancel_key

from argo._executor import current_traceparent

log = logging.getLogger("agentgraph.queue")

GROUP = "agentgraph-workers"
#: Error codes that send a run to the dead-letter stream.
DEAD_LETTER_CODES = frozenset({RETRIES_EXHAUSTED_CODE, "JOB_REJECTED"})
DEAD_LETTER_MAXLEN = 10_000  # approximate cap of the dead-letter stream (entries)

# Move due delayed jobs to the stream atomically: a worker dying between ZREM and XADD must not lose one.
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('XADD', KEYS[2], '*', 'data', job)
end
return #due
"""
# Dead-letter a run once, however often its job is delivered (a worker may die between XADD and XACK).
_DEAD_LETTER = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1
"""
# Release a lease only when it is still ours.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass(frozen=True)
class Job:
    """One queued run: what a worker needs to call ``RunService.run`` (JSON in the stream's ``data``)."""

    execution_id: str
    tenant_id: str
    agent_id: str
    input: str
    user_id: str | None = None
    traceparent: str | None = None

    def dumps(self) -> bytes:
        """The stream payload."""
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, data: bytes | str) -> "Job":
        """Parse a payload. Raises ValueError/KeyError on a malformed one."""
        raw = json.loads(data)
        return cls(**{k: raw.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]


class _StreamBroker(RedisStreamBroker):
    """``RedisStreamBroker`` whose reclaim also runs when the stream is idle.

    taskiq-redis 1.2 only calls ``XAUTOCLAIM`` after a read that returned messages,
    so a job whose worker died stays pending until new work arrives; here it is
    reclaimed every ``reclaim_every_s`` seconds regardless (no lock needed:
    ``XAUTOCLAIM`` is atomic).
    """

    reclaim_every_s = 1.0

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:  # noqa: D102
        last_reclaim = 0.0
        async with aioredis.Redis(connection_pool=self.connection_pool) as r:
            while True:
                fetched = await r.xreadgroup(self.consumer_group_name, self.consumer_name, {self.queue_name: ">"},
                                             block=self.block, count=self.count)
                for stream, entries in fetched or []:
                    for msg_id, msg in entries:
                        yield AckableMessage(data=msg[b"data"], ack=self._ack_generator(id=msg_id, queue_name=stream))
                if time.monotonic() - last_reclaim < self.reclaim_every_s:
                    continue
                last_reclaim = time.monotonic()
                _next, claimed, *_ = await r.xautoclaim(self.queue_name, self.consumer_group_name,
                                                        self.consumer_name, min_idle_time=self.idle_timeout,
                                                        count=self.unacknowledged_batch_size)
                for msg_id, msg in claimed:
                    if msg:  # None/empty: the entry was trimmed
                        yield AckableMessage(data=msg[b"data"],
                                             ack=self._ack_generator(id=msg_id, queue_name=self.queue_name))


class JobQueue:
    """The Redis keys of the queue and the taskiq broker on them.

    Args:
        redis_url: Redis URL.
        queue: stream name; other keys are ``<queue>:delayed``, ``<queue>:dead``, ``<queue>:lease:<id>``.
        visibility_timeout_s: idle time after which an unacknowledged job is redelivered, seconds.
        prefetch: jobs one consumer reads at once (``XREADGROUP COUNT``).
    """

    def __init__(self, redis_url: str, *, queue: str = "agentgraph:jobs", visibility_timeout_s: float = 60.0,
                 prefetch: int = 8) -> None:
        self.queue = queue
        self.visibility_timeout_s = visibility_timeout_s
        self.broker = _StreamBroker(
            redis_url, queue_name=queue, consumer_group_name=GROUP, consumer_name=f"worker-{uuid.uuid4().hex[:8]}",
            consumer_id="0",  # the group sees jobs added before any worker started
            idle_timeout=int(visibility_timeout_s * 1000), xread_block=1000, xread_count=prefetch,
            unacknowledged_batch_size=prefetch, max_connection_pool_size=max(16, prefetch * 2 + 4))
        self.redis = aioredis.Redis(connection_pool=self.broker.connection_pool)
        self.delayed_key, self.dead_key = f"{queue}:delayed", f"{queue}:dead"
        # Shorter than the visibility timeout so that a dead worker's lease is gone when its job is reclaimed.
        self.lease_ms = int(visibility_timeout_s * 800)

    def lease_key(self, execution_id: str) -> str:
        """Key held by the worker running ``execution_id``."""
        return f"{self.queue}:lease:{execution_id}"

    async def startup(self) -> None:
        """Create the stream and consumer group (idempotent)."""
        await self.broker.startup()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.broker.shutdown()
        await self.broker.connection_pool.disconnect()

    async def put(self, job: Job) -> None:
        """Append a job to the stream."""
        await self.broker.kick(BrokerMessage(task_id=job.execution_id, task_name="agent.run", message=job.dumps(),
                                             labels={}))

    async def put_later(self, job: Job, delay_s: float) -> None:
        """Add a job to the stream in ``delay_s`` seconds (moved by any worker's :meth:`promote_due`)."""
        await self.redis.zadd(self.delayed_key, {job.dumps(): time.time() + delay_s})

    async def promote_due(self) -> int:
        """Move delayed jobs that are due to the stream; returns how many."""
        return int(await self.redis.eval(_PROMOTE, 2, self.delayed_key, self.queue, time.time()))

    async def depth(self) -> dict[str, int]:
        """Jobs waiting: ``{"ready": not yet delivered, "in_flight": delivered not acked, "delayed": retries}``."""
        ready = in_flight = 0
        with contextlib.suppress(aioredis.ResponseError):  # no stream yet
            for g in await self.redis.xinfo_groups(self.queue):
                name = g.get("name") or g.get(b"name")
                if name in (GROUP, GROUP.encode()):
                    ready, in_flight = int(g.get("lag") or 0), int(g.get("pending") or 0)
        return {"ready": ready, "in_flight": in_flight, "delayed": int(await self.redis.zcard(self.delayed_key))}

    async def dead_letter(self, execution: Execution, *, reason: str | None = None) -> bool:
        """Append a run that exhausted its attempts (or could not be run) to ``<queue>:dead``, once per run.

        Returns:
            False when the run was dead-lettered before (a redelivered job).
        """
        fields = {"execution_id": execution.id, "tenant_id": execution.tenant_id, "agent_id": execution.agent_id,
                  "attempts": str(execution.attempt), "error_code": execution.error_code or "",
                  "error": (reason or execution.error or "")[:2000], "at": now_iso()}
        flat = [x for kv in fields.items() for x in kv]
        return bool(await self.redis.eval(_DEAD_LETTER, 2, self.dead_key, f"{self.dead_key}:ids", execution.id,
                                          DEAD_LETTER_MAXLEN, *flat))

    async def dead_letters(self, *, tenant_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The tenant's dead-lettered runs, newest first (``execution_id``, ``attempts``, ``error_code``...)."""
        out: list[dict[str, Any]] = []
        cursor = "+"
        while len(out) < limit:
            rows = await self.redis.xrevrange(self.dead_key, max=cursor, count=200)
            if not rows:
                break
            for eid, fields in rows:
                f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                     for k, v in fields.items()}
                if f.get("tenant_id") == tenant_id:
                    out.append({"id": eid.decode() if isinstance(eid, bytes) else eid, **f})
            last = rows[-1][0].decode() if isinstance(rows[-1][0], bytes) else rows[-1][0]
            cursor = "(" + last
        return out[:limit]


class QueueExecutor:
    """Puts queued Executions on the job queue (implements ``runners.Executor``).

    Args:
        queue: the job queue.
        tracer: opens the ``queue.enqueue`` span whose context travels with the job.
    """

    def __init__(self, queue: JobQueue, tracer: Tracer | None = None) -> None:
        self.queue = queue
        self.tracer = tracer

    async def submit(self, execution: Execution) -> Execution:
        """Append the Execution's job to the stream; returns it unchanged (``queued``)."""
        span = (self.tracer.start_as_current_span("queue.enqueue", attributes={"run.id": execution.id,
                                                                              "queue": self.queue.queue})
                if self.tracer is not None else contextlib.nullcontext())
        with span:
            job = Job(execution_id=execution.id, tenant_id=execution.tenant_id, agent_id=execution.agent_id,
                      input=execution.input, user_id=execution.triggered_by, traceparent=current_traceparent())
            await self.queue.put(job)
        return execution


class QueueWorker:
    """Runs jobs from the queue with ``concurrency`` runs at once (one per asyncio task).

    Args:
        runs: the run service (its ``run`` records everything).
        queue: the job queue.
        concurrency: runs executing at once in this process.
        poll_s: how often cancel requests, lease renewals and due retries are checked, seconds.
    """

    def __init__(self, runs: RunService, queue: JobQueue, *, concurrency: int = 8, poll_s: float = 0.5) -> None:
        self.runs = runs
        self.queue = queue
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.token = uuid.uuid4().hex  # lease value: this worker
        self._leases: set[str] = set()
        self.processed = 0
        self.stop_grace_s = 30.0  # how long a stop waits for cancelled runs to unwind, seconds

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set or the task is cancelled; in-flight runs are cancelled on exit.

        Runs cancelled by a stop are not recorded: their jobs stay unacknowledged and
        another worker resumes them after the visibility timeout.
        """
        await self.queue.startup()
        stop = stop or asyncio.Event()
        sem = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[None]] = set()

        async def consume() -> None:
            async for msg in self.queue.broker.listen():
                await sem.acquire()
                task = asyncio.create_task(self._handle(msg))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), sem.release()))

        consumer, poller = asyncio.create_task(consume()), asyncio.create_task(self._poll_forever())
        try:
            await stop.wait()
        finally:
            tasks = (consumer, poller, *running)
            for t in tasks:
                t.cancel()
            # Bounded: a stop must end the worker even if a task swallows its cancel (the job is redelivered).
            _, stuck = await asyncio.wait(tasks, timeout=self.stop_grace_s)
            for t in stuck:
                frames = "".join(f"\n  {f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
                                 for f in t.get_stack(limit=12))
                log.warning("worker task %s did not stop within %.0f s; abandoned at:%s",
                            t.get_name(), self.stop_grace_s, frames)

    async def _poll_forever(self) -> None:
        renew_every = max(self.queue.lease_ms / 3000, self.poll_s)
        last_renew = 0.0
        while True:
            try:
                await self._check_cancels()
                await self.queue.promote_due()
                if time.monotonic() - last_renew >= renew_every and self._leases:
                    last_renew = time.monotonic()
                    async with self.queue.redis.pipeline(transaction=False) as pipe:
                        for eid in self._leases:
                            pipe.pexpire(self.queue.lease_key(eid), self.queue.lease_ms)
                        await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis hiccup: try again next tick
                log.warning("queue housekeeping failed", exc_info=True)
            await asyncio.sleep(self.poll_s)

    async def _check_cancels(self) -> None:
        ids = self.runs.running_ids
        if not ids:
            return
        values = await self.queue.redis.mget([cancel_key(i) for i in ids])
        for eid, value in zip(ids, values):
            if value is not None:
                await self.queue.redis.delete(cancel_key(eid))
                self.runs.cancel_local(eid)

    async def _handle(self, msg: AckableMessage) -> None:
        try:
            job = Job.loads(msg.data)
        except (ValueError, KeyError, TypeError):
            log.error("dropping a malformed job: %r", msg.data[:200])
            await msg.ack()
            return
        if not job.execution_id or not job.tenant_id or not job.agent_id:
            log.error("dropping a job without ids: %r", msg.data[:200])
            await msg.ack()
            return
        lease = self.queue.lease_key(job.execution_id)
        ttl_ms = self.queue.lease_ms
        if not await self.queue.redis.set(lease, self.token, nx=True, px=ttl_ms):
            return  # a live worker runs it and will acknowledge it; leave this delivery pending
        self._leases.add(job.execution_id)
        token = otel_context.attach(propagate.extract({"traceparent": job.traceparent})) if job.traceparent else None
        try:
            await self._run(job, msg)
        except asyncio.CancelledError:
            raise  # stopping: no ack, the job is redelivered
        except UserError as exc:  # the run can never start (agent or version deleted...): do not redeliver
            log.error("job %s rejected: %s", job.execution_id, exc.message)
            with contextlib.suppress(Exception):
                e = await self.runs.lifecycle.transition(
                    tenant_id=job.tenant_id, execution_id=job.execution_id, from_statuses=("queued", "running"),
                    status="failed", error=exc.message, error_code="JOB_REJECTED", ended_at=now_iso())
                if e is not None:
                    await self.queue.dead_letter(e)
            await msg.ack()
        except Exception:  # graph/Redis down: leave it pending, redelivered after the visibility timeout
            log.exception("job %s failed to run; it will be redelivered", job.execution_id)
        finally:
            if token is not None:
                otel_context.detach(token)
            self._leases.discard(job.execution_id)
            with contextlib.suppress(Exception):
                await self.queue.redis.eval(_RELEASE, 1, lease, self.token)

    async def _run(self, job: Job, msg: AckableMessage) -> None:
        e = await self.runs.run(tenant_id=job.tenant_id, user_id=job.user_id, agent_id=job.agent_id, input=job.input,
                                execution_id=job.execution_id, retries=True)
        if e.status == "queued":  # a transient failure with attempts left: re-add after the backoff
            await self.queue.put_later(job, await self.runs.retry_delay_s(e))
        elif e.status == "failed" and e.error_code in DEAD_LETTER_CODES:
            await self.queue.dead_letter(e)
        await msg.ack()
        self.processed += 1


async def start_queue_executor(settings: Any, *, runs: RunService, stack: contextlib.AsyncExitStack) -> JobQueue:
    """Set ``runs.executor`` to a :class:`QueueExecutor` on the configured Redis (``executor == "queue"``).

    Returns:
        The job queue (closed by ``stack``), for queue depth and dead letters.
    """
    w = settings.workers
    queue = JobQueue(settings.redis_url, queue=w.queue, visibility_timeout_s=w.visibility_timeout_s,
                     prefetch=w.concurrency)
    stack.push_async_callback(queue.aclose)
    await queue.startup()
    runs.executor = QueueExecutor(queue, runs.tracer)
    return queue


__all__ = ["DEAD_LETTER_CODES", "GROUP", "Job", "JobQueue", "QueueExecutor", "QueueWorker", "start_queue_executor"]
