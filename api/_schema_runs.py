"""GraphQL for the run lifecycle (issue 6): ``cancelRun``, ``deadLetters``, ``runQueue``.

Statuses: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``cancelled`` |
``timed_out`` (docs/user-guide.md). Run events (``runEvents`` subscription, SSE) are
in their own module.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from api._platform import Platform
from api._schema import Execution


@strawberry.type(description="A run that failed its last attempt and left the queue (executor 'queue').")
class DeadLetter:
    id: str = strawberry.field(description="Entry id in the dead-letter stream (<ms>-<seq>).")
    execution_id: str
    agent_id: str
    attempts: int
    error_code: str | None
    error: str | None
    at: str = strawberry.field(description="When it was dead-lettered (ISO 8601 UTC).")


@strawberry.type(description="Jobs in the run queue (executor 'queue'; all zero otherwise).")
class RunQueueDepth:
    ready: int = strawberry.field(description="Queued, not yet picked by a worker.")
    in_flight: int = strawberry.field(description="Picked by a worker, not acknowledged yet.")
    delayed: int = strawberry.field(description="Retries waiting for their backoff.")


def _platform(info: Info) -> Platform:
    return info.context["platform"]


@strawberry.type
class RunsQuery:
    @strawberry.field(description="Runs that exhausted their retry attempts, newest first (admins).")
    async def dead_letters(self, info: Info, limit: int = 50) -> list[DeadLetter]:
        p = _platform(info)
        if p.queue is None:
            return []
        rows = await p.queue.dead_letters(tenant_id=p.tenant_id, limit=max(1, min(limit, 500)))
        return [DeadLetter(id=r["id"], execution_id=r["execution_id"], agent_id=r["agent_id"],
                           attempts=int(r.get("attempts") or 0), error_code=r.get("error_code") or None,
                           error=r.get("error") or None, at=r.get("at", "")) for r in rows]

    @strawberry.field(description="How many jobs wait in the run queue.")
    async def run_queue(self, info: Info) -> RunQueueDepth:
        p = _platform(info)
        depth = await p.queue.depth() if p.queue is not None else {}
        return RunQueueDepth(ready=depth.get("ready", 0), in_flight=depth.get("in_flight", 0),
                             delayed=depth.get("delayed", 0))


@strawberry.type
class RunsMutation:
    @strawberry.mutation(description=(
        "Cancel a run. A queued run is cancelled at once and never starts; a running one is stopped by "
        "its worker within about a second (its status is still 'running' in this answer; a 'cancelled' "
        "run event follows). Errors: NOT_FOUND, CONFLICT when the run already ended."))
    async def cancel_run(self, info: Info, id: strawberry.ID) -> Execution:
        p = _platform(info)
        e = await p.runs.cancel(tenant_id=p.tenant_id, execution_id=str(id), user_id=p.user_id)
        return Execution.from_record(e)


__all__ = ["DeadLetter", "RunQueueDepth", "RunsMutation", "RunsQuery"]
