"""``create_app(settings)``: the platform's FastAPI app.

Routes: ``/graphql`` (strawberry; GraphiQL in the browser), ``/healthz``,
``/tools/{tool_id}/mcp`` (each registered tool over MCP streamable HTTP) and the
Gradio UI at ``/ui``. Services are built in the lifespan (``Platform.start``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import strawberry
from fastapi import FastAPI, Request
from fastapi.requests import HTTPConnection
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.tools import merge_types
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from agentgraph.errors import AgentGraphError, AuthenticationError
from agentgraph.gateway import ChatModel
from agentgraph.settings import Settings
from memory import Embedder
from runners import MCPToolHost

from api._access import AccessExtension
from api._auth_routes import make_session_user
from api._auth_routes import router as auth_router
from api._errors import RETRY_AFTER_S, error_response, map_graphql_error, unavailable_in
from api._schema_auth import AuthMutation, AuthQuery
from api._schema_sharing import SharingMutation, SharingQuery
from api._limits import limit_extensions
from api._schema_marketplace import MarketMutation, MarketQuery
from api._platform import Platform, configure_environment
from api._schema import Mutation, Query
from api._schema_llm import LLMMutation, LLMQuery, LLMSubscription
from api._schema_memory import MemoryMutation, MemoryQuery
from api._schema_tools import ToolHubMutation, ToolHubQuery
from api._schema_events import EventsMutation, EventsQuery, EventsSubscription
from api._schema_triggers import TriggerMutation, TriggerQuery
from api._schema_runs import RunsMutation, RunsQuery
from api._schema_guardrails import GuardrailsMutation
from api._schema_external import ExternalMutation, ExternalQuery
from api._schema_artifacts import ArtifactMutation


class _Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # noqa: D102
        # Domain errors are expected outcomes; only unexpected ones are logged (in api._errors).
        return None


#: Query / Mutation classes merged into the schema. Each capability adds its own
#: module (``api/_schema_<area>.py``) and appends its classes here.
QUERIES: tuple[type, ...] = (Query, MemoryQuery, LLMQuery, ToolHubQuery, AuthQuery, SharingQuery, MarketQuery, RunsQuery, TriggerQuery, EventsQuery, ExternalQuery)
MUTATIONS: tuple[type, ...] = (Mutation, MemoryMutation, LLMMutation, ToolHubMutation, AuthMutation, SharingMutation, MarketMutation, RunsMutation, TriggerMutation, EventsMutation, ExternalMutation, GuardrailsMutation, ArtifactMutation)

#: Subscription classes (served over graphql-transport-ws at /graphql).
SUBSCRIPTIONS: tuple[type, ...] = (LLMSubscription, EventsSubscription)

schema = _Schema(query=merge_types("Query", QUERIES), mutation=merge_types("Mutation", MUTATIONS),
                 subscription=merge_types("Subscription", SUBSCRIPTIONS),
                 extensions=[AccessExtension, *limit_extensions()])  # tenant of the caller, role checks, audit log (api._access)


class _Router(GraphQLRouter):
    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:  # noqa: D102
        if result.errors:
            result.errors = [map_graphql_error(e) for e in result.errors]
        return await super().process_result(request, result)

    def create_response(self, response_data, sub_response):  # noqa: D102
        # Graph (or Redis) down: 503 + Retry-After so clients and load balancers back off (issue 6).
        if unavailable_in(response_data):
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return super().create_response(response_data, sub_response)

    async def on_ws_connect(self, context: dict[str, Any]):  # noqa: D102
        # Browsers cannot set headers on a WebSocket: graphql-transport-ws carries them in connection_init.
        if context.get("caller") is None:
            params = context.get("connection_params") or {}
            headers = {k.lower(): v for k, v in params.items() if isinstance(v, str)} if isinstance(params, dict) \
                else {}
            try:
                context["caller"] = await context["platform"].auth.authenticate(headers)
            except AgentGraphError as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from None
        return await super().on_ws_connect(context)


def create_app(settings: Settings | None = None, *, llm: ChatModel | None = None,
               embedder: Embedder | None = None, with_ui: bool = True) -> FastAPI:
    """Build the app. ``llm``/``embedder`` override the configured ones (tests)."""
    configure_environment()
    settings = settings or Settings()
    host = MCPToolHost()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        platform = await Platform.start(settings, llm=llm, embedder=embedder, host=host)
        app.state.platform = platform
        if platform.scheduler is not None:  # schedules fire from API processes only (docs/triggers.md)
            platform.scheduler.start()
        try:
            yield
        finally:
            await platform.close()

    app = FastAPI(title="agentgraph", version="0.1.0", lifespan=lifespan)

    async def context_getter(request: HTTPConnection) -> dict[str, Any]:  # HTTP and WebSocket (subscriptions)
        platform = request.app.state.platform
        ctx: dict[str, Any] = {"platform": platform, "request": request, "caller": None}
        try:
            ctx["caller"] = await platform.auth.authenticate(request.headers, request.cookies)
        except AuthenticationError:
            if request.scope["type"] != "websocket":  # WebSockets authenticate in connection_init
                raise
        return ctx

    app.include_router(_Router(schema, context_getter=context_getter), prefix="/graphql")
    app.mount("/tools", host)
    app.include_router(auth_router)
    # Webhook triggers (HMAC-signed, no API key) and run events over SSE (issue 6, docs/triggers.md).
    from api._run_events import router as run_events_router
    from api._webhooks import router as webhooks_router

    app.include_router(webhooks_router)
    app.include_router(run_events_router)
    from api._external_routes import router as external_router  # async external agents' answers (issue 7)

    app.include_router(external_router)
    # Multipart document upload to notebooks (issue 5, docs/memory-and-notebooks.md).
    from api._notebook_routes import router as notebook_router

    app.include_router(notebook_router)
    # Download of files created by producer agents (issue 7, docs/agent-types.md).
    from api._artifact_routes import router as artifact_router

    app.include_router(artifact_router)

    @app.exception_handler(AgentGraphError)
    async def _domain_error(_: Request, exc: AgentGraphError) -> JSONResponse:
        return error_response(exc)

    @app.get("/healthz", tags=["meta"])
    async def healthz(request: Request) -> JSONResponse:
        platform: Platform | None = getattr(request.app.state, "platform", None)
        if platform is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks: dict[str, str] = {}
        try:
            await platform.graph.query("RETURN 1 AS ok")
            checks["graph"] = "ok"
        except Exception as exc:  # health reports, never raises
            checks["graph"] = f"error: {exc}"
        try:
            await platform.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc}"
        checks["llm"] = ",".join(platform.llm.describe().get("models", []))
        ok = checks["graph"] == "ok" and checks["redis"] == "ok"
        return JSONResponse({"status": "ok" if ok else "degraded", "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["meta"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        platform: Platform | None = getattr(request.app.state, "platform", None)
        if platform is None or platform.runs.metrics is None:
            return Response("platform starting\n", status_code=503, media_type="text/plain")
        await platform.runs.metrics.refresh()  # queue depth
        return Response(platform.runs.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/" if with_ui else "/graphql")

    if with_ui:
        import gradio as gr

        from api._ui import build_ui

        parent = app

        @parent.middleware("http")
        async def _login_redirect(request: Request, call_next):
            # Browsers opening the UI without a session go to the sign-in form instead of a bare 401.
            path = request.url.path
            if request.method == "GET" and path.rstrip("/") == "/ui" and settings.auth.required \
                    and make_session_user(parent)(request) is None:
                return RedirectResponse(f"/login?next={path}", status_code=303)
            return await call_next(request)

        app = gr.mount_gradio_app(app, build_ui(settings), path="/ui", auth_dependency=make_session_user(parent))
    return app
