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
from typing import Any

from fastapi.responses import JSONResponse
from graphql import GraphQLError

from agentgraph.errors import AgentGraphError, ServiceUnavailableError

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
    headers = {"WWW-Authenticate": 'Bearer realm="agentgraph"'} if exc.http_status == 401 else None
    if exc.http_status == 503:  # a backing service is down: tell clients when to retry (issue 6)
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse({"error": exc.message, "code": exc.code}, status_code=exc.http_status, headers=headers)


#: ``Retry-After`` (seconds) sent with 503 answers while a backing service is down: long enough
#: for the graph server to restart (ArcadeDB starts in ~5-10 s here), short enough to recover soon.
RETRY_AFTER_S = 5


def unavailable_in(response_data: Any) -> bool:
    """True when a GraphQL response (or batch) has a ``SERVICE_UNAVAILABLE`` error: the HTTP answer
    then becomes 503 with ``Retry-After`` so load balancers and clients back off and retry."""
    items = response_data if isinstance(response_data, list) else [response_data]
    for item in items:
        for err in (item or {}).get("errors") or []:
            if (err.get("extensions") or {}).get("code") == ServiceUnavailableError.code:
                return True
    return False
