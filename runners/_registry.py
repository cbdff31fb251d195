"""The tool registry: validate an OpenAPI document, check its base URL, embed its
description, store the Tool (+ operations) in the graph and serve it over MCP."""

from __future__ import annotations

import re
from typing import Any

from agentgraph.errors import AgentGraphError, InvalidSpecError
from graph import Tool, ToolOperation, ToolRepository
from memory import Embedder

from runners._mcp import MCPToolHost
from runners._openapi import check_base_url, load_openapi

_SLUG = re.compile(r"[^a-z0-9]+")


def tool_slug(name: str) -> str:
    """Tool id from a name: lower-case, dashes, at most 48 characters (``Demo CRM`` -> ``demo-crm``)."""
    return _SLUG.sub("-", name.lower()).strip("-")[:48] or "tool"


class ToolRegistry:
    """Registers OpenAPI tools and serves them at ``{public_url}/tools/{tool_id}/mcp``.

    Args:
        tools: tool repository.
        host: the ASGI MCP host mounted at ``/tools`` of the platform app.
        embedder: embeds tool descriptions (for the builder's suggestions).
        public_url: base URL of the platform as runners reach it (``http://127.0.0.1:8000``).
    """

    def __init__(self, *, tools: ToolRepository, host: MCPToolHost, embedder: Embedder, public_url: str) -> None:
        self.tools = tools
        self.host = host
        self.embedder = embedder
        self.public_url = public_url.rstrip("/")
        #: The tool hub (``runners._toolhub.ToolHub``); when set, register/restore go through it
        #: (credentials, rules, Swagger 2.0, caps from settings).
        self.hub: Any = None

    def mcp_url(self, tool_id: str) -> str:
        """Streamable-HTTP MCP endpoint of a tool."""
        return f"{self.public_url}/tools/{tool_id}/mcp"

    async def register(
        self, *, tenant_id: str, user_id: str | None, openapi: str | bytes, base_url: str,
        name: str | None = None, check_reachable: bool = True,
    ) -> Tool:
        """Validate, store and serve a tool. Nothing is stored when any step fails.

        Raises:
            InvalidSpecError: the OpenAPI document is invalid or refused.
            UserError: (``BASE_URL_UNREACHABLE``) the base URL does not answer.
            ConflictError: a tool with the same id exists.
        """
        if self.hub is not None:
            return await self.hub.register_openapi(tenant_id=tenant_id, user_id=user_id, openapi=openapi,
                                                   base_url=base_url, name=name, check_reachable=check_reachable)
        doc = load_openapi(openapi)
        base_url = base_url.strip().rstrip("/")
        if check_reachable:
            await check_base_url(base_url)
        tool_name = (name or doc.title or "tool").strip()
        tool_id = tool_slug(tool_name)
        description = doc.tool_description()
        [embedding] = await self.embedder.embed([description])
        tool = await self.tools.create(
            tenant_id=tenant_id, tool_id=tool_id, name=tool_name, description=description, base_url=base_url,
            operations=[ToolOperation(operation_id=o.operation_id, method=o.method, path=o.path, summary=o.summary)
                        for o in doc.operations],
            embedding=embedding, openapi=doc.spec, created_by=user_id,
        )
        try:
            await self.host.mount(tool_id, doc, base_url)
        except Exception as exc:
            # Compensate: a tool that cannot be served must not stay in the graph.
            await self.tools.delete(tenant_id=tenant_id, tool_id=tool_id)
            raise InvalidSpecError(f"The document validated but could not be served as MCP tools: {exc}") from exc
        return tool

    async def restore(self) -> int:
        """Serve every tool stored in the graph (at start-up); returns how many were mounted."""
        if self.hub is not None:
            return await self.hub.restore()
        n = 0
        for tool in await self.tools.list_all_tenants():
            if self.host.has(tool.id) or not tool.openapi:
                continue
            try:
                await self.host.mount(tool.id, load_openapi(tool.openapi_json or "{}"), tool.base_url)
                n += 1
            except AgentGraphError:
                continue  # a stored document that no longer validates stays unserved; runs report it
        return n


__all__ = ["ToolRegistry", "tool_slug"]
