"""GraphQL of the organisation graph and the marketplace (issue 3): ``MarketQuery`` and ``MarketMutation``.

Queries: ``marketplace`` (Relay connection with filters and sorts), ``marketplaceAgent``
(detail), ``agentVersionDiff``, ``recommendations``, ``templates``, ``departments``,
``teams``. Mutations: ``activateVersion`` (also the rollback), ``deprecateAgent``,
``retryProvisioning``, ``cloneAgent``, ``rateAgent``, ``createTemplate``,
``createAgentFromTemplate``, ``createDepartment``, ``createTeam``, ``setUserOrg``,
``refreshRecommendations``.

Related nodes of listed agents (creator, tools, notebooks, LLMs) resolve through
per-request DataLoaders (:func:`loaders`): one batched Cypher query per noun per page,
whatever the page size.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.errors import ConfigError
from graph import Agent as AgentRecord
from graph import MarketFilter
from graph._card_cache import version_id

from api._auth import current_caller
from api._platform import Platform
from api._platform_market import MarketServices
from api._schema import Agent, AgentVersion

__all__ = ["MarketQuery", "MarketMutation", "loaders"]


async def _nothing() -> list[Any]:
    return []


def _m(info: Info) -> tuple[Platform, MarketServices]:
    p: Platform = info.context["platform"]
    if p.market is None:
        raise ConfigError("The marketplace is not started on this server; restart the platform.")
    return p, p.market


class Loaders:
    """Per-request DataLoaders keyed by agent id (tools: by AgentVersion id), one query per batch."""

    def __init__(self, p: Platform, m: MarketServices) -> None:
        tid = p.tenant_id

        async def creators(ids: list[str]) -> list[Any]:
            got = await m.market.creators(tenant_id=tid, agent_ids=ids)
            return [got.get(i) for i in ids]

        async def tools(version_ids: list[str]) -> list[Any]:  # keys: AgentVersion ids (immutable: cached)
            got = await m.market.tools_by_version(tenant_id=tid, version_ids=version_ids)
            return [got.get(i, []) for i in version_ids]

        async def resources(ids: list[str]) -> list[Any]:
            got = await m.market.resources_by_agent(tenant_id=tid, agent_ids=ids)
            return [got.get(i, {"notebooks": [], "llms": []}) for i in ids]

        self.creator = DataLoader(load_fn=creators)
        self.tools = DataLoader(load_fn=tools)
        self.resources = DataLoader(load_fn=resources)


def loaders(info: Info) -> Loaders:
    """The request's loaders (created on first use; the context dict lives for one request)."""
    ctx = info.context
    if "market_loaders" not in ctx:
        p, m = _m(info)
        ctx["market_loaders"] = Loaders(p, m)
    return ctx["market_loaders"]


@strawberry.type(description="A person, as shown on agent cards.")
class Person:
    id: str
    name: str | None
    role: str | None
    department: str | None
    team: str | None


@strawberry.type(description="A tool an agent's active version uses.")
class ToolRef:
    id: str
    name: str


@strawberry.type(description="A notebook an agent's active version searches.")
class NotebookRef:
    id: str
    name: str | None


@strawberry.type(description="An LLM an agent's active version is configured for (primary first, then fallbacks).")
class LLMRef:
    id: str
    name: str
    primary: bool
    fallback_order: int


@strawberry.type(description="One user's stars (1-5) and review.")
class AgentRating:
    user_id: str
    stars: int
    review: str
    updated_at: str


@strawberry.type(description="Run statistics of an agent (all versions).")
class RunStats:
    runs: int
    successes: int
    success_rate: float | None
    p50_latency_ms: float | None
    avg_cost_usd: float | None


