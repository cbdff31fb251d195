"""Workflow, team and delegation spec rules and the sandboxed expressions (no services; issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentgraph.errors import InvalidSpecError
from agentgraph.spec import AgentSpec
from runners._workflow import WorkflowError, holds, render

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _wf(steps, edges, **extra) -> dict:
    return {"name": "w", "description": "d", "system_prompt": "p", "agent_type": "workflow",
            "workflow": {"steps": steps, "edges": edges, **extra}, **{k: v for k, v in extra.items() if k == "tools"}}


def _parse(steps, edges, **extra) -> AgentSpec:
    return AgentSpec.parse(_wf(steps, edges, **extra))


def test_examples_parse_and_round_trip() -> None:
    files = sorted(EXAMPLES.glob("workflow-*.yaml")) + sorted(EXAMPLES.glob("team-*.yaml")) + \
        sorted(EXAMPLES.glob("delegation-*.yaml"))
    assert len(files) >= 7
    for f in files:
        spec = AgentSpec.from_yaml(f.read_text())
        assert AgentSpec.from_yaml(spec.to_yaml()) == spec, f.name
    edge = AgentSpec.from_yaml((EXAMPLES / "workflow-ticket-triage.yaml").read_text()).to_yaml()
    assert "- from: triage" in edge  # edges serialise with their YAML name, not the Python one


@pytest.mark.parametrize("steps, edges, message", [
    ([{"id": "a"}], [{"from": "a", "to": "b"}], "unknown step 'b'"),
    ([{"id": "a"}], [{"from": "z", "to": "END"}], "edge from unknown step 'z'"),
    ([{"id": "a"}, {"id": "b"}], [{"from": "a", "to": "END"}], "cannot be reached"),
    ([{"id": "a"}, {"id": "b"}], [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}], "no path to END"),
    ([{"id": "a"}, {"id": "b"}], [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "condition": "true"},
                                  {"from": "b", "to": "END"}], "loop a -> b -> a has no bound"),
    ([{"id": "a"}], [{"from": "a", "to": "a"}, {"from": "a", "to": "END"}], "loop a -> a has no bound"),
    ([{"id": "a"}, {"id": "a"}], [], "unique"),
    ([{"id": "a", "kind": "tool"}], [], "needs 'tool'"),
    ([{"id": "a", "kind": "agent"}], [], "needs 'agent_id'"),
    ([{"id": "a", "prompt": "{{ secrets }}"}], [], "unknown name(s) ['secrets']"),
    ([{"id": "a", "prompt": "{{ input "}], [], "does not parse"),
    ([{"id": "a"}], [{"from": "a", "to": "END", "condition": "output ==="}], "does not parse"),
    ([{"id": "a"}], [{"from": "a", "to": "END", "condition": "__import__('os')"}], "unknown name"),
    ([{"id": "a", "kind": "tool", "tool": "crm", "operation": "x"}], [], "not in the agent's tools"),
])
def test_invalid_workflows_are_refused_with_a_clear_message(steps, edges, message) -> None:
    with pytest.raises(InvalidSpecError) as err:
        _parse(steps, edges)
    assert message in err.value.message


def test_bounded_loops_are_accepted() -> None:
    by_edge = _parse([{"id": "a"}, {"id": "b"}],
                     [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "max_iterations": 3},
                      {"from": "b", "to": "END"}])
    by_step = _parse([{"id": "a", "max_iterations": 2}],
                     [{"from": "a", "to": "a", "condition": "contains(output, 'again')"}, {"from": "a", "to": "END"}])
    assert by_edge.workflow and by_step.workflow.start_id == "a"


def test_type_and_section_must_agree() -> None:
    with pytest.raises(InvalidSpecError, match="needs a 'workflow' section"):
        AgentSpec.parse({"name": "w", "description": "d", "system_prompt": "p", "agent_type": "workflow"})
    with pytest.raises(InvalidSpecError, match="needs agent_type 'team'"):
        AgentSpec.parse({"name": "w", "description": "d", "system_prompt": "p",
                         "team": {"pattern": "parallel", "members": ["a"]}})
    with pytest.raises(InvalidSpecError, match="distinct"):
        AgentSpec.parse({"name": "w", "description": "d", "system_prompt": "p", "agent_type": "team",
                         "team": {"pattern": "parallel", "members": ["a", "a"]}})
    with pytest.raises(InvalidSpecError, match="delegates must be distinct"):
        AgentSpec.parse({"name": "w", "description": "d", "system_prompt": "p",
                         "delegates": [{"agent_id": "a"}, {"agent_id": "a"}]})
    plain = AgentSpec(name="w", description="d", system_prompt="p")
    assert plain.workflow is None and plain.team is None and plain.delegates == [] and plain.limits.max_depth is None


VARS = {"input": "hi", "output": '{"category": "Billing", "score": 0.8}', "json": {"category": "Billing", "score": 0.8},
        "steps": {"a": "x"}, "steps_json": {}, "iterations": {"a": 1}}


@pytest.mark.parametrize("condition, expected", [
    ('json.category == "Billing"', True),
    ('equals(json.category, " billing ")', True),
    ("json.score >= 0.5 and json.score < 0.9", True),
    ('contains(output, "BILLING")', True),
    ('not contains(output, "tech")', True),
    ("json.missing == 'x'", False),
    ("iterations.a >= 2", False),
    ("'x' in steps.a", True),
])
def test_conditions(condition, expected) -> None:
    assert holds(condition, VARS) is expected


def test_sandbox_refuses_internals() -> None:
    with pytest.raises(WorkflowError, match="failed"):
        render("{{ input.__class__.__mro__[1].__subclasses__() }}", VARS)
    with pytest.raises(WorkflowError):
        holds("output.__class__.__init__.__globals__", VARS)
    assert render("{{ json.category | lower }} for {{ input }}", VARS) == "billing for hi"


def test_depth_limit_is_the_smaller_of_spec_and_platform() -> None:
    from runners._delegation import SubAgents

    subs = SubAgents(runs=None, max_depth=3)
    spec = AgentSpec(name="a", description="d", system_prompt="p")
    assert subs.limit(spec) == 3
    assert subs.limit(spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_depth": 1})})) == 1
    assert subs.limit(spec.model_copy(update={"limits": spec.limits.model_copy(update={"max_depth": 9})})) == 3
