"""The tool hub service: register, configure and serve tools with credentials and rules.

:class:`ToolHub` owns the life of a tool beyond the walking skeleton:

* OpenAPI tools (2.0 or 3.x): validated, stored with their operations (tags
  included), served by :class:`~runners._mcp.MCPToolHost` with only the allowed
  operations and an upstream client that adds credentials, retries, rate limits
  and a response cap (:mod:`runners._toolhub_http`);
* external MCP servers (streamable HTTP): stored with their listed tools, reached
  directly by the pooled client with the credentials as an ``httpx2.Auth``;
* credentials sealed with :class:`~agentgraph.secrets.SecretBox` (Fernet) before
  they touch the graph; only ``auth_kind`` and a masked ``auth_hint`` are readable;
* the resolver of :class:`~runners._toolhub_pool.MCPClientPool` (:meth:`ToolHub.endpoint`).

Health checks, "Test connection" and statistics live in :mod:`runners._toolhub_health`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from agentgraph.errors import AgentGraphError, InvalidSpecError, ToolError, UserError
from agentgraph.secrets import SecretBox
from graph import Tool, ToolHubRepository, ToolOperation, ToolRepository
from memory import Embedder

from runners._mcp import MCPToolHost, MCPToolSession
from runners._openapi import OpenAPIDocument, check_base_url, load_openapi
from runners._toolhub_config import (
    OperationRules,
    ToolAuth,
    ToolConfig,
    ToolCredentials,
    auth_summary,
    filter_spec,
    open_credentials,
    parse_model,
    seal_credentials,
)
from runners._toolhub_http import CredentialAuth, ToolRateLimiter, build_upstream_client
from runners._toolhub_pool import MCPClientPool, ToolEndpoint

__all__ = ["ToolHub", "UNSET"]

log = logging.getLogger("agentgraph.toolhub")
#: Marker for "leave unchanged" in :meth:`ToolHub.update`.
UNSET: Any = object()


class ToolHub:
    """Registers and serves tools (see module docstring).

    Args:
        tools / repo: Tool repositories (records; tool-hub writes and sealed credentials).
        host: the ASGI MCP host mounted at ``/tools``.
        embedder: embeds tool descriptions for the builder's suggestions.
        secrets: encrypts credentials at rest.
        limiter: rate limits per tool and tenant (shared by every tool).
        public_url: the platform's base URL as runners reach it.
        max_document_bytes / max_operations: upload caps (settings.toolhub).
        slug: ``name -> tool id`` (``runners._service.tool_slug``).
    """

    def __init__(self, *, tools: ToolRepository, repo: ToolHubRepository, host: MCPToolHost, embedder: Embedder,
                 secrets: SecretBox, limiter: ToolRateLimiter, public_url: str, slug: Any,
                 max_document_bytes: int = 2_000_000, max_operations: int = 500, pool_max_idle_s: float = 600.0
                 ) -> None:
        self.tools = tools
        self.repo = repo
        self.host = host
        self.embedder = embedder
        self.secrets = secrets
        self.limiter = limiter
        self.public_url = public_url.rstrip("/")
        self.slug = slug
        self.max_document_bytes = max_document_bytes
        self.max_operations = max_operations
        self.pool = MCPClientPool(self.endpoint, max_idle_s=pool_max_idle_s)

    def mcp_url(self, tool_id: str) -> str:
        """The platform's streamable-HTTP endpoint of an OpenAPI tool."""
        return f"{self.public_url}/tools/{tool_id}/mcp"

    # ------------------------------------------------------------------ OpenAPI tools
    def load(self, openapi: str | bytes) -> OpenAPIDocument:
        """Validate an upload with the configured caps (raises ``InvalidSpecError``)."""
        return load_openapi(openapi, max_bytes=self.max_document_bytes, max_operations=self.max_operations)

    async def register_openapi(
        self, *, tenant_id: str, user_id: str | None, openapi: str | bytes, base_url: str, name: str | None = None,
        auth: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
        config: dict[str, Any] | None = None, allow: list[str] | None = None, deny: list[str] | None = None,
        check_reachable: bool = True,
    ) -> Tool:
        """Validate, store (credentials sealed) and serve an OpenAPI tool; nothing is stored on failure.

        Args:
            auth: :class:`ToolAuth` fields, e.g. ``{"kind": "bearer", "value": "..."}``.
            headers: custom headers sent with every upstream request (sealed too).
            config: :class:`ToolConfig` fields (``timeout_s``, ``max_attempts``, ``rate_limit``...).
            allow / deny: operation selectors (:class:`OperationRules`).

        Raises:
            InvalidSpecError: the document is invalid or refused.
            UserError: bad auth/config/rules, rules that leave no operation, or
                (``BASE_URL_UNREACHABLE``) a base URL that does not answer.
            ConflictError: a tool with the same id exists.
        """
        doc = self.load(openapi)
        creds, cfg, rules = self._parse(auth, headers, config, allow, deny)
        base_url = base_url.strip().rstrip("/")
        _, kept = filter_spec(doc.spec, rules)
        if doc.operations and kept == 0:
            raise UserError("The allow/deny rules leave no operation of this API exposed: loosen them "
                            "(e.g. remove a deny selector) and register again.")
        if check_reachable:
            await check_base_url(base_url)
        tool_name = (name or doc.title or "tool").strip()
        tool_id = self.slug(tool_name)
        description = doc.tool_description()
        [embedding] = await self.embedder.embed([description])
        tool = await self.tools.create(
            tenant_id=tenant_id, tool_id=tool_id, name=tool_name, description=description, base_url=base_url,
            operations=[ToolOperation(operation_id=o.operation_id, method=o.method, path=o.path, summary=o.summary,
                                      tags=list(o.tags)) for o in doc.operations],
            embedding=embedding, openapi=doc.spec, created_by=user_id,
            extra={**self._props(creds, cfg, rules), "source_version": doc.source_version},
        )
        try:
            await self._mount(tenant_id, tool_id, doc, base_url, creds, cfg, rules)
        except Exception as exc:
            # Compensate: a tool that cannot be served must not stay in the graph.
            await self.tools.delete(tenant_id=tenant_id, tool_id=tool_id)
            raise InvalidSpecError(f"The document validated but could not be served as MCP tools: {exc}") from exc
        return tool

    async def _mount(self, tenant_id: str, tool_id: str, doc: OpenAPIDocument, base_url: str,
                     creds: ToolCredentials, cfg: ToolConfig, rules: OperationRules) -> list[str]:
        a = creds.auth
        # Parameters the platform fills are hidden from the model, so it is never asked for a credential.
        strip = {(a.location, str(a.name).lower())} if a.kind == "api_key" else set()
        if a.kind in ("bearer", "basic", "oauth2_client_credentials"):
            strip.add(("header", "authorization"))
        strip |= {("header", h.lower()) for h in creds.headers}
        spec, _ = filter_spec(doc.spec, rules, strip_params=strip)
        served = dataclasses.replace(doc, spec=spec)
        client = build_upstream_client(base_url, creds=creds, config=cfg, limiter=self.limiter, tenant_id=tenant_id,
                                       tool_id=tool_id)
        names = await self.host.mount(tool_id, served, base_url, client=client)
        await self.pool.invalidate(tool_id)
        return names

    # ------------------------------------------------------------------ external MCP servers
    async def register_mcp_server(
        self, *, tenant_id: str, user_id: str | None, url: str, name: str, auth: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, config: dict[str, Any] | None = None,
        allow: list[str] | None = None, deny: list[str] | None = None,
    ) -> Tool:
        """Register a streamable-HTTP MCP server: connect with the credentials, list its tools, store.

        Raises:
            UserError: bad URL, auth, config or rules.
            ToolError: the server cannot be reached or listed (nothing is stored).
            ConflictError: a tool with the same id exists.
        """
        url = url.strip()
        if not url.startswith(("http://", "https://")):
            raise UserError(f"MCP server URL {url!r} must be http(s)://host[:port]/path (streamable HTTP), "
                            "e.g. https://mcp.example.com/mcp.")
        creds, cfg, rules = self._parse(auth, headers, config, allow, deny)
        listed = await self._list_remote(url, creds, cfg)
        ops = [ToolOperation(operation_id=t["function"]["name"], method="MCP", path=t["function"]["name"],
                             summary=" ".join(str(t["function"].get("description") or "").split())[:300])
               for t in listed]
        if ops and not any(rules.allows(o.operation_id, "MCP", o.path) for o in ops):
            raise UserError("The allow/deny rules leave no tool of this MCP server exposed: loosen them and register again.")
        tool_name = name.strip() or "mcp-server"
        tool_id = self.slug(tool_name)
        description = "\n".join([tool_name, f"MCP server at {url}"] + [f"{o.operation_id} - {o.summary}" for o in ops])
        [embedding] = await self.embedder.embed([description])
        return await self.tools.create(
            tenant_id=tenant_id, tool_id=tool_id, name=tool_name, description=description, base_url=url,
            operations=ops, embedding=embedding, openapi=None, created_by=user_id, kind="mcp",
            extra={**self._props(creds, cfg, rules), "server_url": url},
        )

    async def _list_remote(self, url: str, creds: ToolCredentials, cfg: ToolConfig) -> list[dict[str, Any]]:
        auth = CredentialAuth(creds, timeout_s=cfg.timeout_s)
        try:
            async with MCPToolSession(url, timeout_s=cfg.timeout_s, auth=auth) as s:
                return await s.list_tools()
        except ToolError as exc:
            detail = exc.message.split(": ", 1)[-1].replace(
                " Check that the tool is registered and the platform is running.", "")
            raise ToolError(f"The MCP server at {url} could not be listed ({detail}). Check the URL (streamable "
                            "HTTP endpoint, often ending in /mcp) and the credentials: an auth error means the "
                            "server refused them.") from exc
        finally:
            await auth.aclose()

    async def refresh_mcp_server(self, *, tenant_id: str, tool_id: str) -> Tool:
        """List an external server's tools again and store them (its tools changed).

        Raises:
            NotFoundError / UserError: unknown tool, or not an MCP server tool.
            ToolError: the server cannot be reached.
        """
        tool = await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)
        if tool.kind != "mcp" or not tool.server_url:
            raise UserError(f"Tool {tool_id!r} is an OpenAPI tool; upload a new document to change its operations.")
        creds = await self._creds(tenant_id, tool_id)
        listed = await self._list_remote(tool.server_url, creds, _config(tool))
        ops = [ToolOperation(operation_id=t["function"]["name"], method="MCP", path=t["function"]["name"],
                             summary=" ".join(str(t["function"].get("description") or "").split())[:300])
               for t in listed]
        await self.repo.replace_operations(tenant_id=tenant_id, tool_id=tool_id, operations=ops)
        await self.pool.invalidate(tool_id)
        return await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)

    # ------------------------------------------------------------------ changes
    async def update(self, *, tenant_id: str, tool_id: str, auth: Any = UNSET, headers: Any = UNSET,
                     config: Any = UNSET, allow: Any = UNSET, deny: Any = UNSET) -> Tool:
        """Change a tool's credentials, headers, config or rules; an OpenAPI tool is re-served at once.

        ``UNSET`` leaves a part unchanged; ``auth={"kind": "none"}`` removes credentials.
        ``config`` fields not given keep their current values.

        Raises:
            NotFoundError: no such tool.
            UserError: invalid values or rules that leave no operation.
        """
        tool = await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)
        creds = await self._creds(tenant_id, tool_id)
        plain = creds.to_plain()
        if auth is not UNSET:
            plain["auth"] = auth or {"kind": "none"}
        if headers is not UNSET:
            plain["headers"] = headers or {}
        cfg_data = json.loads(tool.config_json) if tool.config_json else {}
        if config is not UNSET and config:
            cfg_data.update(config)
        rules_data = {"allow": tool.allow if allow is UNSET else (allow or []),
                      "deny": tool.deny if deny is UNSET else (deny or [])}
        creds2, cfg, rules = self._parse(plain["auth"], plain["headers"], cfg_data, rules_data["allow"],
                                         rules_data["deny"])
        doc: OpenAPIDocument | None = None
        if tool.kind == "openapi":
            doc = self.load(tool.openapi_json or "{}")
            if doc.operations and filter_spec(doc.spec, rules)[1] == 0:
                raise UserError("The allow/deny rules leave no operation of this API exposed: loosen them.")
        await self.repo.update(tenant_id=tenant_id, tool_id=tool_id, props=self._props(creds2, cfg, rules))
        if doc is not None:
            await self._mount(tenant_id, tool_id, doc, tool.base_url, creds2, cfg, rules)
        else:
            await self.pool.invalidate(tool_id)
        return await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)

    async def delete(self, *, tenant_id: str, tool_id: str) -> None:
        """Stop serving a tool and delete it (credentials included). Raises NotFoundError."""
        await self.tools.delete(tenant_id=tenant_id, tool_id=tool_id)
        await self.host.unmount(tool_id)
        await self.pool.invalidate(tool_id)

    async def restore(self) -> int:
        """Serve every stored OpenAPI tool (start-up); returns how many were mounted.

        A tool whose document no longer validates or whose credentials cannot be
        decrypted (a key removed before rotation) stays unserved and is logged.
        """
        n = 0
        for tool in await self.tools.list_all_tenants():
            if tool.kind != "openapi" or self.host.has(tool.id) or not tool.openapi_json:
                continue
            try:
                creds = await self._creds(tool.tenant_id, tool.id)
                doc = self.load(tool.openapi_json)
                await self._mount(tool.tenant_id, tool.id, doc, tool.base_url, creds, _config(tool),
                                  OperationRules(allow=tool.allow, deny=tool.deny))
                n += 1
            except AgentGraphError as exc:
                log.warning("tool %s not served: %s", tool.id, exc.message)
        return n

    async def rotate_credentials(self) -> int:
        """Re-encrypt every tool's credentials with the newest key; returns how many were rewritten.

        Run after prepending a new key to ``AGENTGRAPH_SECRETS__KEYS``; the old key can be
        removed afterwards (docs/tool-hub.md, "Key rotation").
        """
        n = 0
        for tenant_id, tool_id, token in await self.repo.all_sealed():
            await self.repo.update(tenant_id=tenant_id, tool_id=tool_id, props={"secrets_enc": self.secrets.rotate(token)})
            n += 1
        return n

    # ------------------------------------------------------------------ pool resolver
    async def endpoint(self, tool_id: str, tenant_id: str) -> ToolEndpoint:
        """How the pooled client reaches a tool (the pool's resolver).

        Raises:
            NotFoundError: no such tool in the tenant.
            ToolError: an OpenAPI tool that is not being served.
        """
        tool = await self.tools.get(tenant_id=tenant_id, tool_id=tool_id)
        cfg = _config(tool)
        if tool.kind == "mcp" and tool.server_url:
            creds = await self._creds(tenant_id, tool_id)
            rules = OperationRules(allow=tool.allow, deny=tool.deny)

            async def limit() -> str | None:
                d = await self.limiter.acquire(tenant_id=tenant_id, tool_id=tool_id, tool_limit=cfg.rate_limit)
                if d.ok:
                    return None
                return f"rate limit {d.limit} of the {d.scope} reached; retry in {d.retry_after_s:.0f} s."

            return ToolEndpoint(url=tool.server_url, auth=CredentialAuth(creds, timeout_s=cfg.timeout_s),
                                timeout_s=cfg.timeout_s, allowed=lambda n: rules.allows(n, "MCP", n), rate_limit=limit)
        if not self.host.has(tool_id):
            raise ToolError(f"Tool {tool_id!r} is not served (its document or credentials failed to load at start-up; "
                            "see the server log), register it again or fix its settings.")
        # Upstream retries/timeouts happen inside the host; give the MCP call room for them.
        timeout = cfg.timeout_s * cfg.max_attempts + cfg.backoff_max_s * (cfg.max_attempts - 1) + 5
        return ToolEndpoint(url=self.mcp_url(tool_id), timeout_s=timeout)

    # ------------------------------------------------------------------ helpers
    def _parse(self, auth: Any, headers: Any, config: Any, allow: Any, deny: Any
               ) -> tuple[ToolCredentials, ToolConfig, OperationRules]:
        if isinstance(auth, ToolAuth):
            auth = auth.model_dump()
        creds = parse_model(ToolCredentials, {"auth": auth or {"kind": "none"}, "headers": headers or {}},
                            "tool credentials")
        cfg = parse_model(ToolConfig, config or {}, "tool config")
        rules = parse_model(OperationRules, {"allow": allow or [], "deny": deny or []}, "operation rules")
        return creds, cfg, rules

    def _props(self, creds: ToolCredentials, cfg: ToolConfig, rules: OperationRules) -> dict[str, Any]:
        kind, hint = auth_summary(creds)
        has_secret = kind != "none" or bool(creds.headers)
        return {"auth_kind": kind, "auth_hint": hint, "header_names": sorted(creds.headers),
                "secrets_enc": seal_credentials(self.secrets, creds) if has_secret else None,
                "config_json": cfg.model_dump_json(), "allow": rules.allow, "deny": rules.deny}

    async def _creds(self, tenant_id: str, tool_id: str) -> ToolCredentials:
        return open_credentials(self.secrets, await self.repo.read_sealed(tenant_id=tenant_id, tool_id=tool_id))

    async def aclose(self) -> None:
        """Close pooled sessions."""
        await self.pool.aclose()


def _config(tool: Tool) -> ToolConfig:
    return ToolConfig.model_validate_json(tool.config_json) if tool.config_json else ToolConfig()

