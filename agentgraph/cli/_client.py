"""GraphQL-over-HTTP client used by the CLI (the CLI talks to a running platform)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx

from agentgraph.errors import AgentGraphError, ServiceUnavailableError, UserError


class GraphQLCallError(UserError):
    """A GraphQL error answered by the platform (message and code come from the server)."""


def find_api_key(data_dir: Path) -> str | None:
    """The CLI's credential: ``AGENTGRAPH_API_KEY``, else the bootstrap admin key that the
    platform wrote to ``<data_dir>/auth/admin-api-key`` on first start (same machine)."""
    key = os.environ.get("AGENTGRAPH_API_KEY")
    if key:
        return key.strip()
    path = Path(data_dir) / "auth" / "admin-api-key"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class PlatformClient:
    """Posts GraphQL documents to ``{base_url}/graphql``.

    Args:
        base_url: platform URL, e.g. ``http://127.0.0.1:8000``.
        timeout_s: request timeout in seconds (runs of the local model can take minutes).
        api_key: sent as ``Authorization: Bearer``; see :func:`find_api_key` for the default.
    """

    def __init__(self, base_url: str, *, timeout_s: float = 600.0, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, headers=headers)

    def call(self, query: str, **variables: Any) -> dict[str, Any]:
        """Run one operation and return its ``data``.

        Raises:
            ServiceUnavailableError: the platform does not answer (not started?).
            GraphQLCallError: the platform answered errors (message and ``code`` from the server).
        """
        try:
            resp = self._http.post("/graphql", json={"query": query, "variables": variables})
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"The platform at {self.base_url} does not answer ({type(exc).__name__}). Start it with "
                "`agentgraph up` (or `make run`), or pass --url."
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            raise ServiceUnavailableError(f"The platform answered HTTP {resp.status_code}: {resp.text[:300]}") from None
        if resp.status_code == 401:
            raise GraphQLCallError(f"{body.get('error', 'Authentication required.')} Set AGENTGRAPH_API_KEY, or run "
                                   "the CLI next to the data dir where `agentgraph up` wrote auth/admin-api-key.",
                                   code=body.get("code", "UNAUTHENTICATED"))
        if body.get("errors"):
            err = body["errors"][0]
            code = (err.get("extensions") or {}).get("code", "ERROR")
            raise GraphQLCallError(err.get("message", "unknown error"), code=code)
        return body["data"]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


__all__ = ["PlatformClient", "find_api_key", "GraphQLCallError", "AgentGraphError"]
