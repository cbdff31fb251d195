"""Webhook request checks: HMAC signatures, timestamps, IP allow-lists, payload schema, run input.

Pure functions (no I/O) used by ``api._webhooks`` for ``POST /hooks/{token}``
and by senders (tests, the bench, your own code) to sign requests.

Signature scheme (the Stripe / GitHub convention, docs/triggers.md)::

    X-Agentgraph-Timestamp: 1767225600            # Unix seconds when the sender signed
    X-Agentgraph-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>

The timestamp is part of the signed message, so a captured request cannot be
replayed after the tolerance window (default 300 s, Stripe's default) with a new
timestamp; within the window, the ``Idempotency-Key`` header makes a replay
return the first run instead of starting another.

Every check raises :class:`WebhookRejected` with the HTTP status and a code the
API answers as JSON (``{"error": ..., "code": ...}``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import time
from typing import Any

from agentgraph.errors import UserError

TIMESTAMP_HEADER = "X-Agentgraph-Timestamp"
SIGNATURE_HEADER = "X-Agentgraph-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Accepted clock difference between sender and platform, seconds (Stripe's default tolerance).
DEFAULT_TOLERANCE_S = 300
#: Largest accepted body, bytes (GitHub caps webhook payloads at 25 MB; run inputs are far smaller).
DEFAULT_MAX_BODY_BYTES = 256 * 1024
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


class WebhookRejected(UserError):
    """A webhook call refused before any run starts.

    Attributes:
        http_status: 401 (signature, timestamp), 403 (IP), 404 (token), 413 (size), 415/400 (body), 422 (schema).
        code: e.g. ``BAD_SIGNATURE``, ``STALE_TIMESTAMP``, ``IP_NOT_ALLOWED``, ``SCHEMA_MISMATCH``.
    """

    def __init__(self, message: str, *, code: str, http_status: int) -> None:
        super().__init__(message, code=code)
        self.http_status = http_status


def sign_webhook(secret: str, timestamp: int | str, body: bytes) -> str:
    """Signature header value ``sha256=<hex>`` for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Headers a sender adds: timestamp (now unless given) and signature."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign_webhook(secret, ts, body)}


def verify_webhook(secrets: list[str], *, timestamp: str | None, signature: str | None, body: bytes,
                   now_s: float | None = None, tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Check a request's timestamp and signature; return the timestamp (Unix seconds).

    Args:
        secrets: the trigger's signing secrets (normally one; any match is accepted).
        timestamp / signature: the header values (None when absent).
        body: the raw request body, exactly as received.
        now_s: current Unix time (tests); default ``time.time()``.
        tolerance_s: largest accepted |now - timestamp|, seconds; both past (replays) and
            future (a sender clock far ahead) are refused.

    Raises:
        WebhookRejected: 401 ``MISSING_SIGNATURE``, ``BAD_TIMESTAMP``, ``STALE_TIMESTAMP`` or ``BAD_SIGNATURE``.
    """
    if not timestamp or not signature:
        raise WebhookRejected(
            f"Unsigned request: send the {TIMESTAMP_HEADER} (Unix seconds) and {SIGNATURE_HEADER} "
            "(sha256=<hex HMAC-SHA256 of 'timestamp.body' with the trigger secret>) headers.",
            code="MISSING_SIGNATURE", http_status=401)
    try:
        ts = int(timestamp.strip())
    except ValueError:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} must be an integer Unix time in seconds, got {timestamp[:40]!r}.",
                              code="BAD_TIMESTAMP", http_status=401) from None
    now = time.time() if now_s is None else now_s
    if abs(now - ts) > tolerance_s:
        raise WebhookRejected(
            f"{TIMESTAMP_HEADER} is {int(now - ts)} s from the server clock; the tolerance is {int(tolerance_s)} s. "
            "Sign each delivery when it is sent (and keep the sender clock in sync).",
            code="STALE_TIMESTAMP", http_status=401)
    # The header may list several signatures (comma-separated), e.g. while a sender rotates.
    given = [p.strip() for p in signature.split(",") if p.strip()]
    expected = [sign_webhook(s, ts, body) for s in secrets]
    if not any(hmac.compare_digest(g.encode(), e.encode()) for g in given for e in expected):
        raise WebhookRejected(
            f"{SIGNATURE_HEADER} does not match the body; sign 'timestamp.body' with HMAC-SHA256 and the "
            "trigger's current secret (rotateWebhookSecret gives a new one).",
            code="BAD_SIGNATURE", http_status=401)
    return ts


def parse_allow_list(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Parse IPs/CIDRs (``10.0.0.0/8``, ``2001:db8::/32``, ``192.0.2.7``).

    Raises:
        UserError: an entry is not an IP address or network.
    """
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise UserError(f"allow_ips entry {entry!r} is not an IP address or CIDR such as 203.0.113.0/24.") from None
    return nets


def check_source_ip(client_ip: str | None, allow: list[str]) -> None:
    """Refuse a caller outside a non-empty allow-list.

    Raises:
        WebhookRejected: 403 ``IP_NOT_ALLOWED``.
    """
    if not allow:
        return
    try:
        ip = ipaddress.ip_address((client_ip or "").strip())
    except ValueError:
        ip = None
    if ip is None or not any(ip in net for net in parse_allow_list(allow)):
        raise WebhookRejected(f"Caller {client_ip} is not in this trigger's IP allow-list.",
                              code="IP_NOT_ALLOWED", http_status=403)


def check_json_schema(schema: dict[str, Any]) -> None:
    """Check that ``schema`` is itself a valid JSON schema (its ``$schema`` draft, default 2020-12).

    Raises:
        UserError: the schema is invalid (message from ``jsonschema``).
    """
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UserError(f"payload schema is not a valid JSON schema: {exc.message}") from None


def parse_payload(body: bytes, schema: dict[str, Any] | None) -> Any:
    """Decode a JSON body and validate it against ``schema`` (if any).

    Raises:
        WebhookRejected: 400 ``BAD_JSON``; 422 ``SCHEMA_MISMATCH`` naming the first failing path.
    """
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookRejected(f"The body is not JSON ({exc}); send application/json.",
                              code="BAD_JSON", http_status=400) from None
    if schema is not None:
        import jsonschema

        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        error = jsonschema.exceptions.best_match(cls(schema).iter_errors(payload))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise WebhookRejected(f"The body does not match the trigger's schema at {where}: {error.message}",
                                  code="SCHEMA_MISMATCH", http_status=422)
    return payload


def _lookup(payload: Any, path: str) -> Any:
    node = payload
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def render_input(payload: Any, template: str | None) -> str:
    """The run input from a payload: ``template`` with ``{{ dotted.path }}`` placeholders filled
    (strings as is, other values as JSON, missing paths empty), or the payload as JSON.

    Deliberately not a template engine (no expressions, no attribute access): a webhook body
    is untrusted input.
    """
    if not template:
        return json.dumps(payload, ensure_ascii=False, sort_keys=True)

    def fill(m: re.Match[str]) -> str:
        value = _lookup(payload, m.group(1))
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return _PLACEHOLDER.sub(fill, template)


__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_TOLERANCE_S",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookRejected",
    "check_json_schema",
    "check_source_ip",
    "parse_allow_list",
    "parse_payload",
    "render_input",
    "sign_webhook",
    "signed_headers",
    "verify_webhook",
]
