"""The one place where domain errors become GraphQL errors and HTTP answers.

GraphQL: an :class:`~agentgraph.errors.AgentGraphError` raised by a resolver becomes
an error whose ``extensions.code`` is the error's ``code`` (``NOT_FOUND``,
``INVALID_SPEC``, ``BUILD_FAILED``, ``BASE_URL_UNREACHABLE``...); anything else is
reported as ``INTERNAL`` with a generic message (details go to the log only).
REST: :func:`error_response` gives ``{"error": message, "code": code}`` with the
error's ``http_status``.
"""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse
from graphql import GraphQLError

from agentgraph.errors import AgentGraphError

log = logging.getLogger("agentgraph.api")


def map_graphql_error(error: GraphQLError) -> GraphQLError:
    """Return ``error`` with ``extensions.code`` set (and internals masked)."""
    original = error.original_error
    if isinstance(original, AgentGraphError):
        return GraphQLError(original.message, nodes=error.nodes, path=error.path,
                            extensions={**(error.extensions or {}), "code": original.code})
    if original is None:  # a GraphQL validation/syntax error: already user-facing
        return GraphQLError(error.message, nodes=error.nodes, path=error.path,
                            extensions={**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"})
    log.error("internal error in resolver at %s", error.path, exc_info=original)
    return GraphQLError(f"Internal error ({type(original).__name__}); see the server log.", nodes=error.nodes,
                        path=error.path, extensions={"code": "INTERNAL"})


def error_response(exc: AgentGraphError) -> JSONResponse:
    """REST answer for a domain error."""
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.http_status)