@strawberry.type(description="An agent in the marketplace: card fields plus detail resolvers.")
class MarketAgent:
    id: strawberry.ID
    name: str
    description: str
    agent_type: str
    status: str
    active_version: int | None
    latest_version: int
    created_at: str
    derived_from: str | None
    runs: int
    success_rate: float | None
    rating_avg: float | None
    rating_count: int

    @classmethod
    def from_record(cls, a: AgentRecord) -> "MarketAgent":
        return cls(id=strawberry.ID(a.id), name=a.name, description=a.description, agent_type=a.agent_type,
                   status=a.status, active_version=a.active_version, latest_version=a.latest_version,
                   created_at=a.created_at, derived_from=a.derived_from, runs=a.runs, success_rate=a.success_rate,
                   rating_avg=a.rating_avg, rating_count=a.rating_count)

    @strawberry.field(description="Who created it (batched per request).")
    async def creator(self, info: Info) -> Person | None:
        c = await loaders(info).creator.load(str(self.id))
        return Person(**c) if c else None

    @strawberry.field(description="Tools of the active version (batched per request).")
    async def tools(self, info: Info) -> list[ToolRef]:
        version = self.active_version or self.latest_version
        return [ToolRef(**t) for t in await loaders(info).tools.load(version_id(str(self.id), version))]

    @strawberry.field(description="Notebooks of the active version (batched per request).")
    async def notebooks(self, info: Info) -> list[NotebookRef]:
        return [NotebookRef(**n) for n in (await loaders(info).resources.load(str(self.id)))["notebooks"]]

    @strawberry.field(description="LLMs of the active version, primary first (batched per request).")
    async def llms(self, info: Info) -> list[LLMRef]:
        return [LLMRef(id=x["id"], name=x["name"], primary=bool(x.get("primary")),
                       fallback_order=int(x.get("fallback_order") or 0))
                for x in (await loaders(info).resources.load(str(self.id)))["llms"]]

    @strawberry.field(description="All versions, oldest first (detail view).")
    async def versions(self, info: Info) -> list[AgentVersion]:
        p = info.context["platform"]
        return [AgentVersion.from_record(v) for v in await p.agents.list_versions(tenant_id=p.tenant_id,
                                                                                   agent_id=str(self.id))]

    @strawberry.field(description="Ratings, newest first (detail view).")
    async def ratings(self, info: Info, limit: int = 20) -> list[AgentRating]:
        p, m = _m(info)
        return [AgentRating(user_id=r.user_id, stars=r.stars, review=r.review, updated_at=r.updated_at)
                for r in await m.market.ratings(tenant_id=p.tenant_id, agent_id=str(self.id), limit=min(limit, 100))]

    @strawberry.field(description="Runs, success rate, median latency and average cost (detail view).")
    async def stats(self, info: Info) -> RunStats:
        p, m = _m(info)
        return RunStats(**await m.market.run_stats(tenant_id=p.tenant_id, agent_id=str(self.id)))


@strawberry.type
class MarketEdge:
    cursor: str
    node: MarketAgent


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A Relay connection of marketplace agents.")
class MarketConnection:
    edges: list[MarketEdge]
    page_info: PageInfo


@strawberry.enum(description="Marketplace order (descending; ties by id).")
class MarketSort(Enum):
    POPULAR = "POPULAR"
    RATING = "RATING"
    RECENT = "RECENT"
    SUCCESS_RATE = "SUCCESS_RATE"


@strawberry.input(description="Marketplace filters; unset fields do not filter.")
class MarketFilterInput:
    department: str | None = strawberry.field(default=None, description="Creator's department (id or name).")
    team: str | None = strawberry.field(default=None, description="Creator's team (id or name).")
    agent_type: str | None = None
    tool_id: str | None = None
    llm: str | None = strawberry.field(default=None, description="LLM catalogue name or id.")
    min_rating: float | None = strawberry.field(default=None, description="Minimum mean stars, 0-5.")
    text: str | None = strawberry.field(default=None, description="Case-insensitive search in name and description.")


@strawberry.type(description="One changed spec field between two versions (None = absent).")
class SpecChange:
    path: str
    before: JSON | None
    after: JSON | None


@strawberry.type(description="Differences between two versions of an agent.")
class VersionDiff:
    agent_id: str
    from_version: int
    to_version: int
    changes: list[SpecChange]
    yaml_diff: str


@strawberry.type(description="An agent that works well for peers (same role and department) you do not use yet.")
class RecommendedAgent:
    id: str
    name: str
    description: str
    success_rate: float
    runs: int
    peers: int


@strawberry.type(description="A colleague who built a similar agent.")
class SimilarBuilder:
    agent_id: str
    agent_name: str
    user_id: str | None
    user_name: str | None
    department: str | None
    success_rate: float | None
    runs: int
    similarity: float
    message: str


@strawberry.type(description="A tool used by agents similar to the text.")
class RecommendedTool:
    id: str
    name: str
    agents: int


@strawberry.type(description="Recommendations for the caller.")
class Recommendations:
    agents: list[RecommendedAgent]
    similar_builders: list[SimilarBuilder]
    tools: list[RecommendedTool]


@strawberry.type(description="A reusable agent spec.")
class AgentTemplate:
    id: strawberry.ID
    name: str
    description: str
    agent_type: str
    spec_yaml: str
    source_agent_id: str | None
    created_at: str


@strawberry.type(description="A department or team of the tenant.")
class OrgUnit:
    id: strawberry.ID
    name: str
    department_id: str | None = None


