"""The platform's service graph, built once per process from Settings.

``Platform.start(settings)`` connects to the graph and Redis, sets up the schema,
creates the default tenant and user, serves every stored tool over MCP and (when
configured) registers the demo CRM. ``close()`` releases everything.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from cachetools import TTLCache

from agentgraph.errors import ConflictError, NotFoundError
from agentgraph.gateway import ChatModel, build_gateway
from agentgraph.settings import Settings
from api._auth import Authenticator, Caller, LocalIssuer, current_caller, ensure_bootstrap_key
from api._platform_llm import LLMParts, start_llm, wrap_gateway
from api._platform_memory import MemoryServices, start_memory
from api._platform_tools import ToolHubServices, start_toolhub
from api._platform_market import MarketServices, start_marketplace
from builder import AgentBuilder, BuilderThreadStore
from graph import (ApiKeyRepository, AuditRepository, CountingExecutionRepository, SharingRepository, UserDirectory,
                   Viewer)
from graph import AgentRepository, ExecutionRepository, GraphClient, TenantRepository, ToolRepository, setup_schema
from memory import Embedder, MiniLMEmbedder, open_checkpointer
from runners import AgentRunner, MCPToolHost, RunMetrics, RunService, ToolRegistry, make_tracer


@dataclass
class Platform:
    """Every service the API needs (one instance per process)."""

    settings: Settings
    graph: GraphClient
    redis: aioredis.Redis
    llm: ChatModel
    embedder: Embedder
    agents: AgentRepository
    tools: ToolRepository
    executions: ExecutionRepository
    tenants: TenantRepository
    host: MCPToolHost
    registry: ToolRegistry
    builder: AgentBuilder
    runs: RunService
    _stack: AsyncExitStack
    memory: MemoryServices | None = None  # notebooks, long-term memory, threads (issue 5)
    llm_parts: LLMParts | None = None
    toolhub: ToolHubServices | None = None  # tool hub: credentials, rules, health, pooled MCP sessions (issue 4)
    external: Any = None  # runners._external_service.ExternalAgentService: external agents (issue 7)
    artifacts: Any = None  # runners.ArtifactStore: files created by producer agents (issue 7)
    artifact_retention: Any = None  # runners.ArtifactRetention: expiry sweep and deleteArtifact
    triggers: Any = None  # runners.TriggerService: webhooks, schedules, idempotency keys (issue 6)
    scheduler: Any = None  # runners.Scheduler firing schedule triggers (issue 6)
    market: MarketServices | None = None  # organisation, lifecycle, marketplace, recommendations (issue 3)
    queue: Any = None  # argo.JobQueue when settings.executor == "queue" (issue 6)
    auth: "Authenticator | None" = None  # API keys and JWTs -> Caller (issue 3, api._auth)
    users: UserDirectory | None = None
    api_keys: ApiKeyRepository | None = None
    audit: AuditRepository | None = None
    #: A newly generated bootstrap admin API key (printed once by `agentgraph up`), else None.
    bootstrap_key: str | None = None
    sharing: SharingRepository | None = None  # agent visibility and grants (issue 3)
    _viewers: TTLCache | None = None

    async def viewer_of(self, caller: "Caller") -> Viewer:
        """The caller's teams and departments for agent visibility (cached 30 s per user)."""
        if self._viewers is None:
            self._viewers = TTLCache(maxsize=10_000, ttl=30)
        key = (caller.tenant_id, caller.user_id, caller.role)
        viewer = self._viewers.get(key)
        if viewer is None:
            viewer = await self.sharing.viewer(tenant_id=caller.tenant_id, user_id=caller.user_id,
                                               admin=caller.at_least("admin"))
            self._viewers[key] = viewer
        return viewer

    async def restricted_viewer(self) -> Viewer | None:
        """The request caller's :class:`Viewer` when agent sharing limits what they see; None for tenant admins
        and work outside requests (they see every agent of the tenant)."""
        caller = current_caller()
        if caller is None or caller.at_least("admin") or self.sharing is None:
            return None
        return await self.viewer_of(caller)

    async def require_visible_run(self, execution: Any) -> None:
        """Raise ``NotFoundError`` (as for a missing run, no hint it exists) when the caller may not see the
        run's agent (agent sharing, ``graph._sharing``)."""
        viewer = await self.restricted_viewer()
        if viewer is None:
            return
        ok = await self.sharing.visible_ids(tenant_id=execution.tenant_id, agent_ids=[execution.agent_id],
                                            viewer=viewer)
        if execution.agent_id not in ok:
            raise NotFoundError(f"Execution {execution.id!r} does not exist.")  # the same words as a missing one

    @property
    def tenant_id(self) -> str:
        """Tenant of the request's caller (``api._auth.current_caller``); the default tenant outside requests."""
        caller = current_caller()
        return caller.tenant_id if caller else self.settings.tenant_id

    @property
    def user_id(self) -> str:
        """User of the request's caller; the default admin outside requests (start-up, background work)."""
        caller = current_caller()
        return caller.user_id if caller else self.settings.user_id

    @classmethod
    async def start(cls, settings: Settings, *, llm: ChatModel | None = None, embedder: Embedder | None = None,
                    host: MCPToolHost | None = None) -> "Platform":
        """Connect and initialise (see module docstring).

        Raises:
            ServiceUnavailableError: graph or Redis not reachable.
        """
        stack = AsyncExitStack()
        try:
            g = settings.graph
            graph = GraphClient(
                settings.graph_uri, g.user, g.password, g.database, backend=settings.graph_backend,
                http_url=f"http://127.0.0.1:{g.http_port}",
            )
            stack.push_async_callback(graph.close)
            await graph.verify()
            await setup_schema(graph)
            tenants = TenantRepository(graph)
            await tenants.ensure_default(tenant_id=settings.tenant_id, user_id=settings.user_id)
            rds = aioredis.from_url(settings.redis_url)
            stack.push_async_callback(rds.aclose)
            checkpointer = await stack.enter_async_context(
                open_checkpointer(settings.redis_url, ttl_min=settings.redis.checkpoint_ttl_min,
                                  # a worker runs `concurrency` runs at once, each writing checkpoints
                                  pool_size=max(20, 4 * settings.workers.concurrency))
            )
            llm = wrap_gateway(settings, llm or build_gateway(settings))  # budgets, BYOK, usage (issue 4)
            stack.push_async_callback(llm.aclose)
            embedder = embedder or MiniLMEmbedder()
            tools = ToolRepository(graph)
            agents = AgentRepository(graph)
            # Also keeps the Agent's marketplace counters in the finish transaction (issue 3).
            executions = CountingExecutionRepository(graph)
            host = host or MCPToolHost()
            stack.push_async_callback(host.aclose)
            registry = ToolRegistry(tools=tools, host=host, embedder=embedder, public_url=settings.api.base_url)
            tracer, collector = make_tracer(settings.tracing.service_name,
                                            otlp_endpoint=settings.tracing.otlp_endpoint)
            runner = AgentRunner(llm, checkpointer, tracer)
            builder_model = settings.llm.default_model or "default"
            platform = cls(
                settings=settings, graph=graph, redis=rds, llm=llm, embedder=embedder, agents=agents, tools=tools,
                executions=executions, tenants=tenants, host=host, registry=registry,
                builder=AgentBuilder(llm, embedder, tools, BuilderThreadStore(rds), model=builder_model),
                runs=RunService(agents=agents, executions=executions, registry=registry, runner=runner,
                                tracer=tracer, collector=collector),
                _stack=stack,
            )
            platform.runs.metrics = RunMetrics()
            platform.llm_parts = await start_llm(settings, graph, llm, agents)
            # Agent-mode comparisons run the whole agent (tools included) once per model.
            platform.llm_parts.comparisons.agent_runner = platform.runs.run
            platform.memory = await start_memory(settings, graph=graph, embedder=embedder, llm=llm,
                                                 runs=platform.runs, builder=platform.builder, stack=stack)
            platform.toolhub = await start_toolhub(settings, graph=graph, tools=tools, host=host, embedder=embedder,
                                                   registry=registry, runner=runner, stack=stack)
            from api._platform_external import start_external

            platform.external = await start_external(settings, runs=platform.runs, box=platform.toolhub.hub.secrets,
                                                     graph=graph, stack=stack, redis=rds)
            # Producer agents' files: create_artifact tool, store, links on the Execution (issue 7).
            from runners import artifact_tools, build_artifact_store, build_image_generator

            platform.artifacts = build_artifact_store(settings)
            platform.runs.add_tool_provider(artifact_tools(platform.artifacts, platform.runs.lifecycle,
                                                           max_bytes=settings.artifacts.max_bytes,
                                                           images=build_image_generator(settings)))
            from runners import ArtifactRetention  # expired files leave the store and their runs

            platform.artifact_retention = ArtifactRetention(
                platform.artifacts, platform.runs.lifecycle,
                retention_days=settings.artifacts.retention_days, interval_s=settings.artifacts.cleanup_interval_s)
            platform.artifact_retention.start()
            stack.push_async_callback(platform.artifact_retention.stop)
            from runners import install_multi_agent

            install_multi_agent(platform.runs, max_depth=settings.run.max_depth)  # workflows, teams, delegation
            if settings.executor == "argo":  # runs become Argo Workflows (issue 6, docs/argo.md)
                from argo import start_argo_executor

                platform.runs.executor = await start_argo_executor(settings, executions=executions, stack=stack)
            await start_runs(platform)
            from api._platform_triggers import start_triggers

            platform.triggers, platform.scheduler = await start_triggers(
                settings, graph=graph, redis=rds, runs=platform.runs, stack=stack)
            await start_auth(platform)
            platform.market = start_marketplace(platform)
            await registry.restore()
            if settings.demo.enabled and settings.demo.register_on_start:
                await platform.register_demo_crm()
            return platform
        except BaseException:
            await stack.aclose()
            raise

    async def register_demo_crm(self) -> None:
        """Register the demo CRM as tool ``demo-crm`` unless it exists or is not running."""
        from agentgraph.demo import OPENAPI_PATH

        existing = {t.id for t in await self.tools.list(tenant_id=self.tenant_id)}
        if "demo-crm" in existing:
            return
        try:
            await self.registry.register(
                tenant_id=self.tenant_id, user_id=self.user_id, openapi=OPENAPI_PATH.read_text(),
                base_url=self.settings.demo_crm_url, name="Demo CRM",
            )
        except ConflictError:
            pass  # registered concurrently by another process

    async def close(self) -> None:
        """Release connections and stop MCP tool apps."""
        await self._stack.aclose()


