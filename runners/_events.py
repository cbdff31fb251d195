"""Run events: every status change of a run, on Redis Streams.

Why streams and not pub/sub: a subscriber that connects after the run started (a
browser opening the SSE stream, a GraphQL subscription, a reconnect with
``Last-Event-ID``) replays what it missed; pub/sub would drop it. Workers in other
processes publish to the same streams, so the API sees runs it did not start.

Keys (one stream per run, one per tenant):

* ``agentgraph:run-events:{run_id}`` - that run's events, expires ``RUN_STREAM_TTL_S``
  after the last event.
* ``agentgraph:run-events:tenant:{tenant_id}`` - every run of the tenant, capped at
  ``TENANT_STREAM_MAXLEN`` entries (approximate trim, Redis ``MAXLEN ~``).

Event fields (all strings in Redis; :class:`RunEvent` gives them types):
``type`` (``status``), ``run_id``, ``tenant_id``, ``agent_id``, ``status`` (``queued``,
``running``, ``succeeded``, ``failed``, ``cancelled``, ``timed_out``), ``at`` (ISO 8601 UTC),
``data`` (JSON object: e.g. ``attempt``, ``error_code``, ``latency_ms``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from graph import now_iso

from runners._pii import current_redactor

#: Terminal run statuses (issue 6 lifecycle); a run stream ends after one of them.
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
RUN_STREAM_TTL_S = 24 * 3600
TENANT_STREAM_MAXLEN = 10_000


def run_stream_key(run_id: str) -> str:
    """Redis stream of one run's events."""
    return f"agentgraph:run-events:{run_id}"


def tenant_stream_key(tenant_id: str) -> str:
    """Redis stream of every run event of a tenant."""
    return f"agentgraph:run-events:tenant:{tenant_id}"


@dataclass(frozen=True)
class RunEvent:
    """One run event. ``id`` is the Redis stream entry id (``"<ms>-<seq>"``), empty before publishing."""

    run_id: str
    tenant_id: str
    agent_id: str
    status: str
    type: str = "status"
    at: str = field(default_factory=now_iso)
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    @property
    def terminal(self) -> bool:
        """True for a status that ends the run."""
        return self.type == "status" and self.status in TERMINAL_STATUSES

    def to_fields(self) -> dict[str, str]:
        """Flat string fields for ``XADD``."""
        return {"type": self.type, "run_id": self.run_id, "tenant_id": self.tenant_id,
                "agent_id": self.agent_id, "status": self.status, "at": self.at,
                "data": json.dumps(self.data, default=str)}

    @classmethod
    def from_fields(cls, entry_id: str | bytes, fields: dict[Any, Any]) -> "RunEvent":
        """Parse an ``XREAD``/``XRANGE`` entry (bytes or str keys)."""
        f = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
             for k, v in fields.items()}
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return cls(run_id=f["run_id"], tenant_id=f["tenant_id"], agent_id=f["agent_id"], status=f["status"],
                   type=f.get("type", "status"), at=f.get("at", ""), data=json.loads(f.get("data") or "{}"),
                   id=eid)


class RunEventBus:
    """Publish and follow run events (Redis Streams, see module docstring).

    Args:
        redis: an ``redis.asyncio.Redis`` client (``decode_responses`` either way).
    """

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        #: Platform-wide PII redactor (``runners._pii.Redactor``) for event data; a run's own applies inside it.
        self.redactor: Any = None

    async def publish(self, event: RunEvent) -> str:
        """Append ``event`` to its run stream and its tenant stream; return the run stream entry id."""
        fields = event.to_fields()
        redactor = current_redactor() or self.redactor  # PII never reaches the streams (issue 7)
        if redactor is not None:
            fields["data"] = json.dumps(redactor.redact_obj(event.data), default=str)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(run_stream_key(event.run_id), fields)
            pipe.expire(run_stream_key(event.run_id), RUN_STREAM_TTL_S)
            pipe.xadd(tenant_stream_key(event.tenant_id), fields, maxlen=TENANT_STREAM_MAXLEN, approximate=True)
            entry_id, *_ = await pipe.execute()
        return entry_id.decode() if isinstance(entry_id, bytes) else entry_id

    async def history(self, run_id: str) -> list[RunEvent]:
        """All stored events of a run, oldest first (empty when unknown or expired)."""
        rows = await self.redis.xrange(run_stream_key(run_id))
        return [RunEvent.from_fields(eid, f) for eid, f in rows]

    async def follow(self, key: str, *, after: str = "0-0", block_ms: int = 15_000,
                     stop_at_terminal: bool = True) -> AsyncIterator[RunEvent | None]:
        """Yield events of stream ``key`` after entry id ``after`` (``"0-0"``: from the start, ``"$"``: new only).

        Yields ``None`` when ``block_ms`` passes with no event (callers send a keep-alive
        or check for disconnects). Stops after a terminal event when ``stop_at_terminal``
        (use it for a run stream; a tenant stream never ends).
        """
        last = after
        if last == "$":  # resolve to a concrete id so no event is missed between two reads
            info = await self.redis.xinfo_stream(key) if await self.redis.exists(key) else None
            last = (info or {}).get("last-generated-id") or (info or {}).get(b"last-generated-id") or "0-0"
            last = last.decode() if isinstance(last, bytes) else last
        while True:
            rows = await self.redis.xread({key: last}, block=block_ms, count=100)
            if not rows:
                yield None
                continue
            for _key, entries in rows:
                for eid, fields in entries:
                    event = RunEvent.from_fields(eid, fields)
                    last = event.id
                    yield event
                    if stop_at_terminal and event.terminal:
                        return


__all__ = ["RunEvent", "RunEventBus", "TERMINAL_STATUSES", "run_stream_key", "tenant_stream_key"]
