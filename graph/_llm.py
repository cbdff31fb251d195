"""Repositories for the LLM gateway: model catalogue, deployments, virtual keys, budgets, comparisons.

Nodes (all with a unique ``id`` and a ``tenant_id``; platform-wide rows use the
tenant id ``"platform"``):

* ``LLM`` - a catalogue entry: name served by the gateway, provider, LiteLLM model
  id, context window, USD per input/output token (LiteLLM's local cost map unless
  overridden), ``disabled_tenants``. ``(:LLM)-[:DEPLOYED_AS]->(:LLMDeployment)``.
* ``LLMDeployment`` - one provider endpoint with its API key *encrypted*
  (``api_key_enc``, Fernet via ``agentgraph.secrets``); readers get :class:`LLMDeploymentRecord`
  whose ``api_key_enc`` only the gateway service decrypts.
* ``VirtualKey`` - a revocable key (only its SHA-256 is stored) for a tenant/team/user.
* ``Budget`` / ``BudgetEvent`` - spend caps and their warn/block events.
* ``Comparison`` - a multi-LLM comparison and its results (JSON).
"""

from __future__ import annotations

import json
from typing import Any

import neo4j
from pydantic import BaseModel, Field

from agentgraph.errors import ConflictError, NotFoundError

from graph._client import GraphClient
from graph._models import new_id, now_iso

PLATFORM = "platform"


class LLMRecord(BaseModel):
    """A model catalogue entry (costs in USD per token)."""

    id: str
    tenant_id: str
    name: str
    provider: str
    litellm_model: str
    context_window: int = 0
    max_output_tokens: int = 0
    input_cost_per_token: float = 0.0
    output_cost_per_token: float = 0.0
    disabled_tenants: list[str] = Field(default_factory=list)
    created_at: str

    def enabled_for(self, tenant_id: str) -> bool:
        """Whether ``tenant_id`` may use this model."""
        return tenant_id not in self.disabled_tenants


class LLMDeploymentRecord(BaseModel):
    """A provider endpoint. ``api_key_enc`` is a Fernet token: never return it from an API."""

    id: str
    tenant_id: str
    name: str
    litellm_model: str
    api_base: str | None = None
    api_key_enc: str | None = None
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    created_at: str
    created_by: str | None = None

    @property
    def has_key(self) -> bool:
        """Whether a key is stored (the only thing APIs say about it)."""
        return bool(self.api_key_enc)


class VirtualKeyRecord(BaseModel):
    """A virtual key; ``prefix`` (first 8 characters) identifies it in lists."""

    id: str
    tenant_id: str
    name: str
    prefix: str
    key_hash: str
    team_id: str | None = None
    user_id: str | None = None
    models: list[str] = Field(default_factory=list)
    status: str = "active"
    created_at: str
    revoked_at: str | None = None


class BudgetRecord(BaseModel):
    """A budget definition (limit in USD)."""

    id: str
    tenant_id: str
    name: str
    scope: str
    scope_id: str
    period: str
    limit_usd: float
    webhook_url: str | None = None
    created_at: str


class BudgetEventRecord(BaseModel):
    """A stored warn/block event (amounts in USD)."""

    id: str
    tenant_id: str
    budget_id: str
    budget_name: str
    kind: str
    period_key: str
    spent_usd: float
    limit_usd: float
    created_at: str
    webhook_status: str | None = None


class ComparisonRecord(BaseModel):
    """A stored comparison; ``results_json`` is a list of per-model columns, ``summary_json`` names winners."""

    id: str
    tenant_id: str
    mode: str
    agent_id: str | None = None
    input: str
    models: list[str]
    judge_model: str | None = None
    results_json: str = "[]"
    summary_json: str = "{}"
    created_at: str
    created_by: str | None = None

    @property
    def results(self) -> list[dict[str, Any]]:
        """Per-model result dicts."""
        return json.loads(self.results_json or "[]")

    @property
    def summary(self) -> dict[str, Any]:
        """``{"fastest", "cheapest", "best", "line"}``."""
        return json.loads(self.summary_json or "{}")


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None}


