"""Query depth and cost limits for the GraphQL schema (issue 3, "GraphQL quality").

* Depth: strawberry's ``QueryDepthLimiter`` (:data:`MAX_DEPTH`).
* Cost: :func:`cost_rule` - a graphql-core validation rule estimating the number of
  resolved fields before execution: each field costs 1, times the product of the
  ``first``/``limit`` arguments of the fields above it (lists without such an
  argument count as :data:`DEFAULT_LIST_SIZE`). A document over :data:`MAX_COST` is
  refused with a message giving its cost. The estimate is an upper bound in the
  spirit of GitHub's GraphQL node limit; it needs no schema knowledge.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import AddValidationRules, QueryDepthLimiter

#: Deepest selection allowed (the marketplace detail needs ~6).
MAX_DEPTH = 12
#: Largest estimated field count of one operation (a 100-agent page with detail fits).
MAX_COST = 20_000
#: Multiplier of list fields whose size is unknown before execution.
DEFAULT_LIST_SIZE = 10
_SIZE_ARGS = ("first", "limit", "last")


def _size(node: FieldNode, variables: dict[str, Any]) -> int:
    for arg in node.arguments or ():
        if arg.name.value in _SIZE_ARGS:
            if isinstance(arg.value, IntValueNode):
                return max(1, int(arg.value.value))
            if isinstance(arg.value, VariableNode):
                v = variables.get(arg.value.name.value)
                if isinstance(v, int):
                    return max(1, v)
            return DEFAULT_LIST_SIZE
    return 1


def estimate_cost(operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode],
                  variables: dict[str, Any] | None = None) -> int:
    """Estimated resolved fields of ``operation`` (see module docstring)."""
    variables = variables or {}

    def walk(selections: Any, multiplier: int, seen: frozenset[str]) -> int:
        total = 0
        for sel in selections:
            if isinstance(sel, FieldNode):
                total += multiplier
                if sel.selection_set:
                    total += walk(sel.selection_set.selections, multiplier * _size(sel, variables), seen)
            elif isinstance(sel, InlineFragmentNode):
                total += walk(sel.selection_set.selections, multiplier, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments \
                    and sel.name.value not in seen:
                total += walk(fragments[sel.name.value].selection_set.selections, multiplier,
                              seen | {sel.name.value})
        return total

    return walk(operation.selection_set.selections, 1, frozenset())


def cost_rule(max_cost: int = MAX_COST) -> type[ValidationRule]:
    """A validation rule refusing operations whose :func:`estimate_cost` exceeds ``max_cost``."""

    class CostLimit(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> None:
            fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
            for op in node.definitions:
                if isinstance(op, OperationDefinitionNode):
                    cost = estimate_cost(op, fragments)
                    if cost > max_cost:
                        self.report_error(GraphQLError(
                            f"The query is too expensive: estimated cost {cost} is over the limit {max_cost}. "
                            "Ask for smaller pages (first/limit) or fewer nested fields.", op))

    return CostLimit


def limit_extensions(max_depth: int = MAX_DEPTH, max_cost: int = MAX_COST) -> list[Any]:
    """Schema extension factories enforcing both limits (a fresh instance per request)."""
    rule = cost_rule(max_cost)
    return [lambda: QueryDepthLimiter(max_depth=max_depth), lambda: AddValidationRules([rule])]
