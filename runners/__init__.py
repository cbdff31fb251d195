"""Runners: AgentSpec -> LangGraph agent; tools (OpenAPI -> MCP); run lifecycle; tracing."""

from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._mcp import MCPToolHost, MCPToolSession
from runners._openapi import OpenAPIDocument, Operation, check_base_url, load_openapi
from runners._runner import AgentRunner, RunOutcome, RunUsage
from runners._service import RunService, ToolRegistry, tool_slug
from runners._tracing import RunSpanCollector, make_tracer

__all__ = [
    "AgentRunner",
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
]
