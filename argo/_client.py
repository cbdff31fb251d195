"""A small async client of the Argo Server REST API (the ``argo-server`` HTTP gateway).

Only what the executor needs: create a Workflow (``POST /api/v1/workflows/{ns}``
with body ``{"workflow": {...}}``) and read one (``GET /api/v1/workflows/{ns}/{name}``).
Auth is ``Authorization: Bearer <token>`` (a ServiceAccount token; Argo's
``--auth-mode=client``). Errors come back as grpc-gateway JSON
``{"code": <grpc code>, "message": "..."}`` and become :class:`ArgoAPIError`.
"""

from __future__ import annotations

from typing import Any

import httpx

from agentgraph.errors import RunError, ServiceUnavailableError

#: grpc status codes Argo Server answers with (google.golang.org/grpc/codes).
GRPC_CODES = {3: "InvalidArgument", 5: "NotFound", 6: "AlreadyExists", 7: "PermissionDenied",
              13: "Internal", 14: "Unavailable", 16: "Unauthenticated"}

_HINTS = {
    401: "Set AGENTGRAPH_ARGO__TOKEN to a ServiceAccount token of the Argo Server "
         "(kubectl create token agentgraph-api -n <namespace>).",
    403: "The token's ServiceAccount may not create workflows in this namespace; apply the chart's RBAC "
         "(deploy/helm/agentgraph, templates/rbac.yaml).",
    404: "Install the WorkflowTemplate (kubectl apply -f deploy/argo/workflowtemplate-agent-run.yaml, or the "
         "Helm chart) in the namespace AGENTGRAPH_ARGO__NAMESPACE names.",
    400: "The workflow was rejected as invalid; this is a bug in agentgraph or a WorkflowTemplate that does not "
         "match this version (re-export it with `agentgraph argo export`).",
}


class ArgoAPIError(RunError):
    """The Argo Server refused a request.

    Attributes:
        status: HTTP status (400 invalid, 401 unauthenticated, 403 forbidden, 404 not found, 409 exists).
        grpc_code: Argo's ``code`` (grpc status; 3 InvalidArgument, 5 NotFound, 6 AlreadyExists, 16 Unauthenticated).
        argo_message: Argo's ``message``, verbatim.
    """

    code = "ARGO_API_ERROR"
    http_status = 502

    def __init__(self, message: str, *, status: int, grpc_code: int | None, argo_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.grpc_code = grpc_code
        self.argo_message = argo_message


class ArgoServerClient:
    """Argo Server REST client.

    Args:
        base_url: e.g. ``https://argo-server.argo:2746``.
        token: bearer token; ``None`` sends no Authorization header (``--auth-mode=server``).
        namespace: default namespace of requests.
        timeout_s: per request, seconds.
        verify_tls: verify the server certificate (Argo Server serves self-signed TLS by default).
        transport: an httpx transport (tests use ``httpx.ASGITransport`` against a stand-in).
    """

    def __init__(self, base_url: str, *, token: str | None, namespace: str, timeout_s: float = 30.0,
                 verify_tls: bool = True, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.namespace = namespace
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = token if token.lower().startswith("bearer ") else f"Bearer {token}"
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout_s,
                                       verify=verify_tls, transport=transport)

    async def _request(self, method: str, path: str, *, json: Any = None) -> dict[str, Any]:
        try:
            resp = await self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"The Argo Server at {self.base_url} does not answer ({type(exc).__name__}: {exc}). Check "
                "AGENTGRAPH_ARGO__SERVER_URL and that argo-server is running (kubectl -n argo get pods)."
            ) from exc
        try:
            body = resp.json()
        except ValueError:
            body = {"message": resp.text[:500]}
        if resp.status_code >= 400:
            grpc = body.get("code") if isinstance(body, dict) else None
            msg = str(body.get("message", "")) if isinstance(body, dict) else str(body)
            hint = _HINTS.get(resp.status_code, "")
            name = GRPC_CODES.get(grpc, str(grpc)) if grpc is not None else "?"
            raise ArgoAPIError(
                f"Argo Server answered {resp.status_code} ({name}) to {method} {path}: {msg}. {hint}".rstrip(),
                status=resp.status_code, grpc_code=grpc if isinstance(grpc, int) else None, argo_message=msg)
        return body

    async def create_workflow(self, workflow: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        """Submit a Workflow; returns the created object (with ``metadata.name`` filled in).

        Raises:
            ArgoAPIError: refused (400 invalid, 401/403 auth, 404 unknown template, 409 name taken).
            ServiceUnavailableError: the server does not answer.
        """
        ns = namespace or self.namespace
        return await self._request("POST", f"/api/v1/workflows/{ns}", json={"workflow": workflow})

    async def get_workflow(self, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        """Read a Workflow (its ``status.phase``, ``status.message``...).

        Raises:
            ArgoAPIError: 404 when it does not exist (deleted, TTL expired), 401/403 auth.
            ServiceUnavailableError: the server does not answer.
        """
        ns = namespace or self.namespace
        return await self._request("GET", f"/api/v1/workflows/{ns}/{name}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


__all__ = ["ArgoAPIError", "ArgoServerClient", "GRPC_CODES"]
