"""The UI's GraphQL client: every call the Gradio app makes goes through here.

The UI is a plain client of the platform's public GraphQL API (``/graphql``), so
it never imports services and shows exactly what any other client would get.
GraphQL errors (and transport failures) become :class:`UIError` with the
server's message and ``extensions.code``.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import httpx

_AGENT_FIELDS = "id name description agentType status latestVersion activeVersion updatedAt"
_RUN_FIELDS = """id agentId version threadId status input output error errorCode startedAt latencyMs
  promptTokens completionTokens costUsd model"""
_SPAN_FIELDS = "spans { name spanId parentId durationMs status attributes }"
_ARTIFACT_FIELDS = "artifacts { id name format bytes url }"  # producer agents (issue 7)
# Child runs (teams, delegation, workflow agent steps; issue 7), two levels deep for the Test run tab.
_CHILD_FIELDS = ("children { id agentId status latencyMs output error "
                 "children { id agentId status latencyMs output error } }")

AGENTS = f"query {{ agents {{ {_AGENT_FIELDS} }} }}"
AGENT = f"""query($id: ID!) {{ agent(id: $id) {{ {_AGENT_FIELDS} specYaml
  versions {{ version createdAt createdBy toolIds }} }} }}"""
VERSION_YAML = "query($id: ID!) { agent(id: $id) { versions { version specYaml } } }"
TOOLS = """query { tools { id name description baseUrl status mcpUrl
  operations { operationId method path summary } } }"""
EXECUTIONS = f"query($a: String, $n: Int!) {{ executions(agentId: $a, limit: $n) {{ {_RUN_FIELDS} }} }}"
EXECUTION = f"""query($id: ID!) {{ execution(id: $id) {{ {_RUN_FIELDS} {_SPAN_FIELDS} {_ARTIFACT_FIELDS}
  {_CHILD_FIELDS} sandbox }} }}"""
BUILD = """mutation($intent: String!, $thread: String) { buildAgent(intent: $intent, threadId: $thread) {
  threadId message specYaml spec suggestions { toolId name score reason } attempts similarAgents { message } } }"""
SAVE = f"""mutation($y: String!, $id: String, $p: Boolean!) {{ saveAgent(specYaml: $y, agentId: $id, publish: $p) {{
  {_AGENT_FIELDS} }} }}"""
PUBLISH = f"""mutation($id: String!, $v: Int) {{ publishAgent(agentId: $id, version: $v) {{ {_AGENT_FIELDS} }} }}"""
RUN = f"""mutation($id: String!, $input: String!, $thread: String) {{
  runAgent(agentId: $id, input: $input, threadId: $thread) {{ {_RUN_FIELDS} {_SPAN_FIELDS} {_ARTIFACT_FIELDS}
  {_CHILD_FIELDS} }} }}"""
REGISTER = """mutation($o: String!, $u: String!, $n: String) { registerTool(openapi: $o, baseUrl: $u, name: $n) {
  id name baseUrl mcpUrl operations { operationId method path summary } } }"""


class UIError(Exception):
    """A failed call, ready to show: ``message`` says what went wrong (and how to fix it), ``code`` is its class.

    Args:
        message: human-readable text (the GraphQL error message as the server wrote it).
        code: ``extensions.code`` of the GraphQL error (``NOT_FOUND``, ``INVALID_SPEC``...), or
            ``UNREACHABLE`` / ``HTTP_<status>`` for transport problems, ``INPUT`` for UI-side checks.
    """

    def __init__(self, message: str, code: str = "ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _session_headers() -> dict[str, str]:
    """Credentials of the browser user behind the current Gradio event: their session cookie's JWT.

    Gradio keeps the event's request in a context variable; the UI acts as that user,
    so every call is authorised with the user's own role and tenant.
    """
    from gradio.context import LocalContext

    from api._auth import SESSION_COOKIE

    request = LocalContext.request.get(None)
    headers = getattr(request, "headers", None) if request is not None else None
    raw = headers.get("cookie") if headers is not None and hasattr(headers, "get") else None
    if not raw:
        return {}
    morsel = SimpleCookie(raw).get(SESSION_COOKIE)
    return {"Authorization": f"Bearer {morsel.value}"} if morsel else {}


class PlatformClient:
    """Async GraphQL client of the platform API.

    Args:
        base_url: the platform's base URL (``settings.api.base_url``, e.g. ``http://127.0.0.1:8000``).
        timeout_s: per-request timeout in seconds; generous because ``runAgent`` waits for the run
            (the spec's own limit is ``limits.timeout_s``, default 120 s).
    """

    def __init__(self, base_url: str, timeout_s: float = 300.0) -> None:
        self.url = base_url.rstrip("/") + "/graphql"
        self.timeout_s = timeout_s

    async def call(self, query: str, **variables: Any) -> dict[str, Any]:
        """Post one GraphQL operation and return its ``data``.

        Raises:
            UIError: on any GraphQL error (first error's message and code; further errors appended),
                on an unreachable API or a non-JSON answer.
        """
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.post(self.url, json={"query": query, "variables": variables},
                                         headers=_session_headers())
        except httpx.HTTPError as exc:
            raise UIError(f"Cannot reach the platform API at {self.url} ({type(exc).__name__}: {exc}). "
                          "Is the server running?", "UNREACHABLE") from exc
        try:
            body = resp.json()
        except ValueError as exc:
            raise UIError(f"The API answered HTTP {resp.status_code} without JSON: {resp.text[:300]}",
                          f"HTTP_{resp.status_code}") from exc
        errors = body.get("errors") or []
        if errors:
            first = errors[0]
            code = (first.get("extensions") or {}).get("code", "ERROR")
            message = "\n".join(str(e.get("message", "")) for e in errors)
            raise UIError(message, code)
        if resp.status_code != 200 or body.get("data") is None:
            raise UIError(f"The API answered HTTP {resp.status_code}: {resp.text[:300]}", f"HTTP_{resp.status_code}")
        return body["data"]

    async def agents(self) -> list[dict[str, Any]]:
        """Agents, most recently updated first."""
        return (await self.call(AGENTS))["agents"]

    async def agent(self, agent_id: str) -> dict[str, Any]:
        """One agent with ``specYaml`` (active else latest) and ``versions`` (oldest first)."""
        return (await self.call(AGENT, id=agent_id))["agent"]

    async def version_yaml(self, agent_id: str, version: int) -> str:
        """Spec YAML of one version of an agent.

        Raises:
            UIError: ``NOT_FOUND`` when the agent has no such version.
        """
        for v in (await self.call(VERSION_YAML, id=agent_id))["agent"]["versions"]:
            if v["version"] == version:
                return v["specYaml"]
        raise UIError(f"Agent {agent_id} has no version {version}.", "NOT_FOUND")

    async def tools(self) -> list[dict[str, Any]]:
        """Registered tools, newest first, with operations and MCP URL."""
        return (await self.call(TOOLS))["tools"]

    async def executions(self, agent_id: str | None, limit: int = 10) -> list[dict[str, Any]]:
        """Recent runs (newest first), optionally of one agent; without spans."""
        return (await self.call(EXECUTIONS, a=agent_id, n=limit))["executions"]

    async def execution(self, execution_id: str) -> dict[str, Any]:
        """One run with its spans."""
        return (await self.call(EXECUTION, id=execution_id))["execution"]

    async def build(self, intent: str, thread_id: str | None) -> dict[str, Any]:
        """One builder turn: ``{threadId message specYaml spec suggestions attempts}``."""
        return (await self.call(BUILD, intent=intent, thread=thread_id))["buildAgent"]

    async def save(self, spec_yaml: str, agent_id: str | None, publish: bool) -> dict[str, Any]:
        """Save a spec as a new agent (or a new version of ``agent_id``); returns the agent."""
        return (await self.call(SAVE, y=spec_yaml, id=agent_id, p=publish))["saveAgent"]

    async def publish(self, agent_id: str, version: int | None) -> dict[str, Any]:
        """Make ``version`` (default: latest) the active one; returns the agent."""
        return (await self.call(PUBLISH, id=agent_id, v=version))["publishAgent"]

    async def run(self, agent_id: str, text: str, thread_id: str | None) -> dict[str, Any]:
        """Run an agent and wait for the result (an execution with spans, status ``succeeded``/``failed``)."""
        return (await self.call(RUN, id=agent_id, input=text, thread=thread_id))["runAgent"]

    async def register_tool(self, openapi: str, base_url: str, name: str | None) -> dict[str, Any]:
        """Register an OpenAPI document served at ``base_url``; returns the tool with its operations."""
        return (await self.call(REGISTER, o=openapi, u=base_url, n=name))["registerTool"]


__all__ = ["PlatformClient", "UIError"]
