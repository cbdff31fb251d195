"""Budgets: warn at 80 %, block at 110 %, enforced atomically in Redis.

A budget caps the LLM spend (USD) of one tenant, team, user or agent over a period
(``day``, ``week`` - ISO week starting Monday - or ``month``, all UTC). The graph
stores budget definitions (``graph._llm``); this module mirrors them into Redis and
enforces them:

1. **reserve** (before the call): one Lua script checks every applicable budget and,
   only if none would pass ``block_ratio x limit`` with ``spent + reserved +
   estimate``, adds ``estimate`` to each budget's ``reserved``. Check and increment
   happen inside Redis as one step, so 200 concurrent calls cannot all read "room
   left" and then all spend it (the read-then-write race).
2. **settle** (after the call): a second script moves the reservation to ``spent``
   using the actual ``response_cost`` and reports budgets that crossed
   ``warn_ratio x limit`` for the first time in the period (``HSETNX`` dedupe).

Because the estimate is an upper bound (prompt tokens + ``max_tokens``, priced at the
dearest deployment of the chain), ``spent`` never passes 110 % of a limit. Note:
``litellm.max_budget`` does not count chat spend (DESIGN.md facts), hence our own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from agentgraph.errors import BudgetExceededError, UserError

SCOPES = ("tenant", "team", "user", "agent")
PERIODS = ("day", "week", "month")

# KEYS: spend hash per budget. ARGV: estimate, block_ratio, ttl_s, limit_1..limit_n.
# Returns {0} when reserved, else {i, spent, reserved, first_block_in_period} for the first budget that blocks.
_RESERVE = """
local est = tonumber(ARGV[1])
local ratio = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
for i, k in ipairs(KEYS) do
  local spent = tonumber(redis.call('HGET', k, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', k, 'reserved') or '0')
  local cap = tonumber(ARGV[3 + i]) * ratio
  if spent + reserved + est > cap or spent >= cap then
    return {i, tostring(spent), tostring(reserved), redis.call('HSETNX', k, 'blocked', '1')}
  end
end
for i, k in ipairs(KEYS) do
  redis.call('HINCRBYFLOAT', k, 'reserved', est)
  redis.call('EXPIRE', k, ttl)
end
return {0}
"""

# KEYS: spend hashes. ARGV: estimate, actual, warn_ratio, limit_1..limit_n.
# Returns {i, spent, ...} pairs for budgets that crossed the warn ratio for the first time.
_SETTLE = """
local est = tonumber(ARGV[1])
local actual = tonumber(ARGV[2])
local warn = tonumber(ARGV[3])
local out = {}
for i, k in ipairs(KEYS) do
  local reserved = tonumber(redis.call('HINCRBYFLOAT', k, 'reserved', -est))
  if reserved < 1e-12 then redis.call('HSET', k, 'reserved', '0') end
  local spent = tonumber(redis.call('HINCRBYFLOAT', k, 'spent', actual))
  if spent >= tonumber(ARGV[3 + i]) * warn and redis.call('HSETNX', k, 'warned', '1') == 1 then
    table.insert(out, i)
    table.insert(out, tostring(spent))
  end
end
return out
"""


@dataclass(frozen=True)
class Budget:
    """A spend cap (USD) for one scope over a period.

    Attributes:
        scope: ``tenant``, ``team``, ``user`` or ``agent``; ``scope_id`` names which one.
        period: ``day``, ``week`` or ``month`` (UTC calendar periods).
        limit_usd: the limit; calls warn at 80 % and block at 110 % of it.
        webhook_url: optional URL that receives warn/block events (POST JSON).
    """

    id: str
    tenant_id: str
    name: str
    scope: str
    scope_id: str
    period: str
    limit_usd: float
    webhook_url: str | None = None

    def validate(self) -> "Budget":
        """Raises UserError naming the bad field and the allowed values."""
        if self.scope not in SCOPES:
            raise UserError(f"Budget scope {self.scope!r} is unknown; use one of {', '.join(SCOPES)}.")
        if self.period not in PERIODS:
            raise UserError(f"Budget period {self.period!r} is unknown; use one of {', '.join(PERIODS)}.")
        if not self.limit_usd > 0:
            raise UserError("A budget limit must be a positive amount in USD (e.g. 25.0).")
        if not self.scope_id:
            raise UserError(f"Say which {self.scope} the budget is for (scopeId).")
        if self.webhook_url and not self.webhook_url.startswith(("http://", "https://")):
            raise UserError("The budget webhook must be an http(s) URL.")
        return self


def period_window(period: str, at: datetime | None = None) -> tuple[str, datetime, datetime]:
    """``(key, start, end)`` of the UTC period containing ``at`` (e.g. ``2025-W23``)."""
    now = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    day = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    if period == "day":
        return day.date().isoformat(), day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        iso = start.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}", start, start + timedelta(days=7)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), start, end


@dataclass(frozen=True)
class CallScope:
    """Who an LLM call is for: budgets and usage are attributed along these ids."""

    tenant_id: str
    user_id: str | None = None
    team_id: str | None = None
    agent_id: str | None = None
    virtual_key_id: str | None = None

    def ids(self) -> dict[str, str | None]:
        """Scope name -> id (``tenant`` always set)."""
        return {"tenant": self.tenant_id, "team": self.team_id, "user": self.user_id, "agent": self.agent_id}


@dataclass
class Reservation:
    """Money held for one in-flight call (released or settled exactly once)."""

    budgets: list[Budget]
    keys: list[str]
    estimate_usd: float
    settled: bool = False


@dataclass
class BudgetEvent:
    """A budget crossed its warn ratio, or blocked a call. Amounts in USD."""

    kind: str  # "warn" | "blocked"
    budget: Budget
    period_key: str
    spent_usd: float
    limit_usd: float
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def payload(self) -> dict[str, Any]:
        """JSON body sent to webhooks (no secrets: ids, names, amounts)."""
        b = self.budget
        return {"event": f"budget.{self.kind}", "budget_id": b.id, "budget_name": b.name, "tenant_id": b.tenant_id,
                "scope": b.scope, "scope_id": b.scope_id, "period": b.period, "period_key": self.period_key,
                "spent_usd": round(self.spent_usd, 6), "limit_usd": b.limit_usd, "at": self.at}


@dataclass
class BudgetUsage:
    """Current-period figures of a budget (USD; ``ratio`` = spent / limit)."""

    period_key: str
    period_end: str
    spent_usd: float
    reserved_usd: float
    ratio: float


class BudgetGuard:
    """Atomic budget enforcement (see module docstring).

    Args:
        redis: ``redis.asyncio.Redis`` client.
        warn_ratio / block_ratio: fractions of the limit (0.8 and 1.1 per issue 4).
        prefix: Redis key prefix.
    """

    def __init__(self, redis: Any, *, warn_ratio: float = 0.8, block_ratio: float = 1.1,
                 prefix: str = "ag:budget") -> None:
        self.redis = redis
        self.warn_ratio = warn_ratio
        self.block_ratio = block_ratio
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)

    def _defs_key(self, tenant_id: str) -> str:
        return f"{self.prefix}:defs:{tenant_id}"

    def spend_key(self, budget: Budget, at: datetime | None = None) -> str:
        """Redis hash holding ``spent``/``reserved``/``warned`` of the budget's current period."""
        return f"{self.prefix}:spend:{budget.id}:{period_window(budget.period, at)[0]}"

    async def put(self, budget: Budget) -> None:
        """Mirror a (new or changed) budget definition into Redis."""
        await self.redis.hset(self._defs_key(budget.tenant_id), budget.id, json.dumps(asdict(budget)))

    async def remove(self, tenant_id: str, budget_id: str) -> None:
        """Stop enforcing a budget."""
        await self.redis.hdel(self._defs_key(tenant_id), budget_id)

    async def applicable(self, scope: CallScope) -> list[Budget]:
        """Budgets of the scope's tenant that match one of its ids."""
        raw = await self.redis.hgetall(self._defs_key(scope.tenant_id))
        ids = scope.ids()
        out = [Budget(**json.loads(v)) for v in raw.values()]
        return sorted((b for b in out if ids.get(b.scope) == b.scope_id), key=lambda b: b.id)

    async def reserve(self, scope: CallScope, estimate_usd: float, *, budgets: list[Budget] | None = None
                      ) -> tuple[Reservation, BudgetEvent | None]:
        """Hold ``estimate_usd`` on every applicable budget (``budgets``, else looked up), or on none.

        Raises:
            BudgetExceededError: a budget would pass ``block_ratio x limit``; the
                message names it. The first block of a period attaches a BudgetEvent
                as ``exc.event`` (later blocks attach None).
        """
        budgets = await self.applicable(scope) if budgets is None else budgets
        if not budgets:
            return Reservation([], [], 0.0), None
        now = datetime.now(timezone.utc)
        keys = [self.spend_key(b, now) for b in budgets]
        ttl = int(max((period_window(b.period, now)[2] - now).total_seconds() for b in budgets)) + 35 * 86400
        res = await self._reserve(keys=keys, args=[repr(float(estimate_usd)), repr(self.block_ratio), ttl,
                                                   *[repr(float(b.limit_usd)) for b in budgets]])
        if int(res[0]) == 0:
            return Reservation(budgets, keys, float(estimate_usd)), None
        b = budgets[int(res[0]) - 1]
        spent, reserved = float(res[1]), float(res[2])
        key, _, end = period_window(b.period, now)
        event = BudgetEvent("blocked", b, key, spent, b.limit_usd) if int(res[3]) == 1 else None
        exc = BudgetExceededError(
            f"Budget {b.name!r} ({b.scope} {b.scope_id!r}, per {b.period}) blocks this LLM call: spent "
            f"${spent:.4f} + ${reserved:.4f} in flight of a ${b.limit_usd:.2f} limit; calls stop at "
            f"{self.block_ratio:.0%} (${b.limit_usd * self.block_ratio:.2f}) and this one needs up to "
            f"${estimate_usd:.4f}. Raise the limit (updateBudget / Models & budgets tab) or wait for the "
            f"period to reset at {end.isoformat()}."
        )
        exc.event = event  # type: ignore[attr-defined]
        raise exc

    async def settle(self, reservation: Reservation, actual_usd: float) -> list[BudgetEvent]:
        """Replace the reservation by the actual cost (``0.0`` releases it); return new warn events."""
        if reservation.settled or not reservation.keys:
            reservation.settled = True
            return []
        reservation.settled = True
        res = await self._settle(keys=reservation.keys, args=[
            repr(reservation.estimate_usd), repr(float(actual_usd)), repr(self.warn_ratio),
            *[repr(float(b.limit_usd)) for b in reservation.budgets]])
        events = []
        for j in range(0, len(res), 2):
            b = reservation.budgets[int(res[j]) - 1]
            events.append(BudgetEvent("warn", b, reservation.keys[int(res[j]) - 1].rsplit(":", 1)[1],
                                      float(res[j + 1]), b.limit_usd))
        return events

    async def usage(self, budget: Budget, at: datetime | None = None) -> BudgetUsage:
        """Spent and reserved amounts of the current period."""
        key, _, end = period_window(budget.period, at)
        data = await self.redis.hgetall(self.spend_key(budget, at))
        get = {(k.decode() if isinstance(k, bytes) else k): float(v) for k, v in data.items()
               if k not in (b"warned", "warned", b"blocked", "blocked")}
        spent = get.get("spent", 0.0)
        return BudgetUsage(period_key=key, period_end=end.isoformat(), spent_usd=spent,
                           reserved_usd=max(0.0, get.get("reserved", 0.0)), ratio=spent / budget.limit_usd)


__all__ = [
    "PERIODS",
    "SCOPES",
    "Budget",
    "BudgetEvent",
    "BudgetGuard",
    "BudgetUsage",
    "CallScope",
    "Reservation",
    "period_window",
]
