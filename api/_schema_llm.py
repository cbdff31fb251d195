"""GraphQL for the LLM gateway and multi-LLM comparison (``LLMQuery``, ``LLMMutation``, ``LLMSubscription``).

Queries: ``llmGateway``, ``llmModels``, ``llmDeployments``, ``virtualKeys``, ``budgets``,
``budgetEvents``, ``llmUsage``, ``comparisons``, ``comparison``. Mutations:
``addLlmDeployment``, ``removeLlmDeployment``, ``setModelEnabled``, ``createVirtualKey``,
``revokeVirtualKey``, ``createBudget``, ``updateBudget``, ``deleteBudget``, ``llmComplete``,
``compareModels``. Subscription: ``compareModelsStream`` (graphql-transport-ws).

Secrets: no type here has a field for a provider key; a virtual key's secret is
returned once, by ``createVirtualKey``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.budgets import CallScope
from agentgraph.errors import UserError
from graph import PLATFORM, BudgetEventRecord, ComparisonRecord, LLMDeploymentRecord, LLMRecord, VirtualKeyRecord

from api._platform import Platform
from api._platform_llm import LLMParts


def _p(info: Info) -> tuple[Platform, LLMParts]:
    p: Platform = info.context["platform"]
    assert p.llm_parts is not None
    return p, p.llm_parts


async def _owner(p: Platform, scope: str) -> str:
    """``platform`` (admins only) or the caller's tenant."""
    if scope == "tenant":
        return p.tenant_id
    if scope != "platform":
        raise UserError("scope must be 'platform' (admin default for every tenant) or 'tenant' (your own key, BYOK).")
    user = await p.tenants.get_user(tenant_id=p.tenant_id, user_id=p.user_id)
    if user.role != "admin":
        raise UserError("Only admins can change platform-wide providers; use scope 'tenant' for your own key.",
                        code="FORBIDDEN")
    return PLATFORM


@strawberry.type(description="A catalogue model (USD per token; from LiteLLM's local cost map unless overridden).")
class LlmModel:
    id: strawberry.ID
    name: str
    owner: str
    provider: str
    litellm_model: str
    context_window: int
    max_output_tokens: int
    input_cost_per_token: float
    output_cost_per_token: float
    enabled: bool

    @classmethod
    def of(cls, r: LLMRecord, tenant_id: str) -> "LlmModel":
        return cls(id=strawberry.ID(r.id), name=r.name, owner=r.tenant_id, provider=r.provider,
                   litellm_model=r.litellm_model, context_window=r.context_window,
                   max_output_tokens=r.max_output_tokens, input_cost_per_token=r.input_cost_per_token,
                   output_cost_per_token=r.output_cost_per_token, enabled=r.enabled_for(tenant_id))


@strawberry.type(description="A provider endpoint of a model. The key is stored encrypted and never returned.")
class LlmDeployment:
    id: strawberry.ID
    name: str
    owner: str
    litellm_model: str
    api_base: str | None
    has_key: bool
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    created_at: str

    @classmethod
    def of(cls, d: LLMDeploymentRecord) -> "LlmDeployment":
        return cls(id=strawberry.ID(d.id), name=d.name, owner=d.tenant_id, litellm_model=d.litellm_model,
                   api_base=d.api_base, has_key=d.has_key, input_cost_per_token=d.input_cost_per_token,
                   output_cost_per_token=d.output_cost_per_token, created_at=d.created_at)


@strawberry.type(description="Router state: strategy, served models, deployments in cooldown.")
class LlmGateway:
    routing_strategy: str
    models: list[str]
    cooldowns: list[str]


@strawberry.type(description="A virtual key (its secret is shown only once, at creation).")
class VirtualKey:
    id: strawberry.ID
    name: str
    prefix: str
    team_id: str | None
    user_id: str | None
    models: list[str]
    status: str
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, k: VirtualKeyRecord) -> "VirtualKey":
        return cls(id=strawberry.ID(k.id), name=k.name, prefix=k.prefix, team_id=k.team_id, user_id=k.user_id,
                   models=k.models, status=k.status, created_at=k.created_at, revoked_at=k.revoked_at)


@strawberry.type(description="A new virtual key and its secret; store the secret now, it is not shown again.")
class CreatedVirtualKey:
    key: VirtualKey
    secret: str