class LLMRepository:
    """LLM catalogue nodes and their deployments."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def add_deployment(self, *, llm: dict[str, Any], deployment: dict[str, Any]) -> tuple[LLMRecord, LLMDeploymentRecord]:
        """Upsert the LLM node ``llm`` (id ``{tenant_id}:{name}``) and add a deployment to it, atomically.

        Args:
            llm: LLMRecord fields except ``id``/``created_at``/``disabled_tenants``.
            deployment: LLMDeploymentRecord fields except ``id``/``created_at``.
        """
        ts = now_iso()
        lid = f"{llm['tenant_id']}:{llm['name']}"
        dep = _clean({**deployment, "id": new_id("dep"), "created_at": ts})

        async def work(tx: neo4j.AsyncManagedTransaction) -> tuple[dict[str, Any], dict[str, Any]]:
            rows = await (await tx.run(
                """
                MERGE (l:LLM {id: $lid})
                  ON CREATE SET l.created_at = $ts, l.disabled_tenants = []
                SET l += $props
                CREATE (d:LLMDeployment) SET d = $dep
                CREATE (l)-[:DEPLOYED_AS]->(d)
                RETURN properties(l) AS l, properties(d) AS d
                """, lid=lid, ts=ts, props=_clean(llm), dep=dep)).data()
            return rows[0]["l"], rows[0]["d"]

        lp, dp = await self.client.transaction(work)
        return LLMRecord(**lp), LLMDeploymentRecord(**dp)

    async def list_llms(self, *, tenant_id: str | None) -> list[LLMRecord]:
        """Platform models plus the tenant's own (``None``: every tenant's), by name."""
        rows = await self.client.query(
            "MATCH (l:LLM) WHERE $tid IS NULL OR l.tenant_id = $tid OR l.tenant_id = $platform RETURN properties(l) AS l",
            tid=tenant_id, platform=PLATFORM)
        return sorted((LLMRecord(**r["l"]) for r in rows), key=lambda x: (x.name, x.tenant_id))

    async def list_deployments(self, *, tenant_id: str | None = None) -> list[LLMDeploymentRecord]:
        """Deployments of one owner (``None``: all, for building the router)."""
        rows = await self.client.query(
            "MATCH (d:LLMDeployment) WHERE $tid IS NULL OR d.tenant_id = $tid RETURN properties(d) AS d", tid=tenant_id)
        return sorted((LLMDeploymentRecord(**r["d"]) for r in rows), key=lambda d: d.created_at)

    async def delete_deployment(self, *, tenant_id: str, deployment_id: str) -> None:
        """Delete a deployment of ``tenant_id`` (``"platform"`` for defaults); an LLM left without any goes too.

        Raises:
            NotFoundError: no such deployment for this owner.
        """
        rows = await self.client.write(
            """
            MATCH (l:LLM)-[:DEPLOYED_AS]->(d:LLMDeployment {id: $did}) WHERE d.tenant_id = $tid
            DETACH DELETE d
            RETURN l.id AS lid
            """, did=deployment_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Deployment {deployment_id!r} does not exist; list them with the llmDeployments query.")
        await self.client.write("MATCH (l:LLM {id: $lid}) WHERE NOT (l)-[:DEPLOYED_AS]->() DETACH DELETE l",
                                lid=rows[0]["lid"])

    async def set_enabled(self, *, tenant_id: str, name: str, enabled: bool) -> LLMRecord:
        """Enable or disable a catalogue model (by name) for one tenant.

        Raises:
            NotFoundError: the tenant sees no model of that name.
        """
        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            rows = await (await tx.run(
                "MATCH (l:LLM) WHERE l.name = $name AND (l.tenant_id = $tid OR l.tenant_id = $platform) "
                "RETURN properties(l) AS l", name=name, tid=tenant_id, platform=PLATFORM)).data()
            if not rows:
                raise NotFoundError(f"Model {name!r} is not in the catalogue; list models with the llmModels query.")
            last = None
            for r in rows:
                off = [t for t in (r["l"].get("disabled_tenants") or []) if t != tenant_id] + ([] if enabled else [tenant_id])
                last = (await (await tx.run("MATCH (l:LLM {id: $id}) SET l.disabled_tenants = $off RETURN properties(l) AS l",
                                            id=r["l"]["id"], off=off)).data())[0]["l"]
            return last

        return LLMRecord(**await self.client.transaction(work))


class VirtualKeyRepository:
    """VirtualKey nodes (hash only; the secret is shown once at creation)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, **fields: Any) -> VirtualKeyRecord:
        """Store a key (``fields``: VirtualKeyRecord without id/created_at/status)."""
        props = _clean({**fields, "id": new_id("vk"), "created_at": now_iso(), "status": "active"})
        rows = await self.client.write("CREATE (k:VirtualKey) SET k = $p RETURN properties(k) AS k", p=props)
        return VirtualKeyRecord(**rows[0]["k"])

    async def list(self, *, tenant_id: str | None) -> list[VirtualKeyRecord]:
        """Keys of a tenant (``None``: all), newest first."""
        rows = await self.client.query(
            "MATCH (k:VirtualKey) WHERE $tid IS NULL OR k.tenant_id = $tid RETURN properties(k) AS k", tid=tenant_id)
        return sorted((VirtualKeyRecord(**r["k"]) for r in rows), key=lambda k: k.created_at, reverse=True)

    async def revoke(self, *, tenant_id: str, key_id: str) -> VirtualKeyRecord:
        """Mark a key revoked. Raises NotFoundError when absent."""
        rows = await self.client.write(
            "MATCH (k:VirtualKey {id: $id}) WHERE k.tenant_id = $tid SET k.status = 'revoked', k.revoked_at = $ts "
            "RETURN properties(k) AS k", id=key_id, tid=tenant_id, ts=now_iso())
        if not rows:
            raise NotFoundError(f"Virtual key {key_id!r} does not exist; list keys with the virtualKeys query.")
        return VirtualKeyRecord(**rows[0]["k"])


