"""Builder parsing rules (no services): JSON extraction, candidate filtering, schema bounds."""

from __future__ import annotations

import json

import pytest

from agentgraph.errors import InvalidSpecError
from builder import AgentBuilder, ToolSuggestion, draft_schema
from builder._builder import _parse_json


def _builder() -> AgentBuilder:
    return AgentBuilder(llm=None, embedder=None, tools=None, threads=None, model="default")  # type: ignore[arg-type]


CANDS = {"demo-crm": ToolSuggestion(tool_id="demo-crm", name="Demo CRM", score=0.6, reason="60% similar")}


def test_parse_json_tolerates_fences_and_text() -> None:
    assert _parse_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert _parse_json('Sure! {"a": 2} hope it helps') == {"a": 2}
    with pytest.raises(InvalidSpecError, match="not JSON"):
        _parse_json("no json here")
    with pytest.raises(InvalidSpecError, match="JSON object"):
        _parse_json("[1, 2]")


def test_unknown_tools_are_dropped_and_reasons_filled() -> None:
    content = json.dumps({"name": "Lead helper", "description": "Finds leads", "system_prompt": "You help.",
                          "agent_type": "react", "tools": [{"tool_id": "invented"}, {"tool_id": "demo-crm", "reason": ""},
                                                           {"tool_id": "demo-crm", "reason": "dup"}]})
    spec = _builder()._to_spec(content, CANDS)
    assert spec.tool_ids == ["demo-crm"]
    assert spec.tools[0].reason == "60% similar"


def test_invalid_draft_raises_with_field_names() -> None:
    with pytest.raises(InvalidSpecError) as err:
        _builder()._to_spec(json.dumps({"name": "", "description": "d", "system_prompt": "p"}), CANDS)
    assert "name" in err.value.message


def test_draft_schema_is_bounded() -> None:
    s = draft_schema(["a", "b"])
    props = s["properties"]
    assert all("maxLength" in props[k] for k in ("name", "description", "system_prompt"))
    assert props["tools"]["maxItems"] == 2
    assert props["tools"]["items"]["properties"]["tool_id"]["enum"] == ["a", "b"]
