"""The tool hub's UI helpers (pure functions) and that the tab builds."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from api._ui_client import PlatformClient, UIError  # noqa: E402
from api._ui_tools import allow_rules, auth_input, build_tools_tab, config_input, headers_input, hub_frame, operation_choices  # noqa: E402


def test_hub_frame_shows_masked_auth_health_and_stats():
    tools = [{"id": "crm", "name": "CRM", "kind": "openapi", "auth": {"kind": "api_key", "hint": "header X: ****abcd"},
              "health": {"status": "up", "latencyMs": 12.34}, "stats": {"calls": 5, "p95Ms": 40.0, "errorRate": 0.2},
              "operations": [{"allowed": True}, {"allowed": False}]}]
    row = hub_frame(tools).iloc[0].tolist()
    assert row == ["crm", "CRM", "openapi", "api_key header X: ****abcd", "up", 12.3, 5, 40.0, "20%", "1/2"]


def test_form_helpers():
    ops = [{"operationId": "a", "method": "GET", "path": "/a", "summary": "A", "allowed": True},
           {"operationId": "b", "method": "DELETE", "path": "/b", "summary": "", "allowed": False}]
    choices, checked = operation_choices(ops)
    assert choices[0] == ("GET /a - A [a]", "a") and checked == ["a"]
    assert allow_rules(["a", "b"], ["a", "b"]) == [] and allow_rules(["a", "b"], ["a"]) == ["id:a"]
    with pytest.raises(UIError):
        allow_rules(["a"], [])
    assert auth_input("api_key", "X-Key", "query", "s3", "", "", "", "") == {
        "kind": "api_key", "name": "X-Key", "location": "query", "value": "s3"}
    assert auth_input("oauth2_client_credentials", "", "header", "cs", "", "https://t", "ci", "a, b")["scopes"] == ["a", "b"]
    assert headers_input("X-Org: 1\n\nX-Env: prod") == [{"name": "X-Org", "value": "1"}, {"name": "X-Env", "value": "prod"}]
    with pytest.raises(UIError):
        headers_input("no colon")
    assert config_input(10, 2, " 5/second ", "") == {"rateLimit": "5/second", "healthPath": "", "timeoutS": 10.0,
                                                     "maxAttempts": 2}


def test_tab_builds():
    import gradio as gr

    with gr.Blocks() as demo, gr.Tab("Tools"):
        build_tools_tab(PlatformClient("http://127.0.0.1:9"))
    assert demo is not None
