"""The published contracts in docs/ match the code (regenerate them when this fails)."""

from __future__ import annotations

import json
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = ("regenerate with: .venv/bin/python -c \"from api.app import schema; "
              "open('docs/schema.graphql','w').write(schema.as_str()+'\\n')\"")


def test_graphql_sdl_in_docs_is_current() -> None:
    from api.app import schema

    assert (DOCS / "schema.graphql").read_text() == schema.as_str() + "\n", REGENERATE


def test_agent_spec_json_schema_in_docs_is_current() -> None:
    from agentgraph.spec import agent_spec_json_schema

    assert json.loads((DOCS / "agent-spec.schema.json").read_text()) == agent_spec_json_schema(), (
        "regenerate docs/agent-spec.schema.json from agentgraph.spec.agent_spec_json_schema()")
