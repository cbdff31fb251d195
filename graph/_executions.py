"""Conditional status transitions of Executions (the run lifecycle, issue 6).

``ExecutionRepository.update``/``finish`` write unconditionally; the queue executor
needs compare-and-set writes so that two deliveries of one job, a cancel racing a
worker, or a redelivery after a worker died never record a run twice:

* :meth:`ExecutionLifecycle.claim` - ``queued`` (or a stale ``running``) -> ``running``,
  ``attempt + 1``; returns None when the Execution moved on (terminal, cancelled).
* :meth:`ExecutionLifecycle.transition` - any ``from`` set -> one status (cancel a
  queued run, put a failed attempt back to ``queued`` for a retry).
* :meth:`ExecutionLifecycle.finish` - record the outcome only while the Execution
  is still ``running``; returns None when it was recorded already.

Each is one Cypher statement (``MATCH ... WHERE e.status IN $froms SET ...``), atomic
in both ArcadeDB and Neo4j; so is :meth:`ExecutionLifecycle.create` (node and edges). On
ArcadeDB every statement of a transaction costs a round trip plus its own planning
(~1.5-3 ms), so the run path keeps one statement per write (issue 6, figure 1).

Why its own write path: ArcadeDB's optimistic concurrency is per page, so concurrent
runs that create Executions (edges to the same AgentVersion) or update neighbouring
ones conflict often (``TransientError``: "concurrent change to the same record"). The
driver's default first retry waits 1 s; under a queue of runs that waits far longer
than the write takes, so these writes retry after ~5 ms, growing 1.5x.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import neo4j

from agentgraph.errors import ConflictError, NotFoundError, ServiceUnavailableError

from graph._client import GraphClient, _unavailable
from graph._models import Execution, new_id, now_iso

T = TypeVar("T")
# Driver session options for the lifecycle's writes (see module docstring); seconds.
_RETRY = {"initial_retry_delay": 0.005, "retry_delay_multiplier": 1.5, "retry_delay_jitter_factor": 0.5}

#: Statuses that end a run (issue 6 lifecycle).
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
#: Every status an Execution can have.
RUN_STATUSES = ("queued", "running", *sorted(TERMINAL_STATUSES))


#: Cypher of :meth:`ExecutionLifecycle.finish` up to its RETURN: the compare-and-set on the Execution
#: (bound as ``e``; no row when its status is not in ``$froms``). Subclasses append statements to it
#: (``WITH e ...``) to change more in the same atomic statement. Parameters: :func:`finish_params`.
FINISH_CAS = """
MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid AND e.status IN $froms
SET e.status = $status, e.output = $output, e.error = $error, e.error_code = $code,
    e.ended_at = $ended, e.latency_ms = $latency, e.prompt_tokens = $pt, e.completion_tokens = $ct,
    e.cost_usd = $cost, e.model = $model, e.spans_json = $spans
"""


def finish_params(*, tenant_id: str, execution_id: str, status: str, output: str | None, error: str | None,
                  error_code: str | None, ended_at: str | None, latency_ms: float | None, prompt_tokens: int,
                  completion_tokens: int, cost_usd: float, model: str | None, spans: list[dict[str, Any]],
                  from_statuses: Iterable[str] = ("running",)) -> dict[str, Any]:
    """The parameters of :data:`FINISH_CAS` for ``ExecutionLifecycle.finish``'s arguments."""
    return {"eid": execution_id, "tid": tenant_id, "status": status, "output": output, "error": error,
            "code": error_code, "ended": ended_at, "latency": latency_ms, "pt": prompt_tokens,
            "ct": completion_tokens, "cost": cost_usd, "model": model, "spans": json.dumps(spans),
            "froms": list(from_statuses)}


