"""Runners: AgentSpec -> LangGraph agent; tools (OpenAPI -> MCP); run lifecycle; tracing."""

from runners._llm_service import BudgetView, LLMService
from runners._events import TERMINAL_STATUSES, RunEvent, RunEventBus, run_stream_key, tenant_stream_key
from runners._idempotency import DEFAULT_TTL_S, IdempotencyInFlightError, IdempotencyStore, idempotency_redis_key
from runners._scheduler import Scheduler, check_schedule, due_slot, next_fire
from runners._trigger_service import TriggerService, token_hash
from runners._context import compact_thread, estimate_tokens
from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._lifecycle import (
    CANCELLED_CODE,
    RETRIES_EXHAUSTED_CODE,
    RETRYABLE_CODES,
    TIMED_OUT_CODE,
    WORKER_LOST_CODE,
    cancel_key,
    is_retryable,
)
from runners._memory_tools import (
    format_hits,
    memory_tools,
    notebook_tools,
    search_tool_name,
    thread_summary_listener,
    thread_ttl_listener,
)
from runners._mcp import MCPToolHost, MCPToolSession
from runners._metrics import RunMetrics
from runners._openapi import OpenAPIDocument, Operation, check_base_url, load_openapi
from runners._runner import AgentRunner, RunOutcome, RunUsage
from runners._service import Executor, RunListener, RunService, ToolRegistry, tool_slug
from runners._tracing import RunSpanCollector, make_tracer

__all__ = [
    "CANCELLED_CODE",
    "RETRIES_EXHAUSTED_CODE",
    "RETRYABLE_CODES",
    "TIMED_OUT_CODE",
    "WORKER_LOST_CODE",
    "cancel_key",
    "is_retryable",
    "DEFAULT_TTL_S",
    "IdempotencyInFlightError",
    "IdempotencyStore",
    "idempotency_redis_key",
    "Scheduler",
    "check_schedule",
    "due_slot",
    "next_fire",
    "TriggerService",
    "token_hash",
    "RunEvent",
    "RunEventBus",
    "TERMINAL_STATUSES",
    "run_stream_key",
    "tenant_stream_key",
    "Executor",
    "BudgetView",
    "LLMService",
    "AgentRunner",
    "RunMetrics",
    "LocalTool",
    "RunContext",
    "ToolProvider",
    "MCPToolHost",
    "MCPToolSession",
    "OpenAPIDocument",
    "Operation",
    "RunOutcome",
    "RunService",
    "RunSpanCollector",
    "RunUsage",
    "ToolRegistry",
    "check_base_url",
    "load_openapi",
    "make_tracer",
    "tool_slug",
    "RunListener",
    "compact_thread",
    "estimate_tokens",
    "format_hits",
    "memory_tools",
    "notebook_tools",
    "search_tool_name",
    "thread_summary_listener",
    "thread_ttl_listener",
]