@strawberry.type(description="A budget and its current period (USD). Warn at 80 %, block at 110 %.")
class Budget:
    id: strawberry.ID
    name: str
    scope: str
    scope_id: str
    period: str
    limit_usd: float
    webhook_url: str | None
    period_key: str
    period_end: str
    spent_usd: float
    reserved_usd: float
    ratio: float
    status: str


@strawberry.type(description="A stored budget event: 'warn' (80 %) or 'blocked' (110 %).")
class BudgetEvent:
    id: strawberry.ID
    budget_id: str
    budget_name: str
    kind: str
    period_key: str
    spent_usd: float
    limit_usd: float
    created_at: str
    webhook_status: str | None

    @classmethod
    def of(cls, e: BudgetEventRecord) -> "BudgetEvent":
        return cls(**{**e.model_dump(exclude={"tenant_id"}), "id": strawberry.ID(e.id)})


@strawberry.type(description="Usage of one dimension value on one day (cost in USD).")
class UsageRow:
    day: str
    dimension: str
    key: str
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    calls: int


@strawberry.type(description="One metered completion.")
class LlmCompletion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float


@strawberry.type(description="One model's column of a comparison (ms, USD, scores 0-1).")
class ComparisonColumn:
    model: str
    output: str
    error: str | None
    answered_by: str | None
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    judge_score: float | None
    judge_reason: str | None
    check_score: float | None
    checks: JSON
    score: float | None
    execution_id: str | None = strawberry.field(default=None, description="Agent mode: the stored run of this column.")

    @classmethod
    def of(cls, d: dict[str, Any]) -> "ComparisonColumn":
        return cls(**{"execution_id": None, **d})


@strawberry.type(description="Who won: fastest, cheapest, best scored, and a one-line summary.")
class ComparisonSummary:
    fastest: str | None
    cheapest: str | None
    best: str | None
    line: str


@strawberry.type(description="A stored multi-LLM comparison.")
class Comparison:
    id: strawberry.ID
    mode: str
    agent_id: str | None
    input: str
    models: list[str]
    judge_model: str | None
    created_at: str
    columns: list[ComparisonColumn]
    summary: ComparisonSummary

    @classmethod
    def of(cls, c: ComparisonRecord) -> "Comparison":
        return cls(id=strawberry.ID(c.id), mode=c.mode, agent_id=c.agent_id, input=c.input, models=c.models,
                   judge_model=c.judge_model, created_at=c.created_at,
                   columns=[ComparisonColumn.of(r) for r in c.results], summary=ComparisonSummary(**c.summary))


@strawberry.type(description="A streaming comparison event: delta, column, summary, then done (with the stored comparison).")
class CompareEvent:
    type: str
    index: int | None = None
    model: str | None = None
    text: str | None = None
    column: ComparisonColumn | None = None
    summary: ComparisonSummary | None = None
    comparison: Comparison | None = None


@strawberry.input(description="What to compare: 2-4 models, an input, an agent or a system prompt, scoring options.")
class CompareInput:
    models: list[str]
    input: str
    agent_id: str | None = None
    system_prompt: str | None = None
    judge_model: str | None = None
    use_judge: bool = True
    rubric: str | None = None
    expected_keywords: list[str] | None = None
    output_schema: JSON | None = None


async def _compare(p: Platform, parts: LLMParts, inp: CompareInput, emit: Any = None) -> ComparisonRecord:
    return await parts.comparisons.compare(
        tenant_id=p.tenant_id, user_id=p.user_id, models=inp.models, input=inp.input, agent_id=inp.agent_id,
        system_prompt=inp.system_prompt, judge_model=inp.judge_model, use_judge=inp.use_judge, rubric=inp.rubric,
        expected_keywords=inp.expected_keywords, output_schema=inp.output_schema, emit=emit)


def _event(ev: dict[str, Any]) -> CompareEvent:
    if ev["type"] == "delta":
        return CompareEvent(type="delta", index=ev["index"], model=ev["model"], text=ev["text"])
    if ev["type"] == "column":
        return CompareEvent(type="column", index=ev["index"], model=ev["model"], column=ComparisonColumn.of(ev["result"]))
    return CompareEvent(type="summary", summary=ComparisonSummary(**ev["summary"]))


