"""Query depth and cost limits (api._limits): refused at validation, before any resolver runs."""

from __future__ import annotations

import strawberry
from graphql import parse
from strawberry.tools import merge_types

from api._limits import DEFAULT_LIST_SIZE, estimate_cost, limit_extensions
from api.app import QUERIES


def _schema(**limits) -> strawberry.Schema:
    return strawberry.Schema(query=merge_types("Query", QUERIES), extensions=limit_extensions(**limits))


def test_estimate_cost_multiplies_list_sizes() -> None:
    doc = parse("{ marketplace(first: 50) { edges { node { id tools { id } } } } agents { id } }")
    # marketplace 1 + edges/node/id/tools/tools.id 50 each (no size argument on tools) + agents 1 + id 1
    assert estimate_cost(doc.definitions[0], {}) == 1 + 5 * 50 + 2
    nested = parse("{ agents(limit: $n) { executions(limit: 5) { id } } }").definitions[0]
    assert estimate_cost(nested, {}) == 1 + DEFAULT_LIST_SIZE + DEFAULT_LIST_SIZE * 5
    small = estimate_cost(parse("{ marketplace(first: 1) { edges { node { id } } } }").definitions[0], {})
    big = estimate_cost(parse("{ marketplace(first: 100) { edges { node { id } } } }").definitions[0], {})
    assert small == 4 and big == 1 + 3 * 100


async def test_depth_limit_refuses_deep_queries() -> None:
    s = _schema(max_depth=3)
    deep = await s.execute("{ marketplace(first: 1) { edges { node { creator { name } } } } }")
    assert deep.errors and "exceeds maximum operation depth of 3" in deep.errors[0].message
    shallow = await s.execute("{ marketplace(first: 1) { edges { node { id } } } }")
    # Within the limit: validation passes and the resolver runs (and fails here: no platform in the context).
    assert "maximum operation depth" not in shallow.errors[0].message


def test_cost_limit_refuses_expensive_queries() -> None:
    s = _schema(max_cost=1000)
    r = s.execute_sync("{ marketplace(first: 100) { edges { node { ratings(limit: 100) { stars review } } } } }")
    assert r.errors and "too expensive" in r.errors[0].message
    assert "estimated cost" in r.errors[0].message


async def test_app_schema_has_limits() -> None:
    from api.app import schema

    r = await schema.execute("{ marketplace(first: 100) { edges { node { ratings(limit: 100) { stars review "
                            "userId updatedAt } } } } }")
    assert r.errors and "too expensive" in r.errors[0].message
