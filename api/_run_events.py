"""Run events for clients: ``GET /runs/{run_id}/events`` (server-sent events) and the shared stream helper.

SSE (sse-starlette): each event is ``id: <stream entry id>``, ``event: status``,
``data: <RunEvent JSON>``; a comment ping every ``PING_S`` seconds keeps proxies
from closing an idle stream. A client that reconnects sends ``Last-Event-ID``
(browsers' ``EventSource`` do it by themselves) and receives only later events.
The stream ends after the run's terminal event (``succeeded``, ``failed``,
``cancelled``, ``timed_out``).

The same generator feeds the GraphQL subscription ``runEvents`` (api._schema_events).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from agentgraph.errors import ServiceUnavailableError, UserError
from runners import TERMINAL_STATUSES, RunEvent, RunEventBus, run_stream_key

from api._auth import acting_as

#: Keep-alive period of SSE streams, seconds (below common 30-60 s proxy idle timeouts).
PING_S = 15
_ENTRY_ID = "0123456789-"

router = APIRouter(tags=["runs"])


def _check_after(after: str | None) -> str:
    after = (after or "0-0").strip()
    if not after or len(after) > 40 or any(c not in _ENTRY_ID for c in after):
        raise UserError("Last-Event-ID / after must be a stream entry id such as '1767225600000-0'.")
    return after


async def run_event_stream(platform: Any, run_id: str, *, after: str | None = None,
                           block_ms: int = PING_S * 1000) -> AsyncIterator[RunEvent | None]:
    """Events of one run of the caller's tenant after entry id ``after``; ``None`` on idle periods.

    The checks run when this is awaited (before any event), so callers can answer errors
    before a stream starts. The iterator ends after the terminal event. A run that already
    ended whose stream expired (streams live 24 h) yields one event rebuilt from its Execution.

    Raises:
        NotFoundError: no such run in the tenant.
        UserError: malformed ``after``.
    """
    after = _check_after(after)
    execution = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=run_id)
    bus = RunEventBus(platform.redis)

    async def ended() -> AsyncIterator[RunEvent | None]:
        # Nothing will follow: replay what is stored after `after` and stop (no blocking read).
        stored = [e for e in await bus.history(run_id) if _after(e.id, after)]
        if not stored and after == "0-0":
            stored = [RunEvent(run_id=run_id, tenant_id=execution.tenant_id, agent_id=execution.agent_id,
                               status=execution.status, at=execution.ended_at or execution.started_at,
                               data={"rebuilt": True}, id="0-1")]
        for e in stored:
            yield e

    if execution.status in TERMINAL_STATUSES:
        return ended()
    return bus.follow(run_stream_key(run_id), after=after, block_ms=block_ms)


def _after(entry_id: str, after: str) -> bool:
    a, b = (tuple(int(x) for x in i.split("-")) for i in (entry_id, after if "-" in after else f"{after}-0"))
    return a > b


def event_json(event: RunEvent) -> dict[str, Any]:
    """JSON form of an event (the SSE ``data`` and the GraphQL fields)."""
    return asdict(event)


@router.get("/runs/{run_id}/events", summary="Server-sent events of a run until it ends")
async def run_events_sse(run_id: str, request: Request, after: str | None = None) -> EventSourceResponse:
    """Stream a run's status events (see module docstring); ``?after=`` works like ``Last-Event-ID``."""
    platform = getattr(request.app.state, "platform", None)
    if platform is None:
        raise ServiceUnavailableError("The platform is starting; retry shortly.")
    caller = await platform.auth.authenticate(request.headers, request.cookies) if platform.auth else None
    # Awaited here (as the caller, for its tenant): an unknown run or a bad id is a JSON error, not a stream.
    with acting_as(caller):
        stream = await run_event_stream(platform, run_id, after=request.headers.get("last-event-id") or after)

    async def events() -> AsyncIterator[dict[str, Any]]:
        async for event in stream:
            if event is not None:
                yield {"id": event.id, "event": event.type, "data": json.dumps(event_json(event))}
            elif await request.is_disconnected():
                return

    return EventSourceResponse(events(), ping=PING_S)


__all__ = ["PING_S", "event_json", "router", "run_event_stream"]
