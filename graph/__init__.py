"""The graph data layer: Bolt/Cypher client, schema DDL and repositories.

Works against the embedded ArcadeDB server (Bolt plugin) and Neo4j 5 alike;
backend-specific DDL lives in ``graph._ddl`` only.
"""

from graph._client import GraphClient
from graph._ddl import setup_schema
from graph._notebooks import (
    Document,
    Notebook,
    NotebookRepository,
    ThreadRepository,
    ThreadSummary,
)
from graph._llm import (
    PLATFORM,
    BudgetEventRecord,
    BudgetRecord,
    BudgetRepository,
    ComparisonRecord,
    ComparisonRepository,
    LLMDeploymentRecord,
    LLMRecord,
    LLMRepository,
    VirtualKeyRecord,
    VirtualKeyRepository,
)
from graph._models import Agent, AgentVersion, Execution, Tenant, Tool, ToolOperation, User, new_id, now_iso
from graph._repos import AgentRepository, ExecutionRepository, TenantRepository, ToolRepository, spec_hash
from graph._tools import ToolHubRepository

__all__ = [
    "PLATFORM",
    "BudgetEventRecord",
    "BudgetRecord",
    "BudgetRepository",
    "ComparisonRecord",
    "ComparisonRepository",
    "LLMDeploymentRecord",
    "LLMRecord",
    "LLMRepository",
    "VirtualKeyRecord",
    "VirtualKeyRepository",
    "GraphClient",
    "setup_schema",
    "Agent",
    "AgentVersion",
    "Execution",
    "Tenant",
    "Tool",
    "ToolOperation",
    "User",
    "new_id",
    "now_iso",
    "AgentRepository",
    "ExecutionRepository",
    "TenantRepository",
    "ToolRepository",
    "ToolHubRepository",
    "spec_hash",
    "Notebook",
    "Document",
    "NotebookRepository",
    "ThreadRepository",
    "ThreadSummary",
]
