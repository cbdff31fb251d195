"""In-process tools the runner offers next to MCP tools.

Capabilities that are part of the platform (notebook search, remember/recall,
delegation to another agent...) are exposed to the model as :class:`LocalTool`s.
A :data:`ToolProvider` is registered on ``RunService``; for every run it receives
a :class:`RunContext` and returns the local tools that run may use (usually
depending on the AgentSpec: its notebooks, memory section...).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentgraph.spec import AgentSpec


@dataclass(frozen=True)
class RunContext:
    """Who runs what: passed to tool providers and local tools."""

    tenant_id: str
    user_id: str | None
    agent_id: str
    version: int
    thread_id: str
    run_id: str
    spec: AgentSpec
    #: ``await stored()`` before writing to the run's Execution node (e.g. linking an artifact): on the
    #: inline path the node is created while the run already executes (``RunService``, issue 6 figure 1).
    #: Raises the create's error when it failed. None: the node exists already.
    stored: Callable[[], Awaitable[Any]] | None = field(default=None, compare=False, repr=False)


@dataclass
class LocalTool:
    """A function tool executed in-process.

    Attributes:
        name: function name shown to the model (``^[a-zA-Z0-9_-]{1,64}$``).
        description: what it does, for the model.
        parameters: JSON schema of the arguments (an ``object`` schema).
        fn: ``async fn(args: dict) -> str``; raise ``agentgraph.errors.ToolError`` on failure.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[[dict[str, Any]], Awaitable[str]]
    kind: str = "local"
    attributes: dict[str, Any] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        """OpenAI function-calling definition."""
        return {"type": "function", "function": {"name": self.name, "description": self.description,
                                                 "parameters": self.parameters}}


#: ``async provider(ctx) -> list[LocalTool]``
ToolProvider = Callable[[RunContext], Awaitable[list[LocalTool]]]

__all__ = ["LocalTool", "RunContext", "ToolProvider"]
