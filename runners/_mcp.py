"""Serve registered OpenAPI tools as MCP servers, and call them during runs.

Server side: :class:`MCPToolHost` is one ASGI app, mounted by the API at
``/tools``. For each registered tool it builds ``FastMCP.from_openapi`` (every
operation an MCP *tool*, named by its operationId) and serves it over
streamable HTTP at ``/tools/{tool_id}/mcp`` (stateless, JSON responses: no
per-client state survives a request, so any worker can answer).

Client side: :class:`MCPToolSession` is one MCP client session (fastmcp
``Client`` over ``StreamableHttpTransport``) for the length of a run; it lists
tools in OpenAI function-calling format and calls them, mapping failures to
:class:`~agentgraph.errors.ToolError`.

Security: fastmcp forwards the caller's HTTP headers to the upstream API
(DESIGN.md, "facts learned the hard way"), so the host drops every request
header outside an allow-list before the request reaches a tool app.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from agentgraph.errors import ToolError, UserError
from runners._openapi import OpenAPIDocument

__all__ = ["DEFAULT_HEADER_ALLOWLIST", "MCPToolHost", "MCPToolSession"]

log = logging.getLogger(__name__)

#: Caller headers that may reach the upstream API (via fastmcp's forwarding).
DEFAULT_HEADER_ALLOWLIST = frozenset(
    {"accept", "accept-language", "content-type", "user-agent", "x-request-id", "traceparent", "tracestate"}
)
# Headers the streamable-HTTP transport itself needs (MCP spec 2025-06-18,
# "Streamable HTTP"), plus framing headers fastmcp never forwards upstream.
_PROTOCOL_HEADERS = frozenset(
    {"accept", "content-type", "mcp-session-id", "mcp-protocol-version", "host", "content-length"}
)
_TOOL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


@dataclass
class _Mounted:
    """One served tool: its ASGI app and the task that holds its lifespan open."""

    app: Any
    tool_names: list[str]
    stop: asyncio.Event
    task: asyncio.Task[None]
    client: Any  # httpx2.AsyncClient to the upstream API, closed on unmount


class MCPToolHost:
    """ASGI app to be mounted by FastAPI at ``/tools``.

    Serves each registered tool at ``/tools/{tool_id}/mcp`` (MCP streamable
    HTTP). Unknown tools answer 404 ``{"error": ..., "code": "NOT_FOUND"}``.

    Tools are registered at runtime, after the outer app started, and Starlette
    does not forward lifespan events to mounted apps; so :meth:`mount` runs each
    tool app's lifespan (the MCP session manager and its task group) in a
    dedicated background task, which :meth:`unmount`/:meth:`aclose` stop. A
    dedicated task is needed because anyio task groups must be exited by the
    task that entered them. Call :meth:`mount` from the event loop that serves
    HTTP (e.g. in an app lifespan or a request handler).

    Args:
        header_allowlist: lower-case request header names that may reach tool
            apps (and so be forwarded upstream); MCP protocol headers are
            always kept.
        timeout_s: per-request timeout of the upstream API calls, seconds.
    """

    def __init__(
        self, *, header_allowlist: Iterable[str] = DEFAULT_HEADER_ALLOWLIST, timeout_s: float = 30.0
    ) -> None:
        self._keep = frozenset(h.lower() for h in header_allowlist) | _PROTOCOL_HEADERS
        self._keep_bytes = frozenset(h.encode("latin-1") for h in self._keep)
        self.timeout_s = timeout_s
        self._tools: dict[str, _Mounted] = {}
        self._lock = asyncio.Lock()

    def has(self, tool_id: str) -> bool:
        """True when ``tool_id`` is mounted."""
        return tool_id in self._tools

    async def mount(self, tool_id: str, doc: OpenAPIDocument, base_url: str, *, client: Any = None) -> list[str]:
        """Serve ``doc`` (calling ``base_url``) at ``/{tool_id}/mcp``; replaces a previous mount.

        Args:
            tool_id: URL-safe id (letters, digits, ``_.-``; at most 128 chars).
            doc: the validated document from :func:`runners._openapi.load_openapi`
                (the tool hub passes it filtered to the allowed operations).
            base_url: base URL of the API the tools call, e.g. ``http://127.0.0.1:8101``.
            client: the ``httpx2.AsyncClient`` the tools call the API with (auth,
                retries, rate limit: :func:`runners._toolhub_http.build_upstream_client`);
                default a plain client with ``timeout_s``. The host closes it on unmount.

        Returns:
            The MCP tool names, one per operation (the operationIds, slugified by fastmcp).

        Raises:
            UserError: ``tool_id`` is not URL-safe.
            InvalidSpecError: fastmcp could not convert the document.
        """
        if not _TOOL_ID.fullmatch(tool_id):
            raise UserError(
                f"tool id {tool_id!r} is not URL-safe: use letters, digits, '_', '.' or '-' (max 128 chars)."
            )
        mounted = await self._start(tool_id, doc, base_url, client)
        async with self._lock:
            old = self._tools.get(tool_id)
            self._tools[tool_id] = mounted  # swap first: requests never see a gap
        if old is not None:
            await self._stop(old)
        return list(mounted.tool_names)

    async def unmount(self, tool_id: str) -> None:
        """Stop serving ``tool_id`` (no-op when not mounted); closes its upstream client."""
        async with self._lock:
            mounted = self._tools.pop(tool_id, None)
        if mounted is not None:
            await self._stop(mounted)

    async def aclose(self) -> None:
        """Unmount every tool, shutting down each tool app's lifespan."""
        async with self._lock:
            mounted, self._tools = list(self._tools.values()), {}
        for m in mounted:
            await self._stop(m)

    async def _start(self, tool_id: str, doc: OpenAPIDocument, base_url: str, client: Any) -> _Mounted:
        import copy

        import httpx2  # fastmcp 4 wants an httpx2 client (plain httpx is deprecated there)
        from fastmcp import FastMCP
        from fastmcp.server.providers.openapi import MCPType, RouteMap

        from agentgraph.errors import InvalidSpecError

        client = client if client is not None else httpx2.AsyncClient(base_url=base_url, timeout=self.timeout_s)
        try:
            mcp = FastMCP.from_openapi(
                openapi_spec=copy.deepcopy(doc.spec),  # fastmcp may annotate the dict
                client=client,
                name=doc.title or tool_id,
                # Every operation a tool: agents call tools, they do not read resources.
                route_maps=[RouteMap(mcp_type=MCPType.TOOL)],
                # Upstream error text (status + body) helps the agent and the user.
                mask_error_details=False,
            )
            tool_names = [t.name for t in await mcp.list_tools(run_middleware=False)]
            app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
        except Exception as exc:
            await client.aclose()
            raise InvalidSpecError(
                f"OpenAPI document for tool {tool_id!r} could not be turned into MCP tools: {exc}. "
                "Fix the document and upload it again."
            ) from exc
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = asyncio.Event()
        # Fresh context: the lifespan must not inherit the caller's request contextvars.
        task = asyncio.create_task(
            _hold_lifespan(app, ready, stop, tool_id), name=f"mcp-tool-{tool_id}", context=contextvars.Context()
        )
        try:
            await ready
        except BaseException:
            await client.aclose()
            raise
        return _Mounted(app=app, tool_names=tool_names, stop=stop, task=task, client=client)

    async def _stop(self, mounted: _Mounted) -> None:
        mounted.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(mounted.task), timeout=10.0)
        except asyncio.TimeoutError:
            mounted.task.cancel()
        except Exception:  # already logged by _hold_lifespan
            pass
        await mounted.client.aclose()
        auth_close = getattr(getattr(mounted.client, "auth", None), "aclose", None)
        if auth_close is not None:  # the OAuth 2 token client of a CredentialAuth
            await auth_close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """ASGI entry: route ``/{tool_id}/mcp...`` to that tool's app; handles lifespan."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        root_path: str = scope.get("root_path", "")
        # Starlette >= 0.33 keeps the full path in a mount and grows root_path.
        route_path = path[len(root_path):] if root_path and path.startswith(root_path) else path
        tool_id, _, rest = route_path.lstrip("/").partition("/")
        mounted = self._tools.get(tool_id)
        if mounted is None or not ("/" + rest == "/mcp" or rest.startswith("mcp/")):
            await self._not_found(scope, send, tool_id)
            return
        child_root = f"{root_path}/{tool_id}"
        child = dict(scope)
        child["root_path"] = child_root
        child["path"] = f"{child_root}/{rest}"
        if "raw_path" in scope:
            child["raw_path"] = child["path"].encode("utf-8")
        child["headers"] = [(k, v) for k, v in scope.get("headers", []) if k.lower() in self._keep_bytes]
        await mounted.app(child, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _not_found(scope: dict[str, Any], send: Any, tool_id: str) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps(
            {
                "error": f"no MCP tool {tool_id!r} is served here; tools are at /tools/{{tool_id}}/mcp "
                "(register the tool first, or check its id)",
                "code": "NOT_FOUND",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _hold_lifespan(app: Any, ready: asyncio.Future[None], stop: asyncio.Event, tool_id: str) -> None:
    """Enter ``app``'s lifespan, report readiness, hold it until ``stop`` is set."""
    try:
        async with app.router.lifespan_context(app):
            ready.set_result(None)
            await stop.wait()
    except BaseException as exc:
        if not ready.done():
            ready.set_exception(exc)
        else:
            log.exception("MCP tool app %s stopped with an error", tool_id)
        if not isinstance(exc, Exception):
            raise


