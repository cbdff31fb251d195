"""``POST /external/callback/{run_id}?token=...``: answers of asynchronous external agents.

An external agent with ``await_callback`` sends the remote platform a one-shot
``{{callback_url}}``; the platform's workflow (a Zap's "Webhooks by Zapier" POST action,
a Make HTTP module, an n8n HTTP Request node...) POSTs its answer there. The body is
handed through Redis to whichever process runs the agent (docs/external-agents.md).

Answers: **202** ``{"status": "accepted"}``; **404** ``UNKNOWN_CALLBACK`` (unknown, used or
expired token: nothing stored); **413** ``PAYLOAD_TOO_LARGE`` (over 256 KiB).
No API key: the unguessable token in the URL is the credential.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agentgraph.webhooks import DEFAULT_MAX_BODY_BYTES

__all__ = ["router"]

router = APIRouter(tags=["external agents"])


@router.post("/external/callback/{run_id}", status_code=202, summary="Answer of an asynchronous external agent")
async def external_callback(run_id: str, request: Request, token: str = "") -> JSONResponse:
    """Hand the body to the run waiting for it (see module docstring)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > DEFAULT_MAX_BODY_BYTES:
            return JSONResponse({"error": f"The body exceeds {DEFAULT_MAX_BODY_BYTES} bytes.",
                                 "code": "PAYLOAD_TOO_LARGE"}, status_code=413)
    service = getattr(request.app.state.platform, "external", None)
    if service is None or not await service.accept_callback(run_id=run_id, token=token, body=body):
        return JSONResponse({"error": "Unknown, used or expired callback URL.", "code": "UNKNOWN_CALLBACK"},
                            status_code=404)
    return JSONResponse({"status": "accepted"}, status_code=202)