@strawberry.type
class LLMQuery:
    @strawberry.field(description="Router state: routing strategy, served models, cooled-down deployments.")
    async def llm_gateway(self, info: Info) -> LlmGateway:
        _, parts = _p(info)
        router = parts.gateway.router
        return LlmGateway(routing_strategy=router.config.routing_strategy if router else "n/a",
                          models=parts.gateway.describe()["models"], cooldowns=await router.cooldowns() if router else [])

    @strawberry.field(description="Model catalogue: platform models and your tenant's own, with enabled state.")
    async def llm_models(self, info: Info) -> list[LlmModel]:
        p, parts = _p(info)
        return [LlmModel.of(m, p.tenant_id) for m in await parts.service.llms.list_llms(tenant_id=p.tenant_id)]

    @strawberry.field(description="Provider deployments: platform defaults and your tenant's (keys never shown).")
    async def llm_deployments(self, info: Info) -> list[LlmDeployment]:
        p, parts = _p(info)
        deps = await parts.service.llms.list_deployments()
        return [LlmDeployment.of(d) for d in deps if d.tenant_id in (PLATFORM, p.tenant_id)]

    @strawberry.field(description="Virtual keys of your tenant, newest first.")
    async def virtual_keys(self, info: Info) -> list[VirtualKey]:
        p, parts = _p(info)
        return [VirtualKey.of(k) for k in await parts.service.vkeys.list(tenant_id=p.tenant_id)]

    @strawberry.field(description="Budgets with current-period spend and status (ok / warning / blocked).")
    async def budgets(self, info: Info) -> list[Budget]:
        p, parts = _p(info)
        out = []
        for v in await parts.service.budget_views(tenant_id=p.tenant_id):
            b, u = v.budget, v.usage
            out.append(Budget(id=strawberry.ID(b.id), name=b.name, scope=b.scope, scope_id=b.scope_id, period=b.period,
                              limit_usd=b.limit_usd, webhook_url=b.webhook_url, period_key=u.period_key,
                              period_end=u.period_end, spent_usd=u.spent_usd, reserved_usd=u.reserved_usd,
                              ratio=u.ratio, status=v.status))
        return out

    @strawberry.field(description="Budget warn/block events, newest first.")
    async def budget_events(self, info: Info, limit: int = 50) -> list[BudgetEvent]:
        p, parts = _p(info)
        return [BudgetEvent.of(e) for e in await parts.service.events(tenant_id=p.tenant_id, limit=limit)]

    @strawberry.field(description="LLM spend per day by tenant, team, user, agent, vkey or model (last `days` days).")
    async def llm_usage(self, info: Info, dimension: str = "tenant", days: int = 30) -> list[UsageRow]:
        p, parts = _p(info)
        rows = await parts.service.usage(tenant_id=p.tenant_id, dimension=dimension, days=min(max(days, 1), 400))
        return [UsageRow(**r.__dict__) for r in rows]

    @strawberry.field(description="Stored comparisons, newest first.")
    async def comparisons(self, info: Info, limit: int = 20) -> list[Comparison]:
        p, parts = _p(info)
        return [Comparison.of(c) for c in await parts.comparisons.comparisons.list(tenant_id=p.tenant_id, limit=limit)]

    @strawberry.field(description="One stored comparison.")
    async def comparison(self, info: Info, id: strawberry.ID) -> Comparison:
        p, parts = _p(info)
        return Comparison.of(await parts.comparisons.comparisons.get(tenant_id=p.tenant_id, comparison_id=str(id)))