@strawberry.type
class MarketQuery:
    @strawberry.field(description="Listed (active) agents of the tenant as a Relay connection.")
    async def marketplace(self, info: Info, first: int = 20, after: str | None = None,
                          filter: MarketFilterInput | None = None,
                          sort: MarketSort = MarketSort.POPULAR) -> MarketConnection:
        p, m = _m(info)
        f = MarketFilter(**vars(filter)) if filter else None
        caller = current_caller()
        viewer = await p.viewer_of(caller) if caller is not None and not caller.at_least("admin") else None
        page = await m.market.page(tenant_id=p.tenant_id, first=first, after=after, filter=f, sort=sort.value,
                                   viewer=viewer)
        edges = [MarketEdge(cursor=c, node=MarketAgent.from_record(a)) for a, c in page.rows]
        return MarketConnection(edges=edges, page_info=PageInfo(has_next_page=page.has_next,
                                                                end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="One agent with marketplace detail (any status).")
    async def marketplace_agent(self, info: Info, id: strawberry.ID) -> MarketAgent:
        p, _ = _m(info)
        return MarketAgent.from_record(await p.agents.get(tenant_id=p.tenant_id, agent_id=str(id)))

    @strawberry.field(description="Changed spec fields and a unified YAML diff between two versions.")
    async def agent_version_diff(self, info: Info, agent_id: str, from_version: int, to_version: int) -> VersionDiff:
        p, m = _m(info)
        d = await m.lifecycle.diff(tenant_id=p.tenant_id, agent_id=agent_id, from_version=from_version,
                                   to_version=to_version)
        return VersionDiff(agent_id=agent_id, from_version=from_version, to_version=to_version,
                           changes=[SpecChange(**c) for c in d["changes"]], yaml_diff=d["yaml_diff"])

    @strawberry.field(description="Agents peers use, colleagues with similar agents and their tools. `text` is a "
                                  "draft's description (similarity recommendations need it).")
    async def recommendations(self, info: Info, text: str | None = None, limit: int = 5) -> Recommendations:
        p, m = _m(info)
        limit = max(1, min(limit, 20))
        agents, similar = await asyncio.gather(
            m.recommend.agents_for_user(tenant_id=p.tenant_id, user_id=p.user_id, limit=limit),
            m.recommend.similar_builders(tenant_id=p.tenant_id, user_id=p.user_id, text=text or "", limit=limit)
            if text else _nothing())
        caller = current_caller()
        if caller is not None and not caller.at_least("admin") and p.sharing is not None:
            # Recommend only what the caller may open (agent sharing, graph._sharing).
            ids = [r["id"] for r in agents] + [x["agent_id"] for x in similar]
            ok = await p.sharing.visible_ids(tenant_id=p.tenant_id, agent_ids=ids, viewer=await p.viewer_of(caller))
            agents = [r for r in agents if r["id"] in ok]
            similar = [x for x in similar if x["agent_id"] in ok]
        tools = await m.recommend.tools_for(tenant_id=p.tenant_id, user_id=p.user_id, text=text or "",
                                            limit=limit, similar=similar) if similar else []
        return Recommendations(
            agents=[RecommendedAgent(**{k: r[k] for k in ("id", "name", "description", "success_rate", "runs",
                                                          "peers")}) for r in agents],
            similar_builders=[SimilarBuilder(**{k: v for k, v in s.items() if k not in ("score", "version")})
                              for s in similar],
            tools=[RecommendedTool(**t) for t in tools])

    @strawberry.field(description="Agent templates of the tenant, newest first.")
    async def templates(self, info: Info) -> list[AgentTemplate]:
        p, m = _m(info)
        return [AgentTemplate(id=strawberry.ID(t.id), name=t.name, description=t.description,
                              agent_type=t.agent_type, spec_yaml=t.spec_yaml, source_agent_id=t.source_agent_id,
                              created_at=t.created_at) for t in await m.templates.list_templates(tenant_id=p.tenant_id)]

    @strawberry.field(description="Departments of the tenant.")
    async def departments(self, info: Info) -> list[OrgUnit]:
        p, m = _m(info)
        return [OrgUnit(id=strawberry.ID(d.id), name=d.name) for d in await m.org.list_departments(tenant_id=p.tenant_id)]

    @strawberry.field(description="Teams of the tenant.")
    async def teams(self, info: Info) -> list[OrgUnit]:
        p, m = _m(info)
        return [OrgUnit(id=strawberry.ID(t.id), name=t.name, department_id=t.department_id)
                for t in await m.org.list_teams(tenant_id=p.tenant_id)]


@strawberry.type
class MarketMutation:
    @strawberry.mutation(description="Provision a version (default: latest) and make it active; an older version "
                                     "is a rollback. Fails (status 'failed', provisioningError) when a tool, "
                                     "notebook or model it needs is not reachable.")
    async def activate_version(self, info: Info, agent_id: str, version: int | None = None) -> Agent:
        p, m = _m(info)
        return Agent.from_record(await m.lifecycle.activate(tenant_id=p.tenant_id, agent_id=agent_id, version=version))

    @strawberry.mutation(description="Deprecate an active agent (it leaves the marketplace; runs by id still work).")
    async def deprecate_agent(self, info: Info, agent_id: str) -> Agent:
        p, m = _m(info)
        return Agent.from_record(await m.lifecycle.deprecate(tenant_id=p.tenant_id, agent_id=agent_id))

    @strawberry.mutation(description="Retry provisioning of a failed agent.")
    async def retry_provisioning(self, info: Info, agent_id: str) -> Agent:
        p, m = _m(info)
        return Agent.from_record(await m.lifecycle.activate(tenant_id=p.tenant_id, agent_id=agent_id, retry=True))

    @strawberry.mutation(description="Clone an agent into a new draft agent owned by the caller (DERIVED_FROM kept).")
    async def clone_agent(self, info: Info, agent_id: str, name: str | None = None) -> Agent:
        p, m = _m(info)
        return Agent.from_record(await m.templates.clone(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id,
                                                         name=name))

    @strawberry.mutation(description="Rate an agent 1-5 stars with an optional review (rating again replaces it).")
    async def rate_agent(self, info: Info, agent_id: str, stars: int, review: str = "") -> MarketAgent:
        p, m = _m(info)
        await m.market.rate(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, stars=stars, review=review)
        return MarketAgent.from_record(await p.agents.get(tenant_id=p.tenant_id, agent_id=agent_id))

    @strawberry.mutation(description="Store an agent's active (else latest) spec as a template.")
    async def create_template(self, info: Info, agent_id: str, name: str | None = None,
                              description: str | None = None) -> AgentTemplate:
        p, m = _m(info)
        t = await m.templates.create_template(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, name=name,
                                              description=description)
        return AgentTemplate(id=strawberry.ID(t.id), name=t.name, description=t.description, agent_type=t.agent_type,
                             spec_yaml=t.spec_yaml, source_agent_id=t.source_agent_id, created_at=t.created_at)

    @strawberry.mutation(description="Create a draft agent from a template.")
    async def create_agent_from_template(self, info: Info, template_id: str, name: str | None = None) -> Agent:
        p, m = _m(info)
        return Agent.from_record(await m.templates.create_from_template(
            tenant_id=p.tenant_id, user_id=p.user_id, template_id=template_id, name=name))

    @strawberry.mutation(description="Recompute the precomputed recommendation edges of the tenant (admin; "
                                     "after bulk loads or periodically). Returns the edges written.")
    async def refresh_recommendations(self, info: Info) -> JSON:
        p, m = _m(info)
        return await m.recommend.refresh(tenant_id=p.tenant_id)

    @strawberry.mutation(description="Create (idempotently) a department.")
    async def create_department(self, info: Info, id: str, name: str) -> OrgUnit:
        p, m = _m(info)
        d = await m.org.create_department(tenant_id=p.tenant_id, department_id=id, name=name)
        return OrgUnit(id=strawberry.ID(d.id), name=d.name)

    @strawberry.mutation(description="Create (idempotently) a team, optionally part of a department.")
    async def create_team(self, info: Info, id: str, name: str, department_id: str | None = None) -> OrgUnit:
        p, m = _m(info)
        t = await m.org.create_team(tenant_id=p.tenant_id, team_id=id, name=name, department_id=department_id)
        return OrgUnit(id=strawberry.ID(t.id), name=t.name, department_id=t.department_id)

    @strawberry.mutation(description="Set a user's role (admin, operator, viewer), department and team.")
    async def set_user_org(self, info: Info, user_id: str, role: str, department_id: str | None = None,
                           team_id: str | None = None, name: str | None = None) -> Person:
        p, m = _m(info)
        u = await m.org.upsert_user(tenant_id=p.tenant_id, user_id=user_id, role=role, department_id=department_id,
                                    team_id=team_id, name=name)
        info_ = (await m.org.users_by_ids(tenant_id=p.tenant_id, user_ids=[u.id])).get(u.id, {})
        return Person(id=u.id, name=u.name, role=u.role, department=info_.get("department"), team=info_.get("team"))