async def start_auth(platform: Platform) -> None:
    """Authentication, roles and audit: repositories, the local token issuer, the bootstrap admin key."""
    settings, graph = platform.settings, platform.graph
    platform.users, platform.api_keys, platform.audit = UserDirectory(graph), ApiKeyRepository(graph), \
        AuditRepository(graph)
    platform.sharing = SharingRepository(graph)
    a = settings.auth
    issuer = LocalIssuer(settings.data_dir / "auth" / "jwt-ed25519.pem",
                         issuer=a.issuer if a.mode == "local" else "agentgraph-local", audience=a.audience,
                         ttl_s=a.token_ttl_s)
    platform.auth = Authenticator(settings, keys=platform.api_keys, users=platform.users, issuer=issuer)
    platform.bootstrap_key = await ensure_bootstrap_key(settings, platform.api_keys)


async def start_runs(platform: Platform) -> None:
    """Run lifecycle (issue 6): run events on Redis Streams, cancels, and the queue executor.

    With ``settings.executor == "queue"`` runs are put on the Redis job queue for
    ``agentgraph worker`` processes; the API never runs an agent inline then.
    """
    from runners import RunEventBus

    platform.runs.events = RunEventBus(platform.redis)
    platform.runs.redis = platform.redis
    start_guardrails(platform)
    if platform.settings.executor == "queue":
        from argo import start_queue_executor

        platform.queue = await start_queue_executor(platform.settings, runs=platform.runs, stack=platform._stack)
        if platform.runs.metrics is not None:
            platform.runs.metrics.depth_probe = platform.queue.depth


def start_guardrails(platform: Platform) -> None:
    """Guardrails, PII redaction (stored runs, run events, log records) and sandbox recordings (issue 7)."""
    from runners import GuardrailServices, install_log_redaction

    g = platform.settings.guardrails
    services = GuardrailServices(redis=platform.redis, tools=platform.tools, pii_enabled=g.pii_enabled,
                                 pii_patterns=g.pii_patterns, record=g.record_tool_responses,
                                 recording_ttl_s=g.recording_ttl_s)
    platform.runs.guardrails = services
    platform.runs.events.redactor = services.default_redactor
    install_log_redaction(services.default_redactor)


def configure_environment() -> None:
    """Process-wide switches that stop libraries calling home (DESIGN.md facts)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
