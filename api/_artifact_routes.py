"""REST download of artifacts created by producer agents (files do not fit GraphQL).

``GET /api/artifacts/{artifact_id}`` answers the file's bytes with its media type, as
an attachment (``Content-Disposition``), with ``ETag`` = its SHA-256 and headers that
stop a browser from running stored HTML on the platform's origin (``nosniff``,
``Content-Security-Policy: sandbox``). Authentication is the GraphQL one (API key,
bearer JWT or the UI session cookie). The caller's tenant is part of the lookup: an
id of another tenant's artifact answers 404 exactly like an unknown id, and so does an
artifact whose run the caller may not see (agent sharing, ``graph._sharing``: the
``execution`` query's rule) or whose link on the run is gone (deleted by an admin or
expired, ``artifacts.retention_days``).

The ids are listed on each Execution (GraphQL ``Execution.artifacts { id name url }``).

Example::

    curl -OJ -H "Authorization: Bearer $AGENTGRAPH_API_KEY" \\
         http://127.0.0.1:8000/api/artifacts/art_0123456789abcdef0123456789abcdef
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agentgraph.errors import NotFoundError, ServiceUnavailableError

from api._auth import acting_as

router = APIRouter(tags=["artifacts"])


async def _require_visible(platform: Any, tenant_id: str, info: Any) -> None:
    """404 with the unknown-id body when the caller may not see the artifact's run (agent sharing) or the run is
    gone (deleted runs leave no downloadable file)."""
    try:
        run = await platform.executions.get(tenant_id=tenant_id, execution_id=info.execution_id)
        await platform.require_visible_run(run)
        if not any(a.get("id") == info.id for a in run.artifacts):  # unlinked (deleted / expiring): gone
            raise NotFoundError("unlinked")
    except NotFoundError:
        raise NotFoundError(f"Artifact {info.id!r} does not exist.") from None


@router.get("/api/artifacts/{artifact_id}")
async def download_artifact(artifact_id: str, request: Request) -> Response:
    """The artifact's bytes (see module docstring); 404 for unknown ids and other tenants' artifacts."""
    platform = request.app.state.platform
    auth = getattr(platform, "auth", None)
    caller = await auth.authenticate(request.headers, request.cookies) if auth else None
    if platform.artifacts is None:
        raise ServiceUnavailableError("The artifact store is not initialised in this process.")
    with acting_as(caller):
        tenant_id = platform.tenant_id
        info = await platform.artifacts.info(tenant_id=tenant_id, artifact_id=artifact_id)
        await _require_visible(platform, tenant_id, info)
    info, data = await platform.artifacts.read(tenant_id=tenant_id, artifact_id=artifact_id)
    ascii_name = info.name.encode("ascii", "replace").decode().replace('"', "")
    return Response(content=data, media_type=info.media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(info.name)}",
        "ETag": f"\"{info.sha256}\"",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, max-age=3600",
    })


__all__ = ["router"]
