"""Webhook checks without services: signatures (stale, future, tampered), IP allow-lists, schema, run input."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from agentgraph.errors import UserError
from agentgraph.triggers import parse_trigger
from agentgraph.webhooks import (
    WebhookRejected,
    check_source_ip,
    parse_payload,
    render_input,
    sign_webhook,
    signed_headers,
    verify_webhook,
)

SECRET = "whsec_test"
BODY = b'{"text": "hello"}'
NOW = 1_767_225_600


def _verify(ts, sig, body=BODY, secrets=(SECRET,), now=NOW, tolerance_s=300):
    return verify_webhook(list(secrets), timestamp=None if ts is None else str(ts), signature=sig, body=body,
                          now_s=now, tolerance_s=tolerance_s)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign_webhook(SECRET, NOW, BODY) == f"sha256={expected}"
    h = signed_headers(SECRET, BODY, timestamp=NOW)
    assert h == {"X-Agentgraph-Timestamp": str(NOW), "X-Agentgraph-Signature": f"sha256={expected}"}
    assert _verify(NOW, h["X-Agentgraph-Signature"]) == NOW


@pytest.mark.parametrize("skew_s, ok", [(0, True), (-300, True), (300, True), (-301, False), (301, False),
                                        (-86_400, False), (86_400, False)])
def test_timestamp_tolerance_past_and_future(skew_s, ok) -> None:
    ts = NOW + skew_s
    sig = sign_webhook(SECRET, ts, BODY)
    if ok:
        assert _verify(ts, sig) == ts
    else:
        with pytest.raises(WebhookRejected) as err:
            _verify(ts, sig)
        assert (err.value.http_status, err.value.code) == (401, "STALE_TIMESTAMP")


@pytest.mark.parametrize("case", ["tampered_body", "wrong_secret", "timestamp_swapped", "truncated", "other_algo"])
def test_bad_signatures(case) -> None:
    sig = sign_webhook(SECRET, NOW, BODY)
    kwargs = {}
    if case == "tampered_body":
        kwargs = {"body": b'{"text": "hellO"}'}
    elif case == "wrong_secret":
        sig = sign_webhook("whsec_other", NOW, BODY)
    elif case == "timestamp_swapped":  # a valid signature cannot be moved to a fresh timestamp
        sig = sign_webhook(SECRET, NOW - 1000, BODY)
    elif case == "truncated":
        sig = sig[:-2]
    else:
        sig = "sha1=" + sig.split("=", 1)[1]
    with pytest.raises(WebhookRejected) as err:
        _verify(NOW, sig, **kwargs)
    assert (err.value.http_status, err.value.code) == (401, "BAD_SIGNATURE")


def test_missing_and_malformed_headers_and_rotation_lists() -> None:
    with pytest.raises(WebhookRejected, match="Unsigned") as err:
        _verify(None, None)
    assert err.value.code == "MISSING_SIGNATURE"
    with pytest.raises(WebhookRejected) as err:
        verify_webhook([SECRET], timestamp="yesterday", signature="sha256=00", body=BODY, now_s=NOW)
    assert err.value.code == "BAD_TIMESTAMP"
    # Several signatures in one header (sender mid-rotation), several secrets on our side.
    both = sign_webhook("whsec_old", NOW, BODY) + "," + sign_webhook(SECRET, NOW, BODY)
    assert _verify(NOW, both) == NOW
    assert _verify(NOW, sign_webhook("whsec_b", NOW, BODY), secrets=("whsec_a", "whsec_b")) == NOW


def test_ip_allow_list() -> None:
    check_source_ip("203.0.113.9", [])  # empty: anyone
    check_source_ip("203.0.113.9", ["203.0.113.0/24"])
    check_source_ip("2001:db8::1", ["10.0.0.0/8", "2001:db8::/32"])
    for ip in ("198.51.100.1", "::1", None, "not-an-ip"):
        with pytest.raises(WebhookRejected) as err:
            check_source_ip(ip, ["203.0.113.0/24"])
        assert (err.value.http_status, err.value.code) == (403, "IP_NOT_ALLOWED")


def test_payload_schema_and_json() -> None:
    schema = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
    assert parse_payload(BODY, schema) == {"text": "hello"}
    with pytest.raises(WebhookRejected) as err:
        parse_payload(b'{"text": 3}', schema)
    assert (err.value.http_status, err.value.code) == (422, "SCHEMA_MISMATCH") and "text" in err.value.message
    with pytest.raises(WebhookRejected) as err:
        parse_payload(b"text=hello", None)
    assert (err.value.http_status, err.value.code) == (400, "BAD_JSON")


def test_render_input_template_and_json_dump() -> None:
    payload = {"deal": {"id": 42, "owner": "ana"}, "tags": ["a", "b"], "note": "{{ deal.id }}"}
    assert render_input(payload, "Deal {{deal.id}} by {{ deal.owner }}; {{ tags.1 }}; {{ missing.x }}.") == \
        "Deal 42 by ana; b; ."
    assert render_input(payload, "{{ note }}") == "{{ deal.id }}"  # values are not re-expanded
    assert json.loads(render_input(payload, None)) == payload


def test_spec_webhook_trigger_fields_are_validated() -> None:
    t = parse_trigger({"kind": "webhook", "name": "crm", "allow_ips": ["10.0.0.0/8"],
                       "payload_schema": {"type": "object"}, "input_template": "New lead {{ name }}"})
    assert t.allow_ips == ["10.0.0.0/8"]
    for bad in ({"allow_ips": ["10.0.0.x"]}, {"payload_schema": {"type": "nope"}}):
        with pytest.raises(ValueError):
            parse_trigger({"kind": "webhook", "name": "crm", **bad})
    with pytest.raises(ValueError, match="cron"):
        parse_trigger({"kind": "calendar", "name": "c", "schedule": "61 * * * *", "input": "x"})
    with pytest.raises(UserError):
        from agentgraph.webhooks import parse_allow_list

        parse_allow_list(["300.1.1.1"])
