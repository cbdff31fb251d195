"""Pure parts of the marketplace (issue 3): cursors, filters, version diffs, embeddings, UI rendering."""

from __future__ import annotations

import pytest

from agentgraph.spec import AgentSpec
from graph import InvalidCursorError, InvalidFilterError, MarketFilter, diff_specs
from graph._marketplace import decode_cursor, encode_cursor
from graph._recommend import pack_embedding, similar_message, unpack_embedding


def test_cursor_round_trip_and_rejections() -> None:
    c = encode_cursor("POPULAR", 120, "agent-1")
    assert decode_cursor(c, "POPULAR") == (120, "agent-1")
    with pytest.raises(InvalidCursorError) as exc:
        decode_cursor(c, "RATING")
    assert exc.value.code == "INVALID_CURSOR" and "sort POPULAR" in exc.value.message
    for bad in ("", "abc", "eyJ4IjogMX0=", encode_cursor("POPULAR", [1], "a")):
        with pytest.raises(InvalidCursorError):
            decode_cursor(bad, "POPULAR")


def test_filter_validation() -> None:
    MarketFilter(min_rating=4.5, text="crm").validate()
    for f in (MarketFilter(min_rating=6), MarketFilter(min_rating=-1), MarketFilter(text="x" * 201)):
        with pytest.raises(InvalidFilterError) as exc:
            f.validate()
        assert exc.value.code == "INVALID_FILTER"


def test_diff_specs_lists_changed_fields_and_yaml() -> None:
    a = AgentSpec(name="A", description="one", system_prompt="p", tags=["x"]).to_yaml()
    b = AgentSpec(name="A", description="two", system_prompt="p", model={"name": "gpt-4o", "fallbacks": ["m2"]},
                  tags=["x", "y"]).to_yaml()
    d = diff_specs(a, b, "v1", "v2")
    changes = {c["path"]: (c["before"], c["after"]) for c in d["changes"]}
    assert changes["description"] == ("one", "two")
    assert changes["model.name"] == ("default", "gpt-4o")
    assert changes["model.fallbacks"] == ([], ["m2"]) and changes["tags"] == (["x"], ["x", "y"])
    assert "name" not in changes
    assert d["yaml_diff"].startswith("--- v1\n+++ v2\n") and "+description: two" in d["yaml_diff"]
    assert diff_specs(a, a) == {"changes": [], "yaml_diff": ""}


def test_embedding_packing_and_message() -> None:
    vec = [0.5, -0.25, 1.0]
    assert list(unpack_embedding(pack_embedding(vec))) == vec  # exact in float16
    assert similar_message("Grace", "Sales", 0.94, 120) == "Grace in Sales built a similar agent, 94% success over 120 runs"
    assert similar_message("Bob", None, None, 0) == "Bob built a similar agent, not run yet"


def test_ui_cards_and_detail_render() -> None:
    from api._ui_marketplace import cards_html, detail_markdown

    html_ = cards_html([{"id": "a1", "name": "<b>X</b>", "description": "d", "runs": 3, "successRate": 0.5,
                         "ratingAvg": 4.0, "ratingCount": 2, "creator": {"name": "Grace", "department": "Sales"},
                         "tools": [{"id": "t", "name": "CRM"}]}])
    assert "&lt;b&gt;X&lt;/b&gt;" in html_ and "Grace (Sales)" in html_ and "50% success" in html_
    assert "No agents match" in cards_html([])
    md = detail_markdown({"id": "a1", "name": "X", "description": "d", "status": "active", "activeVersion": 1,
                          "stats": {"runs": 4, "successRate": 0.75, "p50LatencyMs": 12.3, "avgCostUsd": 0.001},
                          "versions": [{"version": 1}], "ratingCount": 0, "derivedFrom": "src",
                          "ratings": [{"stars": 5, "review": "great", "userId": "u"}]})
    assert "75%" in md and "p50 12 ms" in md and "$0.0010" in md and "Cloned from `src`" in md and "great" in md
