"""The GraphQL schema (strawberry): queries ``agents``, ``agent``, ``tools``, ``tool``,
``executions``, ``execution``, ``agentSpecSchema``; mutations ``registerTool``,
``buildAgent``, ``saveAgent``, ``publishAgent``, ``runAgent``.

Resolvers call services only; errors are mapped to GraphQL error codes in
``api._errors`` (one place).
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.spec import AgentSpec, agent_spec_json_schema
from graph import Agent as AgentRecord
from graph import AgentVersion as VersionRecord
from graph import Execution as ExecutionRecord
from graph import Tool as ToolRecord
from graph import LifecycleRepository, new_id
from runners import tool_slug

from api._auth import current_caller
from api._platform import Platform
from api._schema_tools_types import ToolAuthInfo, ToolHealth, ToolSettings, ToolStats, tool_hub_fields
from api._schema_memory import check_spec_notebooks, link_spec_notebooks


def _platform(info: Info) -> Platform:
    return info.context["platform"]


@strawberry.type(description="One operation of a tool (an MCP tool of the same name).")
class ToolOperation:
    operation_id: str
    method: str
    path: str
    summary: str
    tags: list[str] = strawberry.field(default_factory=list)
    allowed: bool = strawberry.field(default=True, description="Exposed over MCP under the tool's allow/deny rules.")


@strawberry.type(description="A registered tool: an OpenAPI API served over MCP (streamable HTTP), or an "
                             "external MCP server (kind 'mcp').")
class Tool:
    id: strawberry.ID
    name: str
    description: str
    kind: str
    base_url: str
    status: str
    created_at: str
    mcp_url: str
    operations: list[ToolOperation]
    # Tool hub (api._schema_tools_types): never credential values.
    server_url: str | None = None
    auth: ToolAuthInfo | None = None
    settings: ToolSettings | None = None
    allow: list[str] = strawberry.field(default_factory=list)
    deny: list[str] = strawberry.field(default_factory=list)
    health: ToolHealth | None = None

    @strawberry.field(description="Usage statistics (pending calls are written to the graph first).")
    async def stats(self, info: Info) -> ToolStats:
        p = _platform(info)
        if p.toolhub is not None:
            await p.toolhub.health.flush_stats()
        t = await p.tools.get(tenant_id=p.tenant_id, tool_id=str(self.id))
        calls = t.stats_calls
        return ToolStats(calls=calls, errors=t.stats_errors, error_rate=t.stats_errors / calls if calls else 0.0,
                         p50_ms=t.stats_p50_ms, p95_ms=t.stats_p95_ms)

    @classmethod
    def from_record(cls, t: ToolRecord, mcp_url: str) -> "Tool":
        from runners._toolhub_config import OperationRules

        rules = OperationRules(allow=t.allow, deny=t.deny)
        ops = [ToolOperation(**o.model_dump(), allowed=rules.allows(o.operation_id, o.method, o.path, o.tags))
               for o in t.operations]
        return cls(id=strawberry.ID(t.id), name=t.name, description=t.description, kind=t.kind, base_url=t.base_url,
                   status=t.status, created_at=t.created_at, mcp_url=t.server_url or mcp_url, operations=ops,
                   **tool_hub_fields(t))


@strawberry.type(description="A span of a run's execution chain (OpenTelemetry).")
class Span:
    name: str
    span_id: str
    parent_id: str | None
    duration_ms: float
    status: str
    attributes: JSON


@strawberry.type(description="A file created by a run (producer agents; download it at `url` with your credentials).")
class Artifact:
    id: strawberry.ID
    name: str = strawberry.field(description="File name with extension, e.g. 'daily-report.pdf'.")
    format: str = strawberry.field(description="md, html, pdf, json or csv; png, jpeg, webp or gif for images.")
    media_type: str
    bytes: int = strawberry.field(description="Size in bytes.")
    sha256: str = strawberry.field(description="Hex SHA-256 of the bytes.")
    url: str = strawberry.field(description="Download path: GET /api/artifacts/{id} (same authentication as GraphQL).")
    created_at: str


@strawberry.type(description="One run of an agent version.")
class Execution:
    id: strawberry.ID
    agent_id: str
    version: int
    thread_id: str
    status: str
    input: str
    output: str | None
    error: str | None
    error_code: str | None
    started_at: str
    ended_at: str | None
    latency_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    model: str | None
    spans: list[Span]
    workflow_name: str | None = strawberry.field(
        default=None, description="Argo Workflow running this Execution (executor 'argo'; docs/argo.md).")
    attempt: int = strawberry.field(
        default=0, description="Attempts started by workers (executor 'queue'); 0 when never claimed.")
    artifacts: list[Artifact] = strawberry.field(
        default_factory=list, description="Files the run created (producer agents; docs/agent-types.md).")
    parent_id: str | None = strawberry.field(
        default=None, description="The run that started this one as a child run (delegation, team member, workflow "
                                  "agent step); null for a top-level run.")
    sandbox: bool = strawberry.field(
        default=False, description="A test run: tools answered from recordings or their OpenAPI schema, no real "
                                   "call; not counted in statistics (docs/guardrails.md).")

    @strawberry.field(description="Child runs this run started (delegation, team members, workflow agent steps), "
                                  "oldest first; each has its own execution chain.")
    async def children(self, info: Info) -> list["Execution"]:
        p = _platform(info)
        kids = await p.runs.lifecycle.children(tenant_id=p.tenant_id, execution_id=str(self.id))
        viewer = await p.restricted_viewer()  # the `executions` rule: hide runs of agents the caller may not see
        if viewer is not None and kids:
            seen = await p.sharing.visible_ids(tenant_id=p.tenant_id, agent_ids=sorted({c.agent_id for c in kids}),
                                               viewer=viewer)
            kids = [c for c in kids if c.agent_id in seen]
        return [Execution.from_record(c) for c in kids]

    @classmethod
    def from_record(cls, e: ExecutionRecord) -> "Execution":
        data = e.model_dump(exclude={"spans_json", "tenant_id", "triggered_by", "artifacts_json"})
        data["artifacts"] = [Artifact(id=strawberry.ID(a["id"]), name=a["name"], format=a["format"],
                                      media_type=a["media_type"], bytes=a["bytes"], sha256=a["sha256"], url=a["url"],
                                      created_at=a["created_at"]) for a in e.artifacts]
        spans = [Span(name=s["name"], span_id=s["span_id"], parent_id=s.get("parent_id"),
                      duration_ms=s["duration_ms"], status=s["status"], attributes=s.get("attributes") or {})
                 for s in e.spans]
        return cls(**{**data, "id": strawberry.ID(e.id)}, spans=spans)


@strawberry.type(description="An immutable version of an agent.")
class AgentVersion:
    version: int
    spec_yaml: str
    created_at: str
    created_by: str | None
    tool_ids: list[str]

    @classmethod
    def from_record(cls, v: VersionRecord) -> "AgentVersion":
        return cls(version=v.version, spec_yaml=v.spec_yaml, created_at=v.created_at, created_by=v.created_by,
                   tool_ids=v.tool_ids)


@strawberry.type(description="An agent with its versions and runs.")
class Agent:
    id: strawberry.ID
    name: str
    description: str
    agent_type: str
    status: str
    latest_version: int
    active_version: int | None
    created_at: str
    updated_at: str
    created_by: str | None
    # Lifecycle and marketplace counters (issue 3, api._schema_marketplace).
    provisioning_error: str | None = strawberry.field(default=None, description="Why provisioning failed.")
    derived_from: str | None = strawberry.field(default=None, description="Agent this one was cloned from.")
    runs: int = strawberry.field(default=0, description="Finished runs (all versions).")
    success_rate: float | None = strawberry.field(default=None, description="Succeeded share of finished runs, 0-1.")
    rating_avg: float | None = strawberry.field(default=None, description="Mean stars, 1-5.")
    rating_count: int = 0

    @classmethod
    def from_record(cls, a: AgentRecord) -> "Agent":
        data = a.model_dump(include={"name", "description", "agent_type", "status", "latest_version",
                                     "active_version", "created_at", "updated_at", "created_by",
                                     "provisioning_error", "derived_from", "runs", "rating_count"})
        return cls(**data, id=strawberry.ID(a.id), success_rate=a.success_rate, rating_avg=a.rating_avg)

    @strawberry.field(description="All versions, oldest first.")
    async def versions(self, info: Info) -> list[AgentVersion]:
        p = _platform(info)
        return [AgentVersion.from_record(v) for v in await p.agents.list_versions(tenant_id=p.tenant_id, agent_id=self.id)]

    @strawberry.field(description="The active (else latest) version's spec as YAML.")
    async def spec_yaml(self, info: Info) -> str:
        p = _platform(info)
        return (await p.agents.get_version(tenant_id=p.tenant_id, agent_id=self.id)).spec_yaml

    @strawberry.field(description="Recent runs, newest first.")
    async def executions(self, info: Info, limit: int = 20) -> list[Execution]:
        p = _platform(info)
        rows = await p.executions.list(tenant_id=p.tenant_id, agent_id=self.id, limit=limit)
        return [Execution.from_record(e) for e in rows]


@strawberry.type(description="A registered tool ranked for the builder's intent.")
class ToolSuggestion:
    tool_id: str
    name: str
    score: float
    reason: str


@strawberry.type(description="A colleague's agent similar to the draft (issue 3 recommendations).")
class SimilarAgentHint:
    agent_id: str
    agent_name: str
    user_name: str | None
    department: str | None
    success_rate: float | None
    runs: int
    similarity: float
    message: str = strawberry.field(description="e.g. 'Grace in Sales built a similar agent, 94% success over 120 runs'.")


@strawberry.type(description="One builder turn: the AgentSpec draft and tool suggestions.")
class BuildResult:
    thread_id: str
    message: str
    spec_yaml: str
    spec: JSON
    suggestions: list[ToolSuggestion]
    attempts: int
    similar_agents: list[SimilarAgentHint] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(description="Agents of the caller's tenant, most recently updated first.")
    async def agents(self, info: Info, limit: int = 100) -> list[Agent]:
        p = _platform(info)
        caller = current_caller()
        if caller is not None and not caller.at_least("admin") and p.sharing is not None:  # private/team sharing
            visible = await p.sharing.list_visible(tenant_id=p.tenant_id, viewer=await p.viewer_of(caller),
                                                   limit=limit)
            return [Agent.from_record(a) for a in visible]
        return [Agent.from_record(a) for a in await p.agents.list(tenant_id=p.tenant_id, limit=limit)]

    @strawberry.field(description="One agent by id.")
    async def agent(self, info: Info, id: strawberry.ID) -> Agent:
        p = _platform(info)
        return Agent.from_record(await p.agents.get(tenant_id=p.tenant_id, agent_id=str(id)))

    @strawberry.field(description="Registered tools, newest first.")
    async def tools(self, info: Info) -> list[Tool]:
        p = _platform(info)
        return [Tool.from_record(t, p.registry.mcp_url(t.id)) for t in await p.tools.list(tenant_id=p.tenant_id)]

    @strawberry.field(description="One tool by id.")
    async def tool(self, info: Info, id: strawberry.ID) -> Tool:
        p = _platform(info)
        t = await p.tools.get(tenant_id=p.tenant_id, tool_id=str(id))
        return Tool.from_record(t, p.registry.mcp_url(t.id))

    @strawberry.field(description="Runs, newest first, optionally of one agent or thread.")
    async def executions(self, info: Info, agent_id: str | None = None, thread_id: str | None = None,
                         limit: int = 50) -> list[Execution]:
        p = _platform(info)
        rows = await p.executions.list(tenant_id=p.tenant_id, agent_id=agent_id, thread_id=thread_id, limit=limit,
                                       viewer=await p.restricted_viewer())
        return [Execution.from_record(e) for e in rows]

    @strawberry.field(description="One run by id, with its execution chain.")
    async def execution(self, info: Info, id: strawberry.ID) -> Execution:
        p = _platform(info)
        e = await p.executions.get(tenant_id=p.tenant_id, execution_id=str(id))
        await p.require_visible_run(e)
        return Execution.from_record(e)

    @strawberry.field(description="The published JSON schema of AgentSpec.")
    def agent_spec_schema(self) -> JSON:
        return agent_spec_json_schema()


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Register an OpenAPI 3 document (YAML or JSON text) served at base_url as a tool.")
    async def register_tool(self, info: Info, openapi: str, base_url: str, name: str | None = None) -> Tool:
        p = _platform(info)
        t = await p.registry.register(tenant_id=p.tenant_id, user_id=p.user_id, openapi=openapi, base_url=base_url,
                                      name=name)
        return Tool.from_record(t, p.registry.mcp_url(t.id))

    @strawberry.mutation(description="Turn an intent (or a refinement, same thread_id) into an AgentSpec draft.")
    async def build_agent(self, info: Info, intent: str, thread_id: str | None = None) -> BuildResult:
        p = _platform(info)
        r = await p.builder.build(tenant_id=p.tenant_id, message=intent, thread_id=thread_id, user_id=p.user_id)
        return BuildResult(
            thread_id=r.thread_id, message=r.message, spec_yaml=r.spec_yaml, spec=r.spec.model_dump(mode="json"),
            attempts=r.attempts,
            suggestions=[ToolSuggestion(tool_id=s.tool_id, name=s.name, score=s.score, reason=s.reason)
                         for s in r.suggestions],
            similar_agents=[SimilarAgentHint(**{k: h[k] for k in ("agent_id", "agent_name", "user_name", "department",
                                                                  "success_rate", "runs", "similarity", "message")})
                            for h in r.similar_agents],
        )

    @strawberry.mutation(description="Save a spec (YAML) as a new agent, or as a new version of agent_id.")
    async def save_agent(self, info: Info, spec_yaml: str, agent_id: str | None = None, publish: bool = False) -> Agent:
        p = _platform(info)
        spec = AgentSpec.from_yaml(spec_yaml)
        await check_spec_notebooks(p, spec)
        # Team members, agent steps, delegates (issue 7): the provisioning rule; publishing activates, so it
        # needs them active too.
        await LifecycleRepository(p.graph).require_agent_refs(tenant_id=p.tenant_id, spec=spec, self_id=agent_id,
                                                              need_active=publish)
        canonical = spec.to_yaml()
        common: dict[str, Any] = dict(
            tenant_id=p.tenant_id, name=spec.name, description=spec.description, agent_type=spec.agent_type.value,
            spec_yaml=canonical, tool_ids=spec.tool_ids, created_by=p.user_id, publish=publish,
            model_names=[spec.model.name, *spec.model.fallbacks],
        )
        if agent_id:
            a, _ = await p.agents.add_version(agent_id=agent_id, **common)
        else:
            new = f"{tool_slug(spec.name)[:40]}-{new_id('x')[-6:]}"
            a, _ = await p.agents.create(agent_id=new, **common)
        await link_spec_notebooks(p, spec, a.id, a.latest_version)
        return Agent.from_record(a)

    @strawberry.mutation(description="Make a version (default: latest) active.")
    async def publish_agent(self, info: Info, agent_id: str, version: int | None = None) -> Agent:
        p = _platform(info)
        return Agent.from_record(await p.agents.publish(tenant_id=p.tenant_id, agent_id=agent_id, version=version))

    @strawberry.mutation(description="Run an agent; same thread_id continues a conversation. A repeated "
                                     "idempotency_key (per agent, kept 24 h) returns the first run instead of "
                                     "starting another.")
    async def run_agent(self, info: Info, agent_id: str, input: str, thread_id: str | None = None,
                        version: int | None = None, idempotency_key: str | None = None,
                        sandbox: bool = False) -> Execution:
        p = _platform(info)

        async def start() -> ExecutionRecord:  # sandbox: no real tool call (docs/guardrails.md)
            return await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, input=input,
                                    thread_id=thread_id, version=version, sandbox=sandbox)

        if idempotency_key is None or p.triggers is None:
            return Execution.from_record(await start())

        async def load(run_id: str) -> ExecutionRecord:
            return await p.executions.get(tenant_id=p.tenant_id, execution_id=run_id)

        e, _ = await p.triggers.idempotency.run_once(tenant_id=p.tenant_id, agent_id=agent_id, key=idempotency_key,
                                                     start=start, run_id_of=lambda r: r.id, load=load)
        return Execution.from_record(e)


