"""LLM gateway administration: providers (admin defaults + BYOK), catalogue, virtual keys, budgets, usage.

Ties the graph repositories (``graph._llm``) to the live gateway
(``agentgraph.metering.MeteredGateway``) and Redis (budget guard, usage meter,
virtual-key index). The graph is the source of truth; Redis mirrors what the hot
path needs and :meth:`LLMService.start` rebuilds those mirrors on every start.

Secrets: provider keys are encrypted with :class:`~agentgraph.secrets.SecretBox`
before they reach the graph and decrypted only into the LiteLLM router's deployment
list; no method here returns them, and records handed to the API expose ``has_key``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx

from agentgraph.budgets import Budget, BudgetEvent, BudgetGuard, BudgetUsage, CallScope
from agentgraph.costs import UsageMeter, UsageRow, model_info
from agentgraph.errors import UserError
from agentgraph.gateway import Completion, LiteLLMGateway
from agentgraph.metering import (
    MeteredGateway,
    VirtualKeyGrant,
    VirtualKeyIndex,
    call_scope,
    hash_virtual_key,
    new_virtual_key,
    tenant_model_name,
)
from agentgraph.secrets import SecretBox
from graph import (
    PLATFORM,
    BudgetEventRecord,
    BudgetRecord,
    BudgetRepository,
    LLMDeploymentRecord,
    LLMRecord,
    LLMRepository,
    VirtualKeyRecord,
    VirtualKeyRepository,
)

log = logging.getLogger("agentgraph.llm")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,127}$")
WEBHOOK_TIMEOUT_S = 5.0


@dataclass
class BudgetView:
    """A budget with its current-period usage."""

    budget: BudgetRecord
    usage: BudgetUsage
    warn_ratio: float
    block_ratio: float

    @property
    def status(self) -> str:
        """``ok``, ``warning`` (>= warn ratio) or ``blocked`` (>= block ratio)."""
        if self.usage.ratio >= self.block_ratio:
            return "blocked"
        return "warning" if self.usage.ratio >= self.warn_ratio else "ok"


class LLMService:
    """See module docstring.

    Args:
        gateway: the platform's metered gateway (its ``router`` receives deployments).
        llms / vkeys / budgets: graph repositories.
        secrets: encrypts provider keys at rest.
        guard / meter / index: Redis-side budget guard, usage counters, virtual-key index.
    """

    def __init__(self, *, gateway: MeteredGateway, llms: LLMRepository, vkeys: VirtualKeyRepository,
                 budgets: BudgetRepository, secrets: SecretBox, guard: BudgetGuard, meter: UsageMeter,
                 index: VirtualKeyIndex) -> None:
        self.gateway = gateway
        self.llms = llms
        self.vkeys = vkeys
        self.budgets = budgets
        self.secrets = secrets
        self.guard = guard
        self.meter = meter
        self.index = index
        gateway.on_event = self.on_budget_event

    @property
    def router(self) -> LiteLLMGateway:
        """The LiteLLM router of the gateway."""
        assert self.gateway.router is not None
        return self.gateway.router

    async def start(self) -> None:
        """Load deployments into the router and mirror disabled models, budgets and active keys."""
        await self.refresh_router()
        await self._load_disabled()
        for b in await self.budgets.list(tenant_id=None):
            await self.guard.put(_budget(b))
        for k in await self.vkeys.list(tenant_id=None):
            if k.status == "active":
                await self.index.put(k.key_hash, _grant(k))

    async def refresh_router(self) -> None:
        """Rebuild the router's run-time deployments from the graph (keys decrypted in memory only)."""
        deps = []
        for d in await self.llms.list_deployments():
            params: dict[str, Any] = {"model": d.litellm_model}
            if d.api_base:
                params["api_base"] = d.api_base
            if d.api_key_enc:
                params["api_key"] = self.secrets.decrypt(d.api_key_enc)
            if d.input_cost_per_token is not None:
                params["input_cost_per_token"] = d.input_cost_per_token
            if d.output_cost_per_token is not None:
                params["output_cost_per_token"] = d.output_cost_per_token
            group = d.name if d.tenant_id == PLATFORM else tenant_model_name(d.tenant_id, d.name)
            deps.append({"model_name": group, "litellm_params": params, "model_info": {"id": d.id}})
        self.router.set_extra(deps)
        self.gateway.invalidate_prices()

    async def _load_disabled(self) -> None:
        disabled: dict[str, set[str]] = {}
        for m in await self.llms.list_llms(tenant_id=None):
            for t in m.disabled_tenants:
                disabled.setdefault(t, set()).add(m.name)
        self.gateway.disabled = disabled

    # --- providers and catalogue ------------------------------------------------
    async def add_deployment(self, *, owner: str, name: str, litellm_model: str, api_base: str | None,
                             api_key: str | None, input_cost_per_token: float | None = None,
                             output_cost_per_token: float | None = None, created_by: str | None = None
                             ) -> tuple[LLMRecord, LLMDeploymentRecord]:
        """Add a deployment of model ``name`` for ``owner`` (``"platform"`` = admin default, else a tenant's BYOK).

        Prices default to LiteLLM's local cost map for ``litellm_model``.

        Raises:
            UserError: bad name, model id (needs a ``provider/`` prefix) or api_base.
        """
        if not _NAME.match(name) or "::" in name:
            raise UserError(f"Model name {name!r} is invalid: use letters, digits and . _ / : - (no '::'), "
                            "at most 128 characters, e.g. 'gpt-4o-mini'.")
        if "/" not in litellm_model:
            raise UserError(f"LiteLLM model {litellm_model!r} needs a provider prefix, e.g. 'openai/gpt-4o-mini' or "
                            "'anthropic/claude-3-5-haiku-latest'.")
        if api_base and not api_base.startswith(("http://", "https://")):
            raise UserError("api_base must be an http(s) URL, e.g. https://api.openai.com/v1.")
        info = model_info(litellm_model, input_cost_per_token=input_cost_per_token,
                          output_cost_per_token=output_cost_per_token)
        llm, dep = await self.llms.add_deployment(
            llm={"tenant_id": owner, "name": name, "provider": info.provider, "litellm_model": litellm_model,
                 "context_window": info.context_window, "max_output_tokens": info.max_output_tokens,
                 "input_cost_per_token": info.input_cost_per_token,
                 "output_cost_per_token": info.output_cost_per_token},
            deployment={"tenant_id": owner, "name": name, "litellm_model": litellm_model, "api_base": api_base,
                        "api_key_enc": self.secrets.encrypt(api_key) if api_key else None,
                        "input_cost_per_token": input_cost_per_token, "output_cost_per_token": output_cost_per_token,
                        "created_by": created_by})
        await self.refresh_router()
        return llm, dep

    async def remove_deployment(self, *, owner: str, deployment_id: str) -> None:
        """Delete a deployment and rebuild the router. Raises NotFoundError when absent."""
        await self.llms.delete_deployment(tenant_id=owner, deployment_id=deployment_id)
        await self.refresh_router()

    async def set_model_enabled(self, *, tenant_id: str, name: str, enabled: bool) -> LLMRecord:
        """Enable/disable a catalogue model for one tenant (takes effect on the next call)."""
        rec = await self.llms.set_enabled(tenant_id=tenant_id, name=name, enabled=enabled)
        await self._load_disabled()
        return rec

    # --- virtual keys -----------------------------------------------------------------
    async def create_virtual_key(self, *, tenant_id: str, name: str, team_id: str | None = None,
                                 user_id: str | None = None, models: list[str] | None = None
                                 ) -> tuple[VirtualKeyRecord, str]:
        """Create a key; returns the record and the secret (shown once, only its hash is stored)."""
        if not name.strip():
            raise UserError("Give the virtual key a name (who or what uses it).")
        secret = new_virtual_key()
        rec = await self.vkeys.create(tenant_id=tenant_id, name=name.strip(), prefix=secret[:8],
                                      key_hash=hash_virtual_key(secret), team_id=team_id, user_id=user_id,
                                      models=list(models or []))
        await self.index.put(rec.key_hash, _grant(rec))
        return rec, secret

    async def revoke_virtual_key(self, *, tenant_id: str, key_id: str) -> VirtualKeyRecord:
        """Revoke at once (the Redis index entry goes first, then the graph records it)."""
        for k in await self.vkeys.list(tenant_id=tenant_id):
            if k.id == key_id:
                await self.index.revoke(k.key_hash)
        return await self.vkeys.revoke(tenant_id=tenant_id, key_id=key_id)

    # --- budgets ----------------------------------------------------------------------
    async def create_budget(self, *, tenant_id: str, name: str, scope: str, scope_id: str | None, period: str,
                            limit_usd: float, webhook_url: str | None = None) -> BudgetRecord:
        """Create and start enforcing a budget (tenant scope defaults ``scope_id`` to the tenant)."""
        sid = scope_id or (tenant_id if scope == "tenant" else "")
        Budget(id="new", tenant_id=tenant_id, name=name, scope=scope, scope_id=sid, period=period,
               limit_usd=limit_usd, webhook_url=webhook_url).validate()
        rec = await self.budgets.create(tenant_id=tenant_id, name=name or f"{scope} {sid} {period}", scope=scope,
                                        scope_id=sid, period=period, limit_usd=float(limit_usd), webhook_url=webhook_url)
        await self.guard.put(_budget(rec))
        return rec

    async def update_budget(self, *, tenant_id: str, budget_id: str, name: str | None = None,
                            limit_usd: float | None = None, webhook_url: str | None = None) -> BudgetRecord:
        """Change a budget; enforcement uses the new limit on the next call."""
        if limit_usd is not None and not limit_usd > 0:
            raise UserError("A budget limit must be a positive amount in USD.")
        rec = await self.budgets.update(tenant_id=tenant_id, budget_id=budget_id,
                                        changes={"name": name, "limit_usd": limit_usd, "webhook_url": webhook_url})
        await self.guard.put(_budget(rec))
        return rec

    async def delete_budget(self, *, tenant_id: str, budget_id: str) -> None:
        """Stop enforcing and delete."""
        await self.budgets.delete(tenant_id=tenant_id, budget_id=budget_id)
        await self.guard.remove(tenant_id, budget_id)

    async def budget_views(self, *, tenant_id: str) -> list[BudgetView]:
        """Budgets with their current-period usage."""
        return [BudgetView(b, await self.guard.usage(_budget(b)), self.guard.warn_ratio, self.guard.block_ratio)
                for b in await self.budgets.list(tenant_id=tenant_id)]

    async def on_budget_event(self, event: BudgetEvent) -> None:
        """Post the event to the budget's webhook (if any) and store it as a BudgetEvent node."""
        status = None
        if event.budget.webhook_url:
            try:
                async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S) as http:
                    resp = await http.post(event.budget.webhook_url, json=event.payload())
                status = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                status = f"failed: {type(exc).__name__}"
        try:
            await self.budgets.add_event(tenant_id=event.budget.tenant_id, budget_id=event.budget.id,
                                         budget_name=event.budget.name, kind=event.kind, period_key=event.period_key,
                                         spent_usd=event.spent_usd, limit_usd=event.limit_usd, webhook_status=status)
        except Exception:  # an event must never break a call; the log keeps it
            log.exception("could not store budget event %s for budget %s", event.kind, event.budget.id)

    async def events(self, *, tenant_id: str, limit: int = 50) -> list[BudgetEventRecord]:
        """Stored warn/block events, newest first."""
        return await self.budgets.list_events(tenant_id=tenant_id, limit=limit)

    # --- usage and playground ---------------------------------------------------------
    async def usage(self, *, tenant_id: str, dimension: str, days: int) -> list[UsageRow]:
        """Usage counters grouped by ``dimension`` per day.

        Raises:
            UserError: unknown dimension.
        """
        try:
            return await self.meter.report(tenant_id=tenant_id, dimension=dimension, days=days)
        except ValueError as exc:
            raise UserError(str(exc)) from exc

    async def complete(self, *, scope: CallScope, prompt: str, model: str | None, virtual_key: str | None,
                       max_tokens: int | None = 256) -> Completion:
        """One metered completion (playground / API clients with a virtual key)."""
        if not prompt.strip():
            raise UserError("The prompt is empty.")
        with call_scope(scope):
            return await self.gateway.complete([{"role": "user", "content": prompt}], model=model,
                                               max_tokens=max_tokens, virtual_key=virtual_key)


def _budget(b: BudgetRecord) -> Budget:
    return Budget(id=b.id, tenant_id=b.tenant_id, name=b.name, scope=b.scope, scope_id=b.scope_id, period=b.period,
                  limit_usd=b.limit_usd, webhook_url=b.webhook_url)


def _grant(k: VirtualKeyRecord) -> VirtualKeyGrant:
    return VirtualKeyGrant(id=k.id, tenant_id=k.tenant_id, name=k.name, team_id=k.team_id, user_id=k.user_id,
                           models=list(k.models))


__all__ = ["BudgetView", "LLMService"]