class MCPToolSession:
    """One MCP client session to a tool URL for the length of a run.

    Usage::

        async with MCPToolSession("http://127.0.0.1:8000/tools/crm/mcp") as s:
            tools = await s.list_tools()
            text = await s.call_tool("searchLeads", {"q": "Ada"})

    Args:
        url: the tool's streamable-HTTP endpoint (``.../tools/{tool_id}/mcp``).
        timeout_s: timeout of each MCP request (list or call), seconds.
        headers: extra HTTP headers sent with every request (e.g. ``traceparent``);
            the host forwards only allow-listed ones to the upstream API.
        auth: an ``httpx2.Auth`` adding credentials to each request (external
            MCP servers, see :class:`runners._toolhub_http.CredentialAuth`).

    Attributes:
        broken: set when a request failed below the MCP layer (connection,
            session); a pool then reopens the session.

    Raises:
        ToolError: on enter, when no MCP server answers at ``url``.
    """

    def __init__(self, url: str, *, timeout_s: float = 30.0, headers: dict[str, str] | None = None,
                 auth: Any = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.headers = dict(headers or {})
        self.auth = auth
        self.broken = False
        self._client: Any = None

    async def __aenter__(self) -> MCPToolSession:
        from fastmcp import Client
        from fastmcp.client.transports import StreamableHttpTransport

        transport = StreamableHttpTransport(self.url, headers=self.headers, auth=self.auth)
        client = Client(transport, timeout=self.timeout_s)
        try:
            await client.__aenter__()
        except Exception as exc:
            raise ToolError(
                f"cannot open an MCP session to {self.url}: {_excerpt(_root_cause(exc))}. "
                "Check that the tool is registered and the platform is running."
            ) from exc
        self._client = client
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(*exc_info)

    def _require(self) -> Any:
        if self._client is None:
            raise RuntimeError("MCPToolSession is not open: use 'async with MCPToolSession(url) as s'")
        return self._client

    async def list_tools(self) -> list[dict[str, Any]]:
        """The tools of the server in OpenAI function-calling format.

        Returns:
            ``[{"type": "function", "function": {"name", "description",
            "parameters": <JSON schema of the arguments>}}, ...]``.

        Raises:
            ToolError: the server could not be listed.
        """
        try:
            tools = await self._require().list_tools()
        except RuntimeError:
            raise
        except Exception as exc:
            self.broken = True
            raise ToolError(f"cannot list the tools at {self.url}: {_excerpt(_root_cause(exc))}") from exc
        return [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description or t.title or t.name,
                    "parameters": t.input_schema or {"type": "object", "properties": {}},
                },
            }
            for t in tools
        ]

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> str:
        """Call tool ``name`` and return the text of its result.

        Args:
            name: the MCP tool name (an operationId).
            arguments: arguments matching the tool's ``parameters`` schema.

        Returns:
            The text content blocks joined by newlines, or the structured
            result as JSON when the tool returned no text.

        Raises:
            ToolError: the tool failed (upstream HTTP error, unknown tool, bad
                arguments, timeout); the message names the tool, the HTTP status
                when known, and a short excerpt of the error body.
        """
        client = self._require()
        try:
            result = await client.call_tool_mcp(name=name, arguments=arguments or {})
        except Exception as exc:
            root = _root_cause(exc)
            # A timeout or an MCP-level error leaves the session usable; anything else may not.
            self.broken = not isinstance(root, (TimeoutError, asyncio.TimeoutError, _mcp_error_type()))
            raise ToolError(f"tool {name!r} failed: {_excerpt(root)}") from exc
        text = "\n".join(getattr(b, "text", "") for b in result.content if getattr(b, "type", "") == "text")
        if not text and result.structured_content is not None:
            text = json.dumps(result.structured_content, ensure_ascii=False)
        if result.is_error:
            # fastmcp prefixes "Error calling tool 'x': "; the tool is named below anyway.
            text = re.sub(r"^Error calling tool '[^']*':\s*", "", text)
            status = re.search(r"HTTP error (\d{3})", text)
            where = f" (HTTP {status.group(1)})" if status else ""
            raise ToolError(f"tool {name!r} failed{where}: {_excerpt(text) or 'no details'}")
        return text


def _mcp_error_type() -> type[BaseException]:
    """The MCP SDK's protocol error (the server answered with a JSON-RPC error)."""
    from fastmcp.exceptions import McpError

    return McpError


def _root_cause(exc: BaseException) -> BaseException:
    # anyio wraps transport failures in ExceptionGroups; report the first leaf.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _excerpt(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value).split()) if not isinstance(value, BaseException) else (
        f"{type(value).__name__}: {' '.join(str(value).split())}"
    )
    return text if len(text) <= limit else text[: limit - 3] + "..."
