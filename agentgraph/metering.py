"""The metered gateway: tenant routing (BYOK), virtual keys, budgets and usage around any ChatModel.

Every LLM call of the platform goes through :class:`MeteredGateway`:

1. **who**: the :class:`~agentgraph.budgets.CallScope` comes from :func:`call_scope`
   (a ``ContextVar`` the run service / resolvers set; asyncio tasks inherit it) or
   from a virtual key (``virtual_key="agk_..."``), which maps to a tenant, team and
   user and may restrict the models;
2. **where**: a tenant's own deployments (BYOK, model group ``"{tenant}::{name}"``)
   win over platform defaults of the same name; names the LiteLLM router does not
   serve go to the base backend (local llama.cpp or the scripted LLM); models a
   tenant disabled are refused;
3. **budget**: the guard reserves an upper-bound estimate, the call runs, the guard
   settles the actual ``response_cost`` (see ``agentgraph.budgets``);
4. **usage**: per-day counters per tenant, team, user, agent, virtual key and model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any

from agentgraph.budgets import BudgetEvent, BudgetGuard, CallScope, Reservation
from agentgraph.costs import UsageMeter, count_prompt_tokens, estimate_cost_usd, model_info
from agentgraph.errors import BudgetExceededError, UserError
from agentgraph.gateway import DEFAULT_ALIAS, ChatModel, Completion, LiteLLMGateway, StreamEvent, astream

_SCOPE: ContextVar[CallScope | None] = ContextVar("agentgraph_call_scope", default=None)
VIRTUAL_KEY_PREFIX = "agk_"


@contextmanager
def call_scope(scope: CallScope) -> Iterator[CallScope]:
    """Attribute every LLM call made inside the block (and tasks it starts) to ``scope``."""
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> CallScope | None:
    """The scope set by the innermost :func:`call_scope`, if any."""
    return _SCOPE.get()


def tenant_model_name(tenant_id: str, name: str) -> str:
    """Router model group of a tenant's own (BYOK) deployment of ``name``."""
    return f"{tenant_id}::{name}"


