"""AgentSpec v1: validation, YAML round trip, JSON schema."""

from __future__ import annotations

import jsonschema
import pytest
import yaml

from agentgraph.errors import InvalidSpecError
from agentgraph.spec import AgentSpec, AgentType, agent_spec_json_schema

BASE = {"name": "CRM follow-up", "description": "Looks up leads", "system_prompt": "You are helpful."}


def test_yaml_round_trip_keeps_every_field() -> None:
    spec = AgentSpec(**BASE, tools=[{"tool_id": "demo-crm", "reason": "has leads"}], tags=["sales"])
    again = AgentSpec.from_yaml(spec.to_yaml())
    assert again == spec
    assert again.agent_type is AgentType.react
    assert again.slug == "crm-follow-up"


def test_defaults_and_tool_ids_dedupe() -> None:
    spec = AgentSpec(**BASE, tools=[{"tool_id": "a"}, {"tool_id": "b"}, {"tool_id": "a", "operations": ["x"]}])
    assert spec.tool_ids == ["a", "b"]
    assert spec.limits.timeout_s == 120 and spec.memory.short_term is True


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"agent_type": "robot"}, "agent_type"),
        ({"spec_version": "9"}, "spec_version"),
        ({"surprise": 1}, "surprise"),
        ({"limits": {"timeout_s": -1}}, "limits.timeout_s"),
        ({"tools": [{"tool_id": f"t{i}"} for i in range(9)]}, "tools"),
    ],
)
def test_invalid_specs_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(InvalidSpecError) as err:
        AgentSpec.parse({**BASE, **patch})
    assert field in err.value.message


def test_bad_yaml_and_non_mapping() -> None:
    with pytest.raises(InvalidSpecError, match="does not parse"):
        AgentSpec.from_yaml("name: [unclosed")
    with pytest.raises(InvalidSpecError, match="mapping"):
        AgentSpec.from_yaml("- a\n- b\n")
    with pytest.raises(InvalidSpecError, match="description"):
        AgentSpec.from_yaml("name: x\nsystem_prompt: y\n")


def test_json_schema_validates_dumped_specs_and_rejects_bad_ones() -> None:
    schema = agent_spec_json_schema()
    jsonschema.validate(AgentSpec(**BASE).model_dump(mode="json"), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**BASE, "agent_type": "robot"}, schema)
    assert schema["properties"]["name"]["maxLength"] == 64


def test_sections_at_their_defaults_stay_out_of_the_yaml() -> None:
    # The keys a spec had before issue 7: an unchanged stored spec must keep its YAML (and version hash).
    spec = AgentSpec(name="a", description="d", system_prompt="p", limits={"timeout_s": 30})
    data = yaml.safe_load(spec.to_yaml())
    assert list(data) == ["spec_version", "name", "description", "system_prompt", "agent_type", "model", "tools",
                          "memory", "notebooks", "limits", "tags", "triggers"]
    assert list(data["limits"]) == ["timeout_s", "max_steps", "retry"]
    # Set away from the default, they are written and read back.
    data = spec.model_dump(mode="json")
    changed = AgentSpec.parse({**data, "limits": {**data["limits"], "max_tool_calls": 3},
                               "delegates": [{"agent_id": "helper"}]})
    again = AgentSpec.from_yaml(changed.to_yaml())
    assert again == changed and again.limits.max_tool_calls == 3 and again.delegates[0].agent_id == "helper"