@strawberry.type
class LLMMutation:
    @strawberry.mutation(description="Add a provider deployment: scope 'platform' (admin default) or 'tenant' (BYOK). "
                                     "The api_key is encrypted at rest and never returned.")
    async def add_llm_deployment(self, info: Info, model_name: str, litellm_model: str, api_base: str | None = None,
                                 api_key: str | None = None, scope: str = "tenant",
                                 input_cost_per_token: float | None = None,
                                 output_cost_per_token: float | None = None) -> LlmDeployment:
        p, parts = _p(info)
        _, dep = await parts.service.add_deployment(
            owner=await _owner(p, scope), name=model_name, litellm_model=litellm_model, api_base=api_base,
            api_key=api_key, input_cost_per_token=input_cost_per_token, output_cost_per_token=output_cost_per_token,
            created_by=p.user_id)
        return LlmDeployment.of(dep)

    @strawberry.mutation(description="Remove a deployment (scope as when added).")
    async def remove_llm_deployment(self, info: Info, id: strawberry.ID, scope: str = "tenant") -> bool:
        p, parts = _p(info)
        await parts.service.remove_deployment(owner=await _owner(p, scope), deployment_id=str(id))
        return True

    @strawberry.mutation(description="Enable or disable a catalogue model for your tenant.")
    async def set_model_enabled(self, info: Info, name: str, enabled: bool) -> LlmModel:
        p, parts = _p(info)
        return LlmModel.of(await parts.service.set_model_enabled(tenant_id=p.tenant_id, name=name, enabled=enabled),
                           p.tenant_id)

    @strawberry.mutation(description="Create a virtual key for your tenant (optionally a team or user, some models).")
    async def create_virtual_key(self, info: Info, name: str, team_id: str | None = None, user_id: str | None = None,
                                 models: list[str] | None = None) -> CreatedVirtualKey:
        p, parts = _p(info)
        rec, secret = await parts.service.create_virtual_key(tenant_id=p.tenant_id, name=name, team_id=team_id,
                                                             user_id=user_id, models=models)
        return CreatedVirtualKey(key=VirtualKey.of(rec), secret=secret)

    @strawberry.mutation(description="Revoke a virtual key; calls with it fail from now on.")
    async def revoke_virtual_key(self, info: Info, id: strawberry.ID) -> VirtualKey:
        p, parts = _p(info)
        return VirtualKey.of(await parts.service.revoke_virtual_key(tenant_id=p.tenant_id, key_id=str(id)))

    @strawberry.mutation(description="Create a budget: scope tenant|team|user|agent, period day|week|month, limit in USD.")
    async def create_budget(self, info: Info, scope: str, period: str, limit_usd: float, scope_id: str | None = None,
                            name: str | None = None, webhook_url: str | None = None) -> strawberry.ID:
        p, parts = _p(info)
        rec = await parts.service.create_budget(tenant_id=p.tenant_id, name=name or "", scope=scope, scope_id=scope_id,
                                                period=period, limit_usd=limit_usd, webhook_url=webhook_url)
        return strawberry.ID(rec.id)

    @strawberry.mutation(description="Change a budget's name, limit (USD) or webhook.")
    async def update_budget(self, info: Info, id: strawberry.ID, limit_usd: float | None = None,
                            name: str | None = None, webhook_url: str | None = None) -> strawberry.ID:
        p, parts = _p(info)
        await parts.service.update_budget(tenant_id=p.tenant_id, budget_id=str(id), name=name, limit_usd=limit_usd,
                                          webhook_url=webhook_url)
        return id

    @strawberry.mutation(description="Delete a budget (its events stay).")
    async def delete_budget(self, info: Info, id: strawberry.ID) -> bool:
        p, parts = _p(info)
        await parts.service.delete_budget(tenant_id=p.tenant_id, budget_id=str(id))
        return True

    @strawberry.mutation(description="One metered completion; with virtualKey the call is attributed to that key.")
    async def llm_complete(self, info: Info, prompt: str, model: str | None = None, virtual_key: str | None = None,
                           max_tokens: int | None = 256) -> LlmCompletion:
        p, parts = _p(info)
        c = await parts.service.complete(scope=CallScope(tenant_id=p.tenant_id, user_id=p.user_id), prompt=prompt,
                                         model=model, virtual_key=virtual_key, max_tokens=max_tokens)
        return LlmCompletion(content=c.content, model=c.model, prompt_tokens=c.prompt_tokens,
                             completion_tokens=c.completion_tokens, cost_usd=c.cost_usd, latency_ms=c.latency_ms)

    @strawberry.mutation(description="Compare 2-4 models on the same input (agent or bare prompt); stored as history.")
    async def compare_models(self, info: Info, input: CompareInput) -> Comparison:
        p, parts = _p(info)
        return Comparison.of(await _compare(p, parts, input))


@strawberry.type
class LLMSubscription:
    @strawberry.subscription(description="compareModels, streamed: delta events per column, column results, "
                                         "the summary, then 'done' with the stored comparison.")
    async def compare_models_stream(self, info: Info, input: CompareInput) -> AsyncGenerator[CompareEvent, None]:
        p, parts = _p(info)
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def emit(ev: dict[str, Any]) -> None:
            await queue.put(("event", ev))

        async def run() -> None:
            try:
                await queue.put(("done", await _compare(p, parts, input, emit)))
            except Exception as exc:  # re-raised in the generator so the client gets the error
                await queue.put(("error", exc))

        task = asyncio.create_task(run())
        try:
            while True:
                kind, item = await queue.get()
                if kind == "event":
                    yield _event(item)
                elif kind == "done":
                    yield CompareEvent(type="done", comparison=Comparison.of(item))
                    return
                else:
                    raise item
        finally:
            if not task.done():
                task.cancel()


__all__ = ["LLMMutation", "LLMQuery", "LLMSubscription"]