class ExecutionLifecycle:
    """Compare-and-set writes on Execution nodes (see module docstring).

    Args:
        client: the graph client.
    """

    def __init__(self, client: GraphClient) -> None:
        self.client = client
        # Creating an Execution appends an edge to its AgentVersion: on ArcadeDB concurrent appends to one
        # vertex conflict and retry, so this process creates one Execution per version at a time.
        self._version_locks: dict[str, asyncio.Lock] = {}

    async def transaction(self, work: Callable[[neo4j.AsyncManagedTransaction], Awaitable[T]]) -> T:
        """Run ``work(tx)`` in one write transaction with the lifecycle's short retry delays.

        For subclasses that add statements to a status write (e.g. counters updated with
        ``finish``): on ArcadeDB a hot record conflicts often, and the driver's default first
        retry waits ~1 s (module docstring).

        Raises:
            ServiceUnavailableError: the graph is not reachable.
        """
        driver = getattr(self.client, "_driver", None)
        if driver is None:  # a client bound to an open transaction
            return await self.client.transaction(work)
        try:
            async with driver.session(database=self.client.database, **_RETRY) as session:
                return await session.execute_write(work)
        except Exception as exc:
            if _unavailable(exc):
                raise ServiceUnavailableError(f"Graph database at {self.client.uri} is not reachable: {exc}") from exc
            raise

    async def _write(self, cypher: str, *then: str, **params: Any) -> list[dict[str, Any]]:
        """Run ``cypher`` (and the statements ``then``, when it matched) in one transaction; its rows."""
        async def work(tx: neo4j.AsyncManagedTransaction) -> list[dict[str, Any]]:
            rows = [r.data() async for r in await tx.run(cypher, params)]
            for statement in then if rows else ():
                await tx.run(statement, params)
            return rows

        if getattr(self.client, "_driver", None) is None:  # bound to an open transaction (graph._marketplace)
            rows = await self.client.write(cypher, **params)
            for statement in then if rows else ():
                await self.client.write(statement, **params)
            return rows
        return await self.transaction(work)

    @staticmethod
    def new_execution(*, tenant_id: str, agent_id: str, version: int, thread_id: str, input: str,
                      triggered_by: str | None, status: str = "running", parent_id: str | None = None,
                      sandbox: bool = False, execution_id: str | None = None) -> Execution:
        """The Execution :meth:`create` stores, built client side (id from ``new_id("run")`` unless given).

        Lets a caller know the run's id and fields before the write commits (``RunService`` starts the
        create and the graph run together on the inline path).
        """
        return Execution(id=execution_id or new_id("run"), tenant_id=tenant_id, agent_id=agent_id, version=version,
                         thread_id=thread_id, status=status, input=input, started_at=now_iso(),
                         triggered_by=triggered_by, attempt=0, parent_id=parent_id, sandbox=sandbox)

    async def start(self, *, tenant_id: str, agent_id: str, version: int, thread_id: str, input: str,
                    triggered_by: str | None, status: str = "running", parent_id: str | None = None,
                    sandbox: bool = False, execution_id: str | None = None) -> Execution:
        """Create an Execution linked with OF_VERSION (and TRIGGERED from its user), in ``status``.

        Same node and edges as ``ExecutionRepository.start``, written in one transaction.
        ``parent_id``: the Execution that started this one as a child run (delegation, team
        member, workflow agent step; issue 7), stored as a property (no edge: parallel children
        would all append to the parent's vertex and conflict on ArcadeDB). ``sandbox``: store it
        flagged as a test run (as :meth:`mark_sandbox`, in the same statement). ``execution_id``:
        the id to use (default a new ``run-...`` id).

        Raises:
            NotFoundError: the agent has no such version (nothing is stored).
        """
        return await self.create(self.new_execution(
            tenant_id=tenant_id, agent_id=agent_id, version=version, thread_id=thread_id, input=input,
            triggered_by=triggered_by, status=status, parent_id=parent_id, sandbox=sandbox,
            execution_id=execution_id))

    async def create(self, execution: Execution) -> Execution:
        """Store ``execution`` (from :meth:`new_execution`) with its OF_VERSION and TRIGGERED edges, atomically.

        Returns:
            The stored Execution, as read back.

        Raises:
            NotFoundError: the agent has no such version (nothing is stored).
            ServiceUnavailableError: the graph is not reachable (nothing is stored).
        """
        vid = f"{execution.agent_id}:v{execution.version}"
        lock = self._version_locks.setdefault(vid, asyncio.Lock())
        if len(self._version_locks) > 10_000:  # bounded: forget idle locks
            self._version_locks = {k: v for k, v in self._version_locks.items() if v.locked()} | {vid: lock}
        async with lock:
            rows = await self._start(vid, execution)
        if not rows:
            raise NotFoundError(f"Agent {execution.agent_id!r} has no version {execution.version}.")
        return Execution(**rows[0]["e"])

    async def _start(self, vid: str, e: Execution) -> list[dict[str, Any]]:
        # One statement (node, OF_VERSION, TRIGGERED when the user exists): one round trip.
        # ``sandbox`` only when set, so ordinary runs are stored exactly as before (no property).
        return await self._write(
            """
            MATCH (v:AgentVersion {id: $vid}) WHERE v.tenant_id = $tid
            CREATE (e:Execution {id: $eid, tenant_id: $tid, agent_id: $aid, version: $n, thread_id: $thread,
                                 status: $status, input: $input, started_at: $ts, prompt_tokens: 0,
                                 completion_tokens: 0, cost_usd: 0.0, triggered_by: $uid, spans_json: '[]',
                                 attempt: 0, parent_id: $pid""" + (", sandbox: true" if e.sandbox else "") + """})
            CREATE (e)-[:OF_VERSION]->(v)
            WITH e
            OPTIONAL MATCH (u:User {id: $uid})
            FOREACH (_ IN CASE WHEN u IS NULL THEN [] ELSE [1] END | CREATE (u)-[:TRIGGERED]->(e))
            RETURN properties(e) AS e
            """,
            vid=vid, tid=e.tenant_id, eid=e.id, aid=e.agent_id, n=e.version, thread=e.thread_id,
            input=e.input, ts=e.started_at, uid=e.triggered_by, status=e.status, pid=e.parent_id)

    async def claim(self, *, tenant_id: str, execution_id: str,
                    from_statuses: Iterable[str] = ("queued",)) -> Execution | None:
        """Move the Execution to ``running`` and count an attempt, if its status is in ``from_statuses``.

        Returns:
            The claimed Execution (``attempt`` already incremented), or None when its
            status is not in ``from_statuses`` (someone else claimed, cancelled or finished it).

        Raises:
            NotFoundError: no such Execution in the tenant.
        """
        rows = await self._write(
            """
            MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid AND e.status IN $froms
            SET e.status = 'running', e.attempt = coalesce(e.attempt, 0) + 1
            RETURN properties(e) AS e
            """,
            eid=execution_id, tid=tenant_id, froms=list(from_statuses),
        )
        if rows:
            return Execution(**rows[0]["e"])
        await self._must_exist(tenant_id, execution_id)
        return None

    async def transition(self, *, tenant_id: str, execution_id: str, from_statuses: Iterable[str], status: str,
                         error: str | None = None, error_code: str | None = None,
                         ended_at: str | None = None) -> Execution | None:
        """Set ``status`` (and the error fields given) if the current status is in ``from_statuses``.

        Returns:
            The updated Execution, or None when its status was not in ``from_statuses``.

        Raises:
            NotFoundError: no such Execution in the tenant.
        """
        rows = await self._write(
            """
            MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid AND e.status IN $froms
            SET e.status = $status, e.error = coalesce($error, e.error), e.error_code = coalesce($code, e.error_code),
                e.ended_at = coalesce($ended, e.ended_at)
            RETURN properties(e) AS e
            """,
            eid=execution_id, tid=tenant_id, status=status, error=error, code=error_code, ended=ended_at,
            froms=list(from_statuses),
        )
        if rows:
            return Execution(**rows[0]["e"])
        await self._must_exist(tenant_id, execution_id)
        return None

    async def finish(
        self, *, tenant_id: str, execution_id: str, status: str, output: str | None, error: str | None,
        error_code: str | None, ended_at: str | None, latency_ms: float | None, prompt_tokens: int,
        completion_tokens: int, cost_usd: float, model: str | None, spans: list[dict[str, Any]],
        from_statuses: Iterable[str] = ("running",), agent_id: str | None = None, triggered_by: str | None = None,
    ) -> Execution | None:
        """Record a run's outcome if the Execution is still in ``from_statuses`` (``running``).

        ``status`` may be ``queued`` (a failed attempt that will be retried): then
        ``ended_at`` is None and the error fields say why the attempt failed.
        ``agent_id`` / ``triggered_by``: the Execution's agent and user when the caller
        knows them (``RunService`` does); ignored here, subclasses that update the Agent in
        the same statement (``graph._marketplace.CountingExecutionLifecycle``) use them for
        index lookups. They are checked against the stored Execution, never trusted.

        Returns:
            The stored Execution, or None when it had moved on (recorded by another
            delivery, or cancelled while queued).
        """
        rows = await self._write(FINISH_CAS + "RETURN properties(e) AS e",
                                 **finish_params(tenant_id=tenant_id, execution_id=execution_id, status=status,
                                                 output=output, error=error, error_code=error_code,
                                                 ended_at=ended_at, latency_ms=latency_ms,
                                                 prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                                 cost_usd=cost_usd, model=model, spans=spans,
                                                 from_statuses=from_statuses))
        return Execution(**rows[0]["e"]) if rows else None

    async def children(self, *, tenant_id: str, execution_id: str) -> list[Execution]:
        """Child runs started by ``execution_id`` (issue 7), oldest first; empty when none."""
        rows = await self.client.query(
            "MATCH (e:Execution) WHERE e.tenant_id = $tid AND e.parent_id = $pid RETURN properties(e) AS e "
            "ORDER BY e.started_at", tid=tenant_id, pid=execution_id)
        return [Execution(**r["e"]) for r in rows]

    async def add_artifact(self, *, tenant_id: str, execution_id: str, artifact: dict[str, Any],
                           max_artifacts: int = 50) -> list[dict[str, Any]]:
        """Append ``artifact`` (a JSON-able dict with an ``id``) to the Execution's ``artifacts_json``.

        Read and write happen in one transaction (retried on conflicts), whatever the
        run's status, so a run that fails after creating a file still links it.

        Returns:
            The Execution's artifacts after the append.

        Raises:
            NotFoundError: no such Execution in the tenant.
            ConflictError: the Execution already lists ``max_artifacts`` artifacts.
        """
        async def work(tx: neo4j.AsyncManagedTransaction) -> list[dict[str, Any]] | None:
            rows = [r.data() async for r in await tx.run(
                "MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid RETURN e.artifacts_json AS a",
                eid=execution_id, tid=tenant_id)]
            if not rows:
                return None
            items = json.loads(rows[0]["a"] or "[]")
            if len(items) >= max_artifacts:
                raise ConflictError(f"Run {execution_id} already has {len(items)} artifacts, the limit.")
            items.append(artifact)
            await tx.run("MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid SET e.artifacts_json = $a",
                         eid=execution_id, tid=tenant_id, a=json.dumps(items))
            return items

        out = await self.transaction(work)
        if out is None:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")
        return out

    async def remove_artifact(self, *, tenant_id: str, execution_id: str, artifact_id: str) -> bool:
        """Drop the artifact ``artifact_id`` from the Execution's ``artifacts_json`` (one transaction).

        Returns:
            Whether a link was removed (False: no such Execution or it did not list the artifact).
        """
        async def work(tx: neo4j.AsyncManagedTransaction) -> bool:
            rows = [r.data() async for r in await tx.run(
                "MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid RETURN e.artifacts_json AS a",
                eid=execution_id, tid=tenant_id)]
            if not rows:
                return False
            items = json.loads(rows[0]["a"] or "[]")
            kept = [a for a in items if a.get("id") != artifact_id]
            if len(kept) == len(items):
                return False
            await tx.run("MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid SET e.artifacts_json = $a",
                         eid=execution_id, tid=tenant_id, a=json.dumps(kept))
            return True

        return await self.transaction(work)

    async def count_by_status(self, *, tenant_id: str, agent_id: str | None = None) -> dict[str, int]:
        """Number of Executions per status for a tenant (optionally one agent); sandbox runs are not counted."""
        rows = await self.client.query(
            """
            MATCH (e:Execution) WHERE e.tenant_id = $tid AND ($aid IS NULL OR e.agent_id = $aid)
              AND coalesce(e.sandbox, false) = false
            RETURN e.status AS status, count(e) AS n
            """,
            tid=tenant_id, aid=agent_id,
        )
        return {r["status"]: int(r["n"]) for r in rows}

    async def mark_sandbox(self, *, tenant_id: str, execution_id: str) -> Execution:
        """Flag an Execution as a sandbox (test) run (issue 7): its finish does not count in statistics.

        Raises:
            NotFoundError: no such Execution in the tenant.
        """
        rows = await self._write(
            "MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid SET e.sandbox = true RETURN properties(e) AS e",
            eid=execution_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")
        return Execution(**rows[0]["e"])

    async def _must_exist(self, tenant_id: str, execution_id: str) -> None:
        rows = await self.client.query(
            "MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid RETURN e.id AS id",
            eid=execution_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")


__all__ = ["ExecutionLifecycle", "FINISH_CAS", "RUN_STATUSES", "TERMINAL_STATUSES", "finish_params"]
