"""agentgraph core: settings, errors, the AgentSpec contract, the LLM gateway,
the embedded-services supervisor and the CLI."""

from agentgraph.errors import (
    AgentGraphError,
    ConfigError,
    ConflictError,
    InvalidSpecError,
    LLMError,
    NotFoundError,
    RunError,
    RunTimeoutError,
    ServiceUnavailableError,
    ToolError,
    UserError,
)
from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec, AgentType, ModelConfig, ToolRef, agent_spec_json_schema

__version__ = "0.1.0"

__all__ = [
    "AgentGraphError",
    "ConfigError",
    "ConflictError",
    "InvalidSpecError",
    "LLMError",
    "NotFoundError",
    "RunError",
    "RunTimeoutError",
    "ServiceUnavailableError",
    "ToolError",
    "UserError",
    "Settings",
    "AgentSpec",
    "AgentType",
    "ModelConfig",
    "ToolRef",
    "agent_spec_json_schema",
    "__version__",
]
