"""Backend-specific schema DDL, all in one module (DESIGN.md rule).

* ArcadeDB: types, properties and unique indexes through ArcadeDB SQL over its
  HTTP API (its Cypher ``CREATE CONSTRAINT`` is accepted but does nothing).
* Neo4j 5: ``CREATE CONSTRAINT ... REQUIRE n.id IS UNIQUE`` in Cypher.

Every label has a unique ``id`` (``elementId()`` is not stable on ArcadeDB).
"""

from __future__ import annotations

import httpx

from agentgraph.errors import ServiceUnavailableError

from graph._client import GraphClient

#: Node labels with a unique ``id`` property.
NODE_LABELS = ("Tenant", "User", "Agent", "AgentVersion", "Tool", "ToolOperation", "Execution",
               "Notebook", "Document")
#: Relationship types created by the repositories.
EDGE_TYPES = ("CONFIGURED_FOR", "MEMBER_OF", "CREATED", "HAS_VERSION", "USES_TOOL", "OF_VERSION", "HAS_OPERATION", "REGISTERED", "TRIGGERED",
              "HAS_DOCUMENT", "SEARCHES_NOTEBOOK")
#: Extra non-unique indexes (label, property).
LOOKUP_INDEXES = (("Agent", "tenant_id"), ("Tool", "tenant_id"), ("Execution", "tenant_id"), ("Execution", "agent_id"),
                  ("Notebook", "tenant_id"), ("Document", "notebook_id"))

# LLM gateway (issue 4, ``graph._llm``).
NODE_LABELS += ("LLM", "LLMDeployment", "VirtualKey", "Budget", "BudgetEvent", "Comparison")
EDGE_TYPES += ("DEPLOYED_AS", "COMPARED")
LOOKUP_INDEXES += (("LLM", "tenant_id"), ("VirtualKey", "tenant_id"), ("Budget", "tenant_id"),
                   ("BudgetEvent", "tenant_id"), ("Comparison", "tenant_id"))

# Triggers (issue 6, ``graph._triggers``): webhook lookup by token hash.
NODE_LABELS += ("AgentTrigger",)  # "Trigger" is an ArcadeDB SQL keyword
EDGE_TYPES += ("HAS_TRIGGER",)
LOOKUP_INDEXES += (("AgentTrigger", "tenant_id"), ("AgentTrigger", "token_hash"))


# Authentication and audit (issue 3, ``graph._auth``).
NODE_LABELS += ("ApiKey", "AuditEvent")
LOOKUP_INDEXES += (("ApiKey", "hash"), ("ApiKey", "tenant_id"), ("AuditEvent", "tenant_id"), ("User", "tenant_id"))

# Organisation graph and marketplace (issue 3, ``graph._org`` / ``graph._marketplace``).
NODE_LABELS += ("Department", "Team", "Rating", "Template")
EDGE_TYPES += ("BELONGS_TO", "USES", "COLLABORATES_ON", "DERIVED_FROM", "RATED", "OF_AGENT", "PART_OF", "FROM_AGENT",
               "PEER_FAVOURITE", "SHOWCASES")
LOOKUP_INDEXES += (("Department", "tenant_id"), ("Team", "tenant_id"),
                   ("Rating", "agent_id"), ("Template", "tenant_id"), ("Agent", "status"))
#: Typed range indexes (label, property, ArcadeDB type): the marketplace orders by these
#: with an indexed lower bound, so a page reads ~one page of Agents instead of all of them.
SORT_INDEXES = (("Agent", "runs", "LONG"), ("Agent", "success_rank", "DOUBLE"), ("Agent", "rating_rank", "DOUBLE"),
                ("Agent", "created_at", "STRING"))


def arcadedb_statements() -> list[str]:
    """ArcadeDB SQL statements (idempotent) for the schema."""
    out: list[str] = []
    for label in NODE_LABELS:
        out += [
            f"CREATE VERTEX TYPE {label} IF NOT EXISTS",
            f"CREATE PROPERTY {label}.id IF NOT EXISTS STRING",
            f"CREATE INDEX IF NOT EXISTS ON {label} (id) UNIQUE",
        ]
    for label, prop in LOOKUP_INDEXES:
        out += [
            f"CREATE PROPERTY {label}.{prop} IF NOT EXISTS STRING",
            f"CREATE INDEX IF NOT EXISTS ON {label} ({prop}) NOTUNIQUE",
        ]
    out += [f"CREATE EDGE TYPE {e} IF NOT EXISTS" for e in EDGE_TYPES]
    for label, prop, kind in SORT_INDEXES:
        out += [
            f"CREATE PROPERTY {label}.{prop} IF NOT EXISTS {kind}",
            f"CREATE INDEX IF NOT EXISTS ON {label} ({prop}) NOTUNIQUE",
        ]
    return out


def neo4j_statements() -> list[str]:
    """Neo4j 5 Cypher statements (idempotent) for the schema."""
    out = [
        f"CREATE CONSTRAINT {label.lower()}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
        for label in NODE_LABELS
    ]
    out += [
        f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
        for label, prop in LOOKUP_INDEXES
    ]
    out += [
        f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
        for label, prop, _ in SORT_INDEXES if (label, prop) not in LOOKUP_INDEXES
    ]
    return out


async def setup_schema(client: GraphClient) -> int:
    """Create the schema on the client's backend; safe to run on every start.

    Returns:
        number of statements executed.

    Raises:
        ServiceUnavailableError: the ArcadeDB HTTP API refused a statement.
    """
    if client.backend == "arcadedb":
        stmts = arcadedb_statements()
        url = f"{client.http_url}/api/v1/command/{client.database}"
        async with httpx.AsyncClient(auth=client.auth, timeout=30) as http:
            for stmt in stmts:
                resp = await http.post(url, json={"language": "sql", "command": stmt})
                if resp.status_code >= 400:
                    raise ServiceUnavailableError(
                        f"ArcadeDB refused schema statement {stmt!r}: {resp.status_code} {resp.text[:300]}"
                    )
        return len(stmts)
    stmts = neo4j_statements()
    for stmt in stmts:
        await client.write(stmt)
    return len(stmts)
