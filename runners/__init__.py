"""Runners: AgentSpec -> LangGraph agent; tools (OpenAPI -> MCP); run lifecycle; tracing."""

from runners._llm_service import BudgetView, LLMService
from runners._events import TERMINAL_STATUSES, RunEvent, RunEventBus, run_stream_key, tenant_stream_key
from runners._idempotency import DEFAULT_TTL_S, IdempotencyInFlightError, IdempotencyStore, idempotency_redis_key
from runners._scheduler import Scheduler, check_schedule, due_slot, next_fire
from runners._trigger_service import TriggerService, token_hash
from runners._context import compact_thread, estimate_tokens
from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._agent_types import artifact_tools, effective_spec
from runners._images import ImageGenerator, build_image_generator, sniff_image
from runners._artifact_retention import ArtifactRetention
from runners._artifacts import (ArtifactInfo, ArtifactStore, LocalArtifactStore, S3ArtifactStore,
                                build_artifact_store, is_artifact_id, new_artifact_id, sha256_hex)
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
from runners._guardrails import BLOCKED_CODE, LIMIT_CODE, SCHEMA_CODE, RunGuard, find_blocked, validate_output
from runners._pii import PIIRedactingFilter, Redactor, install_log_redaction, luhn_ok
from runners._sandbox import GuardrailServices, ToolRecorder, example_from_schema
from runners._sandbox_compare import MAX_TEST_INPUTS, VersionComparison, compare_versions, generate_test_inputs
from runners._registry import ToolRegistry, tool_slug
from runners._service import Executor, RunListener, RunService
from runners._tracing import RunSpanCollector, make_tracer
from runners._delegation import (ChildRunError, DelegationError, SubAgents, current_run,
                                 install_multi_agent)
from runners._workflow import WorkflowError, WorkflowRunner
from runners._team import TeamRunner
from runners._external import (ExternalAgent, ExternalAgentError, ExternalContext, ExternalMappingError,
                               ExternalResult, ExternalTimeoutError, HealthResult)
from runners._external_adapters import build_adapter
from runners._external_service import AgentHealth, ExternalAgentService, ExternalSecretStore

__all__ = [
    "BLOCKED_CODE",
    "LIMIT_CODE",
    "SCHEMA_CODE",
    "RunGuard",
    "find_blocked",
    "validate_output",
    "PIIRedactingFilter",
    "Redactor",
    "install_log_redaction",
    "luhn_ok",
    "GuardrailServices",
    "ToolRecorder",
    "example_from_schema",
    "MAX_TEST_INPUTS",
    "VersionComparison",
    "compare_versions",
    "generate_test_inputs",
    "ChildRunError",
    "DelegationError",
    "SubAgents",
    "current_run",
    "install_multi_agent",
    "WorkflowError",
    "WorkflowRunner",
    "TeamRunner",
    "AgentHealth",
    "ExternalAgent",
    "ExternalAgentError",
    "ExternalAgentService",
    "ExternalContext",
    "ExternalMappingError",
    "ExternalResult",
    "ExternalSecretStore",
    "ExternalTimeoutError",
    "HealthResult",
    "build_adapter",
    "artifact_tools",
    "ImageGenerator",
    "build_image_generator",
    "sniff_image",
    "ArtifactRetention",
    "effective_spec",
    "ArtifactInfo",
    "ArtifactStore",
    "LocalArtifactStore",
    "S3ArtifactStore",
    "build_artifact_store",
    "is_artifact_id",
    "new_artifact_id",
    "sha256_hex",
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
