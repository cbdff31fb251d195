"""The one exception tree of agentgraph.

Every error raised on purpose by agentgraph derives from :class:`AgentGraphError`.
It splits in two families:

* :class:`UserError` - bad input or configuration. The message says what is wrong
  *and how to fix it*. The API maps these to GraphQL errors with ``code`` and to
  HTTP 4xx; the CLI prints them without a traceback.
* :class:`RunError` - something failed while running (an LLM, a tool, a timeout).
  A failed run is still stored, with status ``failed`` and this error.

Services never raise HTTP exceptions; ``api`` maps these classes in one place.
"""

from __future__ import annotations


class AgentGraphError(Exception):
    """Root of all agentgraph errors.

    Attributes:
        code: stable machine-readable code (``SCREAMING_SNAKE``), exposed as the
            GraphQL error extension ``code``.
        http_status: HTTP status used by REST routes and health checks.
    """

    code = "INTERNAL"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class UserError(AgentGraphError):
    """Bad input or configuration; the message tells the user how to fix it."""

    code = "BAD_USER_INPUT"
    http_status = 400


class NotFoundError(UserError):
    """A referenced object (agent, tool, execution...) does not exist in this tenant."""

    code = "NOT_FOUND"
    http_status = 404


class ConflictError(UserError):
    """The request conflicts with stored state (duplicate name, wrong status...)."""

    code = "CONFLICT"
    http_status = 409


class InvalidSpecError(UserError):
    """An AgentSpec, OpenAPI document or other document failed validation."""

    code = "INVALID_SPEC"
    http_status = 422


class ConfigError(UserError):
    """The platform configuration is wrong (port taken, binary missing...)."""

    code = "CONFIG_ERROR"
    http_status = 500


class BudgetExceededError(UserError):
    """An LLM call would take a budget past its block threshold (110 % of the limit).

    The message names the budget, its scope and period, what was spent and how to
    unblock (raise the limit or wait for the period to reset).
    """

    code = "BUDGET_EXCEEDED"
    http_status = 402


class AuthenticationError(UserError):
    """No credentials, or credentials that are invalid, expired or revoked (HTTP 401)."""

    code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDeniedError(UserError):
    """The caller is authenticated but its role or grants do not allow the action (HTTP 403)."""

    code = "FORBIDDEN"
    http_status = 403


class RunError(AgentGraphError):
    """A run failed while executing (LLM, tool or infrastructure failure)."""

    code = "RUN_FAILED"
    http_status = 502


class RunTimeoutError(RunError):
    """A run exceeded its timeout (``AgentSpec.limits.timeout_s``)."""

    code = "RUN_TIMEOUT"
    http_status = 504


class ToolError(RunError):
    """A tool call failed (unreachable base URL, upstream error...)."""

    code = "TOOL_FAILED"


class LLMError(RunError):
    """The LLM gateway could not produce a completion."""

    code = "LLM_FAILED"


class ServiceUnavailableError(RunError):
    """A backing service (graph, Redis, LLM server) is not reachable."""

    code = "SERVICE_UNAVAILABLE"
    http_status = 503


__all__ = [
    "AgentGraphError",
    "UserError",
    "NotFoundError",
    "ConflictError",
    "InvalidSpecError",
    "ConfigError",
    "BudgetExceededError",
    "AuthenticationError",
    "PermissionDeniedError",
    "RunError",
    "RunTimeoutError",
    "ToolError",
    "LLMError",
    "ServiceUnavailableError",
]
