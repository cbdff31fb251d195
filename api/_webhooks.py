"""``POST /hooks/{token}``: webhook triggers (issue 6; docs/triggers.md).

Checks, in order, each answered as ``{"error", "code"}`` JSON:

====  =====================  ==================================================
 413  ``PAYLOAD_TOO_LARGE``  body over the trigger's ``max_body_bytes`` (256 KiB)
 404  ``UNKNOWN_WEBHOOK``    no enabled trigger has this token
 403  ``IP_NOT_ALLOWED``     caller outside the trigger's allow-list
 401  ``MISSING_SIGNATURE``, ``BAD_TIMESTAMP``, ``STALE_TIMESTAMP``, ``BAD_SIGNATURE``
 400  ``BAD_JSON``           body is not JSON
 422  ``SCHEMA_MISMATCH``    body does not match the trigger's JSON schema
 409  ``IDEMPOTENCY_IN_FLIGHT``  same ``Idempotency-Key`` still starting
 503  ``SERVICE_UNAVAILABLE``  graph or Redis down (with ``Retry-After``)
====  =====================  ==================================================

then **202** ``{"run_id", "status", "duplicate"}``: the run is queued (worker queue,
Argo, or a background task of this process); ``duplicate`` is true when the
``Idempotency-Key`` was seen before and the first run is returned.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from agentgraph.errors import ServiceUnavailableError
from agentgraph.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRejected,
    check_source_ip,
    parse_payload,
    render_input,
    verify_webhook,
)

#: Hard cap before the trigger is known, bytes (the per-trigger cap is at most 10 MiB).
HARD_MAX_BODY_BYTES = 10 * 1024 * 1024

router = APIRouter(tags=["triggers"])


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise WebhookRejected(f"The body has {declared} bytes; this webhook accepts at most {limit}.",
                              code="PAYLOAD_TOO_LARGE", http_status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(f"The body exceeds {limit} bytes, the most this webhook accepts.",
                                  code="PAYLOAD_TOO_LARGE", http_status=413)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/hooks/{token}", status_code=202, summary="Start a run of a webhook trigger's agent")
async def receive_webhook(token: str, request: Request) -> JSONResponse:
    """Verify, validate and queue (see module docstring)."""
    platform = getattr(request.app.state, "platform", None)
    if platform is None or platform.triggers is None:
        raise ServiceUnavailableError("The platform is starting; retry shortly.")
    service = platform.triggers
    body = await _read_body(request, HARD_MAX_BODY_BYTES)
    found = await service.resolve_webhook(token) if len(token) <= 128 else None
    if found is None:
        raise WebhookRejected("No webhook trigger has this URL (deleted, or a typo in the token).",
                              code="UNKNOWN_WEBHOOK", http_status=404)
    trigger, secrets = found
    cfg = trigger.config
    limit = int(cfg.get("max_body_bytes") or HARD_MAX_BODY_BYTES)
    if len(body) > limit:
        raise WebhookRejected(f"The body has {len(body)} bytes; this webhook accepts at most {limit}.",
                              code="PAYLOAD_TOO_LARGE", http_status=413)
    check_source_ip(request.client.host if request.client else None, cfg.get("allow_ips") or [])
    verify_webhook(secrets, timestamp=request.headers.get(TIMESTAMP_HEADER),
                   signature=request.headers.get(SIGNATURE_HEADER), body=body,
                   tolerance_s=float(cfg.get("tolerance_s") or 300))
    payload = parse_payload(body, cfg.get("payload_schema"))
    run_input = render_input(payload, cfg.get("input_template"))
    execution, created = await service.start_run(trigger, run_input,
                                                 idempotency_key=request.headers.get(IDEMPOTENCY_HEADER))
    if created:
        service.note_fired(trigger, execution.id)
    return JSONResponse({"run_id": execution.id, "status": execution.status, "duplicate": not created},
                        status_code=202)


__all__ = ["router"]
