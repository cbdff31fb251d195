"""The graph data layer: Bolt/Cypher client, schema DDL and repositories.

Works against the embedded ArcadeDB server (Bolt plugin) and Neo4j 5 alike;
backend-specific DDL lives in ``graph._ddl`` only.
"""

from graph._client import GraphClient
from graph._ddl import setup_schema
from graph._models import Agent, AgentVersion, Execution, Tenant, Tool, ToolOperation, User, new_id, now_iso
from graph._repos import AgentRepository, ExecutionRepository, TenantRepository, ToolRepository, spec_hash

__all__ = [
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
    "spec_hash",
]
