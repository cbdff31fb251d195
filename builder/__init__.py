"""The builder: intent -> AgentSpec draft, with tool suggestions from the graph."""

from builder._builder import AgentBuilder, BuildResult, ToolSuggestion, draft_schema
from builder._compare import Comparator, ComparisonService, CompareRequest
from builder._threads import BuilderThread, BuilderThreadStore

__all__ = ["AgentBuilder", "BuildResult", "ToolSuggestion", "draft_schema", "BuilderThread", "BuilderThreadStore",
           "Comparator", "ComparisonService", "CompareRequest"]
