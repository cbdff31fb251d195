"""Idempotency keys: a retried delivery returns the first run instead of starting another.

Senders (webhooks: the ``Idempotency-Key`` header; GraphQL: ``runAgent(idempotencyKey:)``)
choose a key per logical request. Keys are scoped per tenant and agent and kept
``ttl_s`` (24 h, Stripe's retention of idempotency keys).

Protocol on Redis (one key ``agentgraph:idem:{tenant}:{agent}:{sha256(key)}``):

1. ``SET key "pending:<nonce>" NX EX ttl`` - the first request claims the key.
2. The winner starts the run and ``SET key <run_id> XX KEEPTTL``; if starting fails
   (bad input, graph down) it deletes its claim so a retry can try again.
3. A request that loses the claim reads the value: a run id -> that run is returned;
   ``pending`` -> another request is starting the run right now (the in-flight race):
   it polls until the run id appears, up to ``wait_s``, then answers
   :class:`IdempotencyInFlightError` (409, "retry shortly"), as Stripe does for
   concurrent requests with one key.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from agentgraph.errors import ConflictError, UserError

T = TypeVar("T")
#: Retention of a key, seconds (24 h, as Stripe).
DEFAULT_TTL_S = 24 * 3600
MAX_KEY_CHARS = 255
_PENDING = "pending:"


class IdempotencyInFlightError(ConflictError):
    """Another request with the same idempotency key is still starting its run."""

    code = "IDEMPOTENCY_IN_FLIGHT"


def idempotency_redis_key(tenant_id: str, agent_id: str, key: str) -> str:
    """Redis key of one idempotency key (hashed: senders may use long or odd strings)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"agentgraph:idem:{tenant_id}:{agent_id}:{digest}"


class IdempotencyStore:
    """Start-once guard (see module docstring).

    Args:
        redis: async Redis client.
        ttl_s: key retention, seconds.
        wait_s: how long a concurrent duplicate waits for the first request's run id, seconds.
        poll_s: polling interval while waiting, seconds.
    """

    def __init__(self, redis: aioredis.Redis, *, ttl_s: int = DEFAULT_TTL_S, wait_s: float = 10.0,
                 poll_s: float = 0.02) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.wait_s = wait_s
        self.poll_s = poll_s

    @staticmethod
    def check_key(key: str) -> str:
        """Validate a sender's key (1..255 printable characters).

        Raises:
            UserError: empty, too long or with control characters.
        """
        key = key.strip()
        if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
            raise UserError(f"An idempotency key must be 1..{MAX_KEY_CHARS} printable characters, e.g. a UUID.")
        return key

    async def run_once(self, *, tenant_id: str, agent_id: str, key: str, start: Callable[[], Awaitable[T]],
                       run_id_of: Callable[[T], str], load: Callable[[str], Awaitable[T]]) -> tuple[T, bool]:
        """Start at most one run per key; return ``(run, created)``.

        Args:
            start: starts the run (called only by the request that wins the claim).
            run_id_of: the run id of what ``start`` returned.
            load: loads an existing run by id (for duplicates).

        Raises:
            UserError: invalid key.
            IdempotencyInFlightError: a concurrent request holds the key for longer than ``wait_s``.
            whatever ``start`` raises (the claim is released first).
        """
        rkey = idempotency_redis_key(tenant_id, agent_id, self.check_key(key))
        claim = _PENDING + secrets.token_hex(8)
        if await self.redis.set(rkey, claim, nx=True, ex=self.ttl_s):
            try:
                run = await start()
            except BaseException:
                # Release only our own claim (a key that expired meanwhile may belong to someone else).
                if _text(await self.redis.get(rkey)) == claim:
                    await self.redis.delete(rkey)
                raise
            await self.redis.set(rkey, run_id_of(run), xx=True, keepttl=True)
            return run, True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while True:
            value = _text(await self.redis.get(rkey))
            if value is None:  # the first request failed and released the key: try to claim it ourselves
                return await self.run_once(tenant_id=tenant_id, agent_id=agent_id, key=key, start=start,
                                           run_id_of=run_id_of, load=load)
            if not value.startswith(_PENDING):
                return await load(value), False
            if loop.time() >= deadline:
                raise IdempotencyInFlightError(
                    "A request with this idempotency key is still starting its run; retry in a few seconds "
                    "with the same key.")
            await asyncio.sleep(self.poll_s)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["DEFAULT_TTL_S", "IdempotencyInFlightError", "IdempotencyStore", "idempotency_redis_key"]
