"""Run lifecycle rules shared by ``RunService`` and the queue workers (issue 6).

Statuses: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` | ``cancelled`` | ``timed_out``.
A failed attempt that will be retried goes back to ``queued`` (its error kept).

Cancellation of a running run goes through Redis so that the API can reach a run
executing in a worker process: ``cancelRun`` sets :func:`cancel_key`, each worker
polls the keys of the runs it executes and cancels their asyncio tasks.
"""

from __future__ import annotations

#: Error codes of failures a worker retries (``limits.retry`` of the AgentSpec): the provider,
#: a tool or a backing service was unavailable, or the worker running the attempt died.
RETRYABLE_CODES = frozenset({"LLM_FAILED", "TOOL_FAILED", "SERVICE_UNAVAILABLE", "WORKER_LOST"})
#: Stable error codes of the lifecycle.
CANCELLED_CODE = "RUN_CANCELLED"
TIMED_OUT_CODE = "RUN_TIMEOUT"
RETRIES_EXHAUSTED_CODE = "RETRIES_EXHAUSTED"
WORKER_LOST_CODE = "WORKER_LOST"
#: How long a cancel request is kept for a worker to see it, seconds (a day: longer than any run).
CANCEL_TTL_S = 24 * 3600


def cancel_key(execution_id: str) -> str:
    """Redis key set by ``cancelRun`` while a run is executing (value: who cancelled)."""
    return f"agentgraph:run-cancel:{execution_id}"


def is_retryable(code: str | None) -> bool:
    """True for error codes of transient failures (see :data:`RETRYABLE_CODES`)."""
    return code in RETRYABLE_CODES


__all__ = ["CANCEL_TTL_S", "CANCELLED_CODE", "RETRIES_EXHAUSTED_CODE", "RETRYABLE_CODES", "TIMED_OUT_CODE",
           "WORKER_LOST_CODE", "cancel_key", "is_retryable"]