def hash_virtual_key(secret: str) -> str:
    """SHA-256 hex of a virtual key (only the hash is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_virtual_key() -> str:
    """A fresh virtual key secret: ``agk_`` + 40 urlsafe characters (240 bits)."""
    return VIRTUAL_KEY_PREFIX + secrets.token_urlsafe(30)


@dataclass
class VirtualKeyGrant:
    """What a virtual key resolves to (the Redis mirror of a VirtualKey node)."""

    id: str
    tenant_id: str
    name: str
    team_id: str | None = None
    user_id: str | None = None
    models: list[str] = field(default_factory=list)


class VirtualKeyIndex:
    """Active virtual keys by hash, in a Redis hash (revoking deletes the entry at once).

    Args:
        redis: ``redis.asyncio.Redis`` client.
        key: Redis hash name.
    """

    def __init__(self, redis: Any, *, key: str = "ag:vkeys") -> None:
        self.redis = redis
        self.key = key

    async def put(self, key_hash: str, grant: VirtualKeyGrant) -> None:
        """Activate a key."""
        await self.redis.hset(self.key, key_hash, json.dumps(asdict(grant)))

    async def revoke(self, key_hash: str) -> None:
        """Deactivate a key (effective for the next call in every process)."""
        await self.redis.hdel(self.key, key_hash)

    async def resolve(self, secret: str) -> VirtualKeyGrant:
        """Grant of an active key.

        Raises:
            UserError: (``INVALID_VIRTUAL_KEY``) unknown or revoked key.
        """
        raw = await self.redis.hget(self.key, hash_virtual_key(secret)) if secret.startswith(VIRTUAL_KEY_PREFIX) else None
        if raw is None:
            raise UserError("This virtual key is unknown or revoked. Ask an admin for a new one (createVirtualKey).",
                            code="INVALID_VIRTUAL_KEY")
        return VirtualKeyGrant(**json.loads(raw))


EventSink = Callable[[BudgetEvent], Awaitable[None]]


class MeteredGateway:
    """A :class:`~agentgraph.gateway.ChatModel` that routes, guards and meters (module docstring).

    Args:
        base: backend for names the router does not serve (scripted / local / provider router).
        router: the LiteLLM router holding admin and BYOK deployments (may be ``base``).
        guard / meter / vkeys: budget guard, usage counters, virtual-key index (None disables each).
        default_tenant: tenant charged when no scope is set (single-tenant default until auth lands).
        on_event: coroutine called (in a background task) with each warn/block event.
        redis: a Redis client the gateway owns and closes in :meth:`aclose`.
    """

    def __init__(self, base: ChatModel, *, router: LiteLLMGateway | None = None, guard: BudgetGuard | None = None,
                 meter: UsageMeter | None = None, vkeys: VirtualKeyIndex | None = None,
                 default_tenant: str = "default", on_event: EventSink | None = None, redis: Any = None) -> None:
        self.base = base
        self._redis = redis  # owned client (closed by aclose), when the caller made one for us
        self.router = router
        self.guard = guard
        self.meter = meter
        self.vkeys = vkeys
        self.default_tenant = default_tenant
        self.on_event = on_event
        #: tenant id -> model names the tenant disabled (kept current by the LLM service).
        self.disabled: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._prices: dict[str, tuple[float, float]] = {}

    def describe(self) -> dict[str, Any]:
        """Models of the base backend plus the router's model groups (tenant groups hidden)."""
        models = list(self.base.describe().get("models", []))
        if self.router is not None and self.router is not self.base:
            models += [m for m in self.router.describe()["models"] if "::" not in m]
        return {"backend": "metered", "models": sorted(set(models))}

    def invalidate_prices(self) -> None:
        """Forget cached per-group prices (call after deployments change)."""
        self._prices.clear()

    async def aclose(self) -> None:
        """Wait for event callbacks, then close the owned Redis client (if any)."""
        await self.drain()
        if self._redis is not None:
            await self._redis.aclose()

    async def drain(self) -> None:
        """Wait for pending event callbacks (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- routing -------------------------------------------------------------------
    async def _scope(self, virtual_key: str | None) -> tuple[CallScope, VirtualKeyGrant | None]:
        scope = current_scope() or CallScope(tenant_id=self.default_tenant)
        if not virtual_key:
            return scope, None
        if self.vkeys is None:
            raise UserError("Virtual keys are not enabled on this gateway.", code="INVALID_VIRTUAL_KEY")
        grant = await self.vkeys.resolve(virtual_key)
        return CallScope(tenant_id=grant.tenant_id, user_id=grant.user_id or scope.user_id,
                         team_id=grant.team_id or scope.team_id, agent_id=scope.agent_id,
                         virtual_key_id=grant.id), grant

    def _resolve(self, tenant_id: str, name: str) -> tuple[ChatModel, str]:
        r = self.router
        if r is not None:
            own = tenant_model_name(tenant_id, name)
            if r.serves(own):
                return r, own
            if r.serves(name):
                return r, name
        return self.base, name

    def route(self, scope: CallScope, model: str | None, fallbacks: list[str] | None,
              grant: VirtualKeyGrant | None = None) -> tuple[ChatModel, str, list[str]]:
        """``(backend, model group, fallback groups)`` for a call.

        Raises:
            UserError: the model is disabled for the tenant or not allowed for the virtual key.
        """
        name = model or DEFAULT_ALIAS
        off = self.disabled.get(scope.tenant_id, set())
        if name in off:
            raise UserError(f"Model {name!r} is disabled for tenant {scope.tenant_id!r}. Enable it in the model "
                            "catalogue (setModelEnabled / Models & budgets tab) or choose another model.",
                            code="MODEL_DISABLED")
        if grant is not None and grant.models and name not in grant.models:
            raise UserError(f"Virtual key {grant.name!r} may not use model {name!r}; allowed: "
                            f"{', '.join(grant.models)}.", code="MODEL_NOT_ALLOWED")
        backend, target = self._resolve(scope.tenant_id, name)
        chain = []
        for fb in fallbacks or []:
            if fb in off or (grant is not None and grant.models and fb not in grant.models):
                continue
            fb_backend, fb_target = self._resolve(scope.tenant_id, fb)
            if fb_backend is backend:
                chain.append(fb_target)
        return backend, target, chain

    def _price(self, group: str) -> tuple[float, float]:
        """Dearest (input, output) USD/token among the deployments of a router group."""
        if group not in self._prices:
            best = (0.0, 0.0)
            for d in self.router.deployments(group) if self.router else []:
                p = d["litellm_params"]
                info = model_info(str(p.get("model", "")), input_cost_per_token=p.get("input_cost_per_token"),
                                  output_cost_per_token=p.get("output_cost_per_token"))
                best = (max(best[0], info.input_cost_per_token), max(best[1], info.output_cost_per_token))
            self._prices[group] = best
        return self._prices[group]

    def estimate(self, backend: ChatModel, target: str, chain: list[str], messages: list[dict[str, Any]],
                 max_tokens: int | None) -> float:
        """Upper-bound USD of a call: priced at the dearest deployment of the primary and fallbacks."""
        if backend is not self.router or self.router is None:
            return 0.0  # local and scripted models are free
        prices = [self._price(g) for g in (target, *chain)]
        pin, pout = max(p[0] for p in prices), max(p[1] for p in prices)
        if pin == 0.0 and pout == 0.0:
            return 0.0
        return estimate_cost_usd(prompt_tokens=count_prompt_tokens(messages), max_tokens=max_tokens,
                                 input_cost_per_token=pin, output_cost_per_token=pout)

    # --- the metered call ---------------------------------------------------------
    async def _open(self, messages: list[dict[str, Any]], model: str | None, fallbacks: list[str] | None,
                    max_tokens: int | None, virtual_key: str | None
                    ) -> tuple[CallScope, ChatModel, str, list[str], Reservation | None]:
        scope, grant = await self._scope(virtual_key)
        backend, target, chain = self.route(scope, model, fallbacks, grant)
        reservation = None
        if self.guard is not None:
            budgets = await self.guard.applicable(scope)
            if budgets:
                est = self.estimate(backend, target, chain, messages, max_tokens)
                try:
                    reservation, _ = await self.guard.reserve(scope, est, budgets=budgets)
                except BudgetExceededError as exc:
                    event = getattr(exc, "event", None)
                    if event is not None:
                        self._emit([event])
                    raise
        return scope, backend, target, chain, reservation

    async def _close(self, scope: CallScope, reservation: Reservation | None, c: Completion | None) -> None:
        if reservation is not None and self.guard is not None:
            self._emit(await self.guard.settle(reservation, c.cost_usd if c else 0.0))
        if c is not None and self.meter is not None:
            await self.meter.record(
                tenant_id=scope.tenant_id, cost_usd=c.cost_usd, prompt_tokens=c.prompt_tokens,
                completion_tokens=c.completion_tokens,
                dims={"team": scope.team_id, "user": scope.user_id, "agent": scope.agent_id,
                      "vkey": scope.virtual_key_id, "model": c.model})

    def _emit(self, events: list[BudgetEvent]) -> None:
        if not events or self.on_event is None:
            return
        for ev in events:
            task = asyncio.get_running_loop().create_task(self.on_event(ev))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def complete(self, messages: list[dict[str, Any]], *, model: str | None = None,
                       fallbacks: list[str] | None = None, max_tokens: int | None = None,
                       virtual_key: str | None = None, **kwargs: Any) -> Completion:
        """Route, reserve, call, settle, meter. Same arguments as ``ChatModel.complete`` plus ``virtual_key``.

        Raises:
            BudgetExceededError: a budget of the caller's scope blocks the call (nothing is called).
            UserError: unknown/revoked virtual key, disabled or unserved model.
            LLMError: every deployment failed (the reservation is released).
        """
        scope, backend, target, chain, res = await self._open(messages, model, fallbacks, max_tokens, virtual_key)
        completion: Completion | None = None
        try:
            completion = await backend.complete(messages, model=target, fallbacks=chain or None,
                                                max_tokens=max_tokens, **kwargs)
            return completion
        finally:
            await self._close(scope, res, completion)

    async def stream(self, messages: list[dict[str, Any]], *, model: str | None = None,
                     fallbacks: list[str] | None = None, max_tokens: int | None = None,
                     virtual_key: str | None = None, **kwargs: Any) -> AsyncIterator[StreamEvent]:
        """Streaming twin of :meth:`complete` (settles when the final completion arrives or the stream fails)."""
        scope, backend, target, chain, res = await self._open(messages, model, fallbacks, max_tokens, virtual_key)
        completion: Completion | None = None
        try:
            async for ev in astream(backend, messages, model=target, fallbacks=chain or None, max_tokens=max_tokens,
                                    **kwargs):
                if ev.completion is not None:
                    completion = ev.completion
                yield ev
        finally:
            await self._close(scope, res, completion)


__all__ = [
    "MeteredGateway",
    "VirtualKeyGrant",
    "VirtualKeyIndex",
    "VIRTUAL_KEY_PREFIX",
    "call_scope",
    "current_scope",
    "hash_virtual_key",
    "new_virtual_key",
    "tenant_model_name",
]
