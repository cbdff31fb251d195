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
from strawberry.fastapi import GraphQLRouter
from strawberry.tools import merge_types
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from agentgraph.errors import AgentGraphError
from agentgraph.gateway import ChatModel
from agentgraph.settings import Settings
from memory import Embedder
from runners import MCPToolHost

from api._errors import error_response, map_graphql_error
from api._platform import Platform, configure_environment
from api._schema import Mutation, Query
from api._schema_llm import LLMMutation, LLMQuery, LLMSubscription
from api._schema_memory import MemoryMutation, MemoryQuery
from api._schema_tools import ToolHubMutation, ToolHubQuery


class _Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # noqa: D102
        # Domain errors are expected outcomes; only unexpected ones are logged (in api._errors).
        return None


#: Query / Mutation classes merged into the schema. Each capability adds its own
#: module (``api/_schema_<area>.py``) and appends its classes here.
QUERIES: tuple[type, ...] = (Query, MemoryQuery, LLMQuery, ToolHubQuery)
MUTATIONS: tuple[type, ...] = (Mutation, MemoryMutation, LLMMutation, ToolHubMutation)

#: Subscription classes (served over graphql-transport-ws at /graphql).
SUBSCRIPTIONS: tuple[type, ...] = (LLMSubscription,)

schema = _Schema(query=merge_types("Query", QUERIES), mutation=merge_types("Mutation", MUTATIONS),
                 subscription=merge_types("Subscription", SUBSCRIPTIONS))


class _Router(GraphQLRouter):
    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:  # noqa: D102
        if result.errors:
            result.errors = [map_graphql_error(e) for e in result.errors]
        return await super().process_result(request, result)


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
        try:
            yield
        finally:
            await platform.close()

    app = FastAPI(title="agentgraph", version="0.1.0", lifespan=lifespan)

    async def context_getter(request: HTTPConnection) -> dict[str, Any]:  # HTTP and WebSocket (subscriptions)
        return {"platform": request.app.state.platform, "request": request}

    app.include_router(_Router(schema, context_getter=context_getter), prefix="/graphql")
    app.mount("/tools", host)

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
        return Response(platform.runs.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/" if with_ui else "/graphql")

    if with_ui:
        import gradio as gr

        from api._ui import build_ui

        app = gr.mount_gradio_app(app, build_ui(settings), path="/ui")
    return app
