"""The scripted LLM shipped in agentgraph.testing behaves deterministically."""

from __future__ import annotations

import json

from agentgraph.testing import FunctionLLM, ScriptedLLM
from builder import draft_schema

TOOLS = [
    {"type": "function", "function": {"name": "searchLeads", "description": "Search leads by name",
                                       "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "getCompany", "description": "Get a company",
                                       "parameters": {"type": "object", "properties": {"company_id": {"type": "string"}},
                                                      "required": ["company_id"]}}},
]


async def test_calls_best_matching_tool_with_subject() -> None:
    c = await ScriptedLLM().complete([{"role": "user", "content": "Find lead Ada Lovelace please"}], tools=TOOLS)
    call = c.tool_calls[0]["function"]
    assert call["name"] == "searchLeads"
    assert json.loads(call["arguments"]) == {"q": "Ada Lovelace"}


async def test_answers_from_tool_result_and_remembers_thread() -> None:
    llm = ScriptedLLM()
    msgs = [{"role": "user", "content": "Find lead Ada"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                                 "function": {"name": "searchLeads", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "Ada Lovelace, ada@engines.example"}]
    c = await llm.complete(msgs, tools=TOOLS)
    assert "ada@engines.example" in c.content
    c2 = await llm.complete(msgs + [{"role": "assistant", "content": c.content},
                                    {"role": "user", "content": "what was my question?"}], tools=TOOLS)
    assert not c2.tool_calls and "Find lead Ada" in c2.content


async def test_structured_output_fills_schema_with_enum_choices() -> None:
    schema = draft_schema(["demo-crm", "weather"])
    c = await ScriptedLLM().complete([{"role": "user", "content": "agent that looks up leads in the CRM"}],
                                     response_format={"type": "json_object", "schema": schema})
    data = json.loads(c.content)
    assert data["agent_type"] == "react"
    assert [t["tool_id"] for t in data["tools"]] == ["demo-crm", "weather"]
    assert len(data["name"]) <= 48 and data["name"]


async def test_function_llm_passes_info() -> None:
    seen = {}

    def fn(messages, info):
        seen.update(info)
        return {"content": f"{len(messages)} messages"}

    c = await FunctionLLM(fn).complete([{"role": "user", "content": "x"}], model="m")
    assert c.content == "1 messages" and seen["model"] == "m"