class BudgetRepository:
    """Budget definitions and BudgetEvent nodes."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, **fields: Any) -> BudgetRecord:
        """Store a budget (``fields``: BudgetRecord without id/created_at).

        Raises:
            ConflictError: the tenant already has a budget for this scope, id and period.
        """
        existing = await self.client.query(
            "MATCH (b:Budget) WHERE b.tenant_id = $tid AND b.scope = $scope AND b.scope_id = $sid AND b.period = $period "
            "RETURN b.id AS id", tid=fields["tenant_id"], scope=fields["scope"], sid=fields["scope_id"],
            period=fields["period"])
        if existing:
            raise ConflictError(f"A {fields['period']} budget for {fields['scope']} {fields['scope_id']!r} exists "
                                f"({existing[0]['id']}); change it with updateBudget.")
        props = _clean({**fields, "id": new_id("bud"), "created_at": now_iso()})
        rows = await self.client.write("CREATE (b:Budget) SET b = $p RETURN properties(b) AS b", p=props)
        return BudgetRecord(**rows[0]["b"])

    async def update(self, *, tenant_id: str, budget_id: str, changes: dict[str, Any]) -> BudgetRecord:
        """Change name, limit or webhook. Raises NotFoundError when absent."""
        rows = await self.client.write(
            "MATCH (b:Budget {id: $id}) WHERE b.tenant_id = $tid SET b += $c RETURN properties(b) AS b",
            id=budget_id, tid=tenant_id, c=_clean(changes))
        if not rows:
            raise NotFoundError(f"Budget {budget_id!r} does not exist; list budgets with the budgets query.")
        return BudgetRecord(**rows[0]["b"])

    async def delete(self, *, tenant_id: str, budget_id: str) -> None:
        """Delete a budget (its events stay). Raises NotFoundError when absent."""
        rows = await self.client.write(
            "MATCH (b:Budget {id: $id}) WHERE b.tenant_id = $tid DETACH DELETE b RETURN 1 AS ok", id=budget_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Budget {budget_id!r} does not exist.")

    async def list(self, *, tenant_id: str | None) -> list[BudgetRecord]:
        """Budgets of a tenant (``None``: all)."""
        rows = await self.client.query(
            "MATCH (b:Budget) WHERE $tid IS NULL OR b.tenant_id = $tid RETURN properties(b) AS b", tid=tenant_id)
        return sorted((BudgetRecord(**r["b"]) for r in rows), key=lambda b: b.created_at)

    async def add_event(self, **fields: Any) -> BudgetEventRecord:
        """Store a warn/block event (``fields``: BudgetEventRecord without id/created_at)."""
        props = _clean({**fields, "id": new_id("bev"), "created_at": now_iso()})
        rows = await self.client.write("CREATE (e:BudgetEvent) SET e = $p RETURN properties(e) AS e", p=props)
        return BudgetEventRecord(**rows[0]["e"])

    async def list_events(self, *, tenant_id: str, budget_id: str | None = None, limit: int = 50) -> list[BudgetEventRecord]:
        """Events, newest first."""
        rows = await self.client.query(
            "MATCH (e:BudgetEvent) WHERE e.tenant_id = $tid AND ($bid IS NULL OR e.budget_id = $bid) "
            "RETURN properties(e) AS e", tid=tenant_id, bid=budget_id)
        return sorted((BudgetEventRecord(**r["e"]) for r in rows), key=lambda e: e.created_at, reverse=True)[:limit]


class ComparisonRepository:
    """Comparison nodes (history of multi-LLM comparisons)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, **fields: Any) -> ComparisonRecord:
        """Store a finished comparison (``fields``: ComparisonRecord without id/created_at)."""
        props = _clean({**fields, "id": new_id("cmp"), "created_at": now_iso()})
        rows = await self.client.write("CREATE (c:Comparison) SET c = $p RETURN properties(c) AS c", p=props)
        if fields.get("agent_id"):
            await self.client.write("MATCH (c:Comparison {id: $cid}), (a:Agent {id: $aid}) CREATE (c)-[:COMPARED]->(a)",
                                    cid=props["id"], aid=fields["agent_id"])
        return ComparisonRecord(**rows[0]["c"])

    async def get(self, *, tenant_id: str, comparison_id: str) -> ComparisonRecord:
        """Raises NotFoundError when absent."""
        rows = await self.client.query(
            "MATCH (c:Comparison {id: $id}) WHERE c.tenant_id = $tid RETURN properties(c) AS c", id=comparison_id,
            tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Comparison {comparison_id!r} does not exist.")
        return ComparisonRecord(**rows[0]["c"])

    async def list(self, *, tenant_id: str, limit: int = 20) -> list[ComparisonRecord]:
        """Newest first."""
        rows = await self.client.query(
            "MATCH (c:Comparison) WHERE c.tenant_id = $tid RETURN properties(c) AS c", tid=tenant_id)
        return sorted((ComparisonRecord(**r["c"]) for r in rows), key=lambda c: c.created_at, reverse=True)[:limit]


__all__ = [
    "PLATFORM",
    "BudgetEventRecord",
    "BudgetRecord",
    "BudgetRepository",
    "ComparisonRecord",
    "ComparisonRepository",
    "LLMDeploymentRecord",
    "LLMRecord",
    "LLMRepository",
    "VirtualKeyRecord",
    "VirtualKeyRepository",
]
