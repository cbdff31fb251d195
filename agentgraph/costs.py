"""Prices, cost estimates and usage counters.

* :func:`model_info` reads LiteLLM's *local* cost map (``litellm.model_cost``, loaded
  offline because ``LITELLM_LOCAL_MODEL_COST_MAP=True``): context window, max output
  tokens and USD per input/output token.
* :func:`estimate_cost_usd` is the upper bound the budget guard reserves before a
  call: prompt tokens (``litellm.token_counter``) x input price + ``max_tokens`` x
  output price.
* :class:`UsageMeter` keeps per-day Redis counters (cost, tokens, calls) per tenant,
  team, user, agent, virtual key and model. Why Redis counters rather than graph
  aggregation: every metered LLM call (runs, builder, comparisons, judge) is counted,
  not only Executions; the counters are O(1) to update and to read per day; and they
  are written next to the budget spend, so the report and the budgets agree.
  Executions keep their own ``cost_usd`` in the graph as the per-run record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

#: Dimensions the usage report can group by.
DIMENSIONS = ("tenant", "team", "user", "agent", "vkey", "model")
#: Output tokens assumed for the estimate when a call sets no ``max_tokens``.
DEFAULT_MAX_TOKENS = 1024
#: Days the usage counters are kept in Redis.
USAGE_RETENTION_DAYS = 400


@dataclass(frozen=True)
class ModelInfo:
    """Catalogue facts about a LiteLLM model id (from LiteLLM's local cost map).

    Attributes:
        provider: LiteLLM provider (``openai``, ``anthropic``...; the id prefix when unknown).
        context_window: max input tokens (0 when unknown).
        max_output_tokens: max output tokens (0 when unknown).
        input_cost_per_token / output_cost_per_token: USD per token (0.0 when unknown).
        known: whether LiteLLM's cost map has the model.
    """

    provider: str
    context_window: int = 0
    max_output_tokens: int = 0
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    known: bool = False


def model_info(litellm_model: str, *, input_cost_per_token: float | None = None,
               output_cost_per_token: float | None = None) -> ModelInfo:
    """Facts for ``litellm_model`` (``openai/gpt-4o-mini``); explicit prices override the map."""
    import litellm

    provider = litellm_model.split("/", 1)[0] if "/" in litellm_model else ""
    entry: dict[str, Any] | None = None
    for key in (litellm_model, litellm_model.split("/", 1)[-1]):
        if key in litellm.model_cost:
            entry = litellm.model_cost[key]
            break
    entry = entry or {}
    return ModelInfo(
        provider=str(entry.get("litellm_provider") or provider or "unknown"),
        context_window=int(entry.get("max_input_tokens") or entry.get("max_tokens") or 0),
        max_output_tokens=int(entry.get("max_output_tokens") or 0),
        input_cost_per_token=float(input_cost_per_token if input_cost_per_token is not None
                                   else entry.get("input_cost_per_token") or 0.0),
        output_cost_per_token=float(output_cost_per_token if output_cost_per_token is not None
                                    else entry.get("output_cost_per_token") or 0.0),
        known=bool(entry),
    )


def count_prompt_tokens(messages: list[dict[str, Any]], litellm_model: str | None = None) -> int:
    """Prompt tokens by LiteLLM's tokenizer for the model (tiktoken fallback); word count if that fails."""
    import litellm

    try:
        return int(litellm.token_counter(model=litellm_model or "gpt-4o-mini", messages=messages))
    except Exception:  # exotic content parts: a rough but safe count
        return sum(len(str(m.get("content") or "").split()) + 4 for m in messages)


def estimate_cost_usd(*, prompt_tokens: int, max_tokens: int | None, input_cost_per_token: float,
                      output_cost_per_token: float) -> float:
    """Upper-bound cost of one call in USD (``max_tokens`` defaults to :data:`DEFAULT_MAX_TOKENS`)."""
    out = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
    return prompt_tokens * input_cost_per_token + out * output_cost_per_token


def utc_day(at: datetime | None = None) -> str:
    """``YYYY-MM-DD`` in UTC."""
    return (at or datetime.now(timezone.utc)).astimezone(timezone.utc).date().isoformat()


@dataclass
class UsageRow:
    """One line of the usage report: totals of one dimension value on one day (cost in USD)."""

    day: str
    dimension: str
    key: str
    cost_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0


class UsageMeter:
    """Per-day usage counters in Redis: hash ``{prefix}:{tenant}:{day}``, fields ``{dim}|{id}|{metric}``.

    Args:
        redis: ``redis.asyncio.Redis`` client.
        prefix: key prefix.
    """

    def __init__(self, redis: Any, *, prefix: str = "ag:usage") -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, tenant_id: str, day: str) -> str:
        return f"{self.prefix}:{tenant_id}:{day}"

    async def record(self, *, tenant_id: str, dims: dict[str, str | None], cost_usd: float, prompt_tokens: int,
                     completion_tokens: int, day: str | None = None) -> None:
        """Add one call to every dimension in ``dims`` (``{"user": "ada", "agent": None, ...}``; None skipped)."""
        key = self._key(tenant_id, day or utc_day())
        pipe = self.redis.pipeline(transaction=True)  # MULTI: the call counts everywhere or nowhere
        for dim, val in {"tenant": tenant_id, **dims}.items():
            if not val:
                continue
            base = f"{dim}|{val}|"
            pipe.hincrbyfloat(key, base + "cost", float(cost_usd))
            pipe.hincrby(key, base + "pt", int(prompt_tokens))
            pipe.hincrby(key, base + "ct", int(completion_tokens))
            pipe.hincrby(key, base + "calls", 1)
        pipe.expire(key, USAGE_RETENTION_DAYS * 86400)
        await pipe.execute()

    async def report(self, *, tenant_id: str, dimension: str = "tenant", days: int = 30,
                     until: date | None = None) -> list[UsageRow]:
        """Rows for ``dimension`` over the last ``days`` days (newest day first, then by cost).

        Raises:
            ValueError: unknown dimension (see :data:`DIMENSIONS`).
        """
        if dimension not in DIMENSIONS:
            raise ValueError(f"unknown usage dimension {dimension!r}; use one of {', '.join(DIMENSIONS)}")
        end = until or datetime.now(timezone.utc).date()
        day_list = [(end - timedelta(days=i)).isoformat() for i in range(max(1, days))]
        pipe = self.redis.pipeline(transaction=False)
        for d in day_list:
            pipe.hgetall(self._key(tenant_id, d))
        rows: list[UsageRow] = []
        for d, data in zip(day_list, await pipe.execute()):
            by_key: dict[str, UsageRow] = {}
            for raw_field, raw_val in data.items():
                fld = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
                dim, rest = fld.split("|", 1)
                val, metric = rest.rsplit("|", 1)  # ids may contain '|'? no: dims are ids/slugs, metric is last
                if dim != dimension:
                    continue
                row = by_key.setdefault(val, UsageRow(day=d, dimension=dimension, key=val))
                num = float(raw_val)
                if metric == "cost":
                    row.cost_usd = num
                elif metric == "pt":
                    row.prompt_tokens = int(num)
                elif metric == "ct":
                    row.completion_tokens = int(num)
                elif metric == "calls":
                    row.calls = int(num)
            rows += sorted(by_key.values(), key=lambda r: -r.cost_usd)
        return rows


__all__ = [
    "DIMENSIONS",
    "DEFAULT_MAX_TOKENS",
    "ModelInfo",
    "UsageMeter",
    "UsageRow",
    "count_prompt_tokens",
    "estimate_cost_usd",
    "model_info",
    "utc_day",
]
