"""Thin async wrapper around the official ``neo4j`` driver (Neo4j 5 and ArcadeDB Bolt).

Always passes ``database_`` (ArcadeDB needs it) and retries writes that lose a
race on a unique key: concurrent MERGE on ArcadeDB can raise
``ConstraintValidationFailed`` (DESIGN.md facts), which a retry resolves because
the second attempt MATCHes the node the winner created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import neo4j
from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired, TransientError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from agentgraph.errors import ConflictError, ServiceUnavailableError

T = TypeVar("T")

_CONSTRAINT = "Neo.ClientError.Schema.ConstraintValidationFailed"


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, ClientError) and exc.code == _CONSTRAINT


def _unavailable(exc: BaseException) -> bool:
    """A lost or not-yet-ready server, not a bad statement: answered 503 (issue 6, graph outage).

    A ``TransientError`` that outlived the retries (write contention on a hot vertex under
    load) is "busy, retry later" too. Besides connection errors this covers what ArcadeDB's
    Bolt plugin answers while it
    restarts: pooled connections whose credentials it no longer knows (``AuthError`` after
    ``verify`` succeeded at start) and protocol-state errors ("BEGIN not expected in state").
    """
    if isinstance(exc, (ServiceUnavailable, SessionExpired, neo4j.exceptions.AuthError, OSError, TransientError)):
        return True
    return isinstance(exc, ClientError) and exc.code == "Neo.ClientError.Request.Invalid" \
        and "not expected in state" in (exc.message or "")


class GraphClient:
    """Async graph connection.

    Args:
        uri: Bolt URI (``bolt://127.0.0.1:7687`` or ``neo4j://host``).
        user / password: credentials.
        database: database name, passed to every call.
        backend: ``"arcadedb"`` or ``"neo4j"``; selects DDL in ``graph._ddl``.
        http_url: ArcadeDB HTTP base URL (for SQL DDL); unused for Neo4j.
        write_attempts: attempts for writes that hit a transient/constraint race.
        retry_time_s: how long the driver retries a unit of work on a lost connection, seconds
            (short: a graph outage becomes a prompt 503, not a hung request).
    """

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str,
        *,
        backend: str = "neo4j",
        http_url: str | None = None,
        write_attempts: int = 4,
        retry_time_s: float = 2.0,
    ) -> None:
        self.uri = uri
        self.database = database
        self.backend = backend
        self.http_url = http_url
        self.auth = (user, password)
        self.write_attempts = write_attempts
        # Fail fast while the server is down (the driver's default retries a transaction for 30 s):
        # the API answers 503 + Retry-After and the client retries (issue 6, graph outage).
        self._driver = neo4j.AsyncGraphDatabase.driver(
            uri, auth=self.auth, max_transaction_retry_time=retry_time_s, connection_timeout=5.0,
            connection_acquisition_timeout=10.0)

    async def close(self) -> None:
        """Close the driver and its pool."""
        await self._driver.close()

    async def verify(self) -> None:
        """Check connectivity.

        Raises:
            ServiceUnavailableError: the server does not answer or refuses the credentials.
        """
        try:
            await self.query("RETURN 1 AS ok")
        except (ServiceUnavailable, OSError, neo4j.exceptions.AuthError) as exc:
            raise ServiceUnavailableError(
                f"Graph database at {self.uri} is not reachable ({exc}). Start it with `agentgraph up` "
                "or fix AGENTGRAPH_GRAPH__URI / credentials."
            ) from exc

    async def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one read statement; rows as dicts."""
        try:
            result = await self._driver.execute_query(
                cypher, params, database_=self.database, routing_=neo4j.RoutingControl.READ
            )
        except Exception as exc:
            if _unavailable(exc):
                raise ServiceUnavailableError(f"Graph database at {self.uri} is not reachable: {exc}") from exc
            raise
        return [r.data() for r in result.records]

    async def write(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """Run one write statement in its own transaction (retried on races)."""

        async def work(tx: neo4j.AsyncManagedTransaction) -> list[dict[str, Any]]:
            res = await tx.run(cypher, params)
            return [r.data() async for r in res]

        return await self.transaction(work)

    async def transaction(self, work: Callable[[neo4j.AsyncManagedTransaction], Awaitable[T]]) -> T:
        """Run ``work(tx)`` atomically: all of its statements commit, or none.

        Retries the whole unit on transient errors and unique-key races; a
        unique-key violation that persists becomes :class:`ConflictError`.
        """
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                stop=stop_after_attempt(self.write_attempts),
                wait=wait_random_exponential(multiplier=0.05, max=1.0),
                reraise=True,
            ):
                with attempt:
                    async with self._driver.session(database=self.database) as session:
                        return await session.execute_write(work)
        except ClientError as exc:
            if exc.code == _CONSTRAINT:
                raise ConflictError(f"An object with the same id already exists: {exc.message}") from exc
            if _unavailable(exc):
                raise ServiceUnavailableError(f"Graph database at {self.uri} is not reachable: {exc}") from exc
            raise
        except Exception as exc:
            if _unavailable(exc):
                raise ServiceUnavailableError(f"Graph database at {self.uri} is not reachable: {exc}") from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover
