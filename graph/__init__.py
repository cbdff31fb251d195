"""The graph data layer: Bolt/Cypher client, schema DDL and repositories.

Works against the embedded ArcadeDB server (Bolt plugin) and Neo4j 5 alike;
backend-specific DDL lives in ``graph._ddl`` only.
"""

from graph._auth import (
    API_KEY_PREFIX,
    ROLES,
    ApiKeyRecord,
    ApiKeyRepository,
    AuditEvent,
    AuditRepository,
    UserDirectory,
    hash_secret,
    role_rank,
)
from graph._client import GraphClient
from graph._sharing import VISIBILITIES, VISIBLE, AgentAccess, SharingRepository, Viewer
from graph._ddl import setup_schema
from graph._executions import RUN_STATUSES, ExecutionLifecycle
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
from graph._lifecycle import LifecycleRepository, VersionNeeds, diff_specs
from graph._marketplace import (
    CountingExecutionLifecycle,
    CountingExecutionRepository,
    InvalidCursorError,
    InvalidFilterError,
    MarketFilter,
    MarketplaceRepository,
    Page,
)
from graph._models import Department, Rating, Team, Template
from graph._org import OrgRepository, use_listener
from graph._recommend import Recommender, pack_embedding
from graph._templates import TemplateRepository
from graph._triggers import LOCAL_TRIGGER_KINDS, TriggerRecord, TriggerRepository
from graph._run_stats import AgentCost, RunBucket, RunStats, percentile, run_stats

__all__ = [
    "VISIBILITIES",
    "VISIBLE",
    "AgentAccess",
    "SharingRepository",
    "Viewer",
    "LifecycleRepository",
    "VersionNeeds",
    "diff_specs",
    "CountingExecutionLifecycle",
    "CountingExecutionRepository",
    "InvalidCursorError",
    "InvalidFilterError",
    "MarketFilter",
    "MarketplaceRepository",
    "Page",
    "Department",
    "Rating",
    "Team",
    "Template",
    "OrgRepository",
    "use_listener",
    "Recommender",
    "pack_embedding",
    "TemplateRepository",
    "API_KEY_PREFIX",
    "ROLES",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditEvent",
    "AuditRepository",
    "UserDirectory",
    "hash_secret",
    "role_rank",
    "LOCAL_TRIGGER_KINDS",
    "TriggerRecord",
    "TriggerRepository",
    "AgentCost",
    "RunBucket",
    "RunStats",
    "percentile",
    "run_stats",
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
    "ExecutionLifecycle",
    "RUN_STATUSES",
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
