"""Repositories: the only code that writes Cypher for each noun.

Functions are keyword-only and tenant-scoped: every query matches on
``tenant_id`` so one tenant never reads another's nodes. Multi-statement writes
run in one transaction (all or nothing).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import neo4j

from agentgraph.errors import ConflictError, NotFoundError

from graph._client import GraphClient
from graph._llm import PLATFORM
from graph._sharing import VISIBLE, Viewer
from graph._card_cache import forget_tools
from graph._models import (
    Agent,
    AgentVersion,
    Execution,
    Tenant,
    Tool,
    ToolOperation,
    User,
    new_id,
    now_iso,
)


class TenantRepository:
    """Tenants and users (the embedded default creates ``default`` / ``admin``)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def ensure_default(self, *, tenant_id: str, user_id: str) -> tuple[Tenant, User]:
        """Create (idempotently) a tenant and its admin user; return both."""
        ts = now_iso()
        rows = await self.client.write(
            """
            MERGE (t:Tenant {id: $tid})
              ON CREATE SET t.name = $tid, t.created_at = $ts
            MERGE (u:User {id: $uid})
              ON CREATE SET u.tenant_id = $tid, u.name = $uid, u.email = $email, u.role = 'admin', u.created_at = $ts
            MERGE (u)-[:MEMBER_OF]->(t)
            RETURN properties(t) AS t, properties(u) AS u
            """,
            tid=tenant_id, uid=user_id, email=f"{user_id}@{tenant_id}.local", ts=ts,
        )
        return Tenant(**rows[0]["t"]), User(**rows[0]["u"])

    async def get_user(self, *, tenant_id: str, user_id: str) -> User:
        """Raises NotFoundError when the user is not in the tenant."""
        rows = await self.client.query(
            "MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid RETURN properties(u) AS u", uid=user_id, tid=tenant_id
        )
        if not rows:
            raise NotFoundError(f"User {user_id!r} does not exist in tenant {tenant_id!r}.")
        return User(**rows[0]["u"])


class ToolRepository:
    """Tool nodes with their ToolOperation nodes."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(
        self,
        *,
        tenant_id: str,
        tool_id: str,
        name: str,
        description: str,
        base_url: str,
        operations: list[ToolOperation],
        embedding: list[float],
        openapi: dict[str, Any] | None,
        created_by: str | None,
        kind: str = "openapi",
        extra: dict[str, Any] | None = None,
    ) -> Tool:
        """Store a tool and its operations in one transaction.

        Args:
            kind: ``openapi`` or ``mcp`` (external MCP server).
            extra: more Tool properties (tool hub: auth, config, rules...).

        Raises:
            ConflictError: a tool with this id already exists.
        """
        ts = now_iso()
        ops = [dict(o.model_dump(), id=f"{tool_id}:{o.operation_id}", position=i) for i, o in enumerate(operations)]

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            exists = await (await tx.run("MATCH (t:Tool {id: $id}) RETURN t.id AS id", id=tool_id)).data()
            if exists:
                raise ConflictError(
                    f"A tool with id {tool_id!r} already exists. Choose another name (--name) or delete the old tool."
                )
            res = await tx.run(
                """
                CREATE (t:Tool {id: $id, tenant_id: $tid, name: $name, description: $description, kind: 'openapi',
                                base_url: $base_url, status: 'active', created_at: $ts, created_by: $uid,
                                embedding: $embedding, openapi_json: $openapi_json, operation_count: $n})
                SET t.kind = $kind, t += $extra
                RETURN properties(t) AS t
                """,
                id=tool_id, tid=tenant_id, name=name, description=description, base_url=base_url, ts=ts,
                uid=created_by, embedding=embedding, openapi_json=json.dumps(openapi) if openapi else None, n=len(ops),
                kind=kind, extra=extra or {},
            )
            row = (await res.data())[0]
            await tx.run(
                """
                MATCH (t:Tool {id: $id})
                UNWIND $ops AS op
                CREATE (o:ToolOperation {id: op.id, tenant_id: $tid, tool_id: $id, operation_id: op.operation_id,
                                         method: op.method, path: op.path, summary: op.summary,
                                         tags: op.tags, position: op.position})
                CREATE (t)-[:HAS_OPERATION]->(o)
                """,
                id=tool_id, tid=tenant_id, ops=ops,
            )
            if created_by:
                await tx.run(
                    "MATCH (u:User {id: $uid}), (t:Tool {id: $id}) CREATE (u)-[:REGISTERED {at: $ts}]->(t)",
                    uid=created_by, id=tool_id, ts=ts,
                )
            return row["t"]

        props = await self.client.transaction(work)
        props.pop("operation_count", None)
        return Tool(**props, operations=operations)

    async def get(self, *, tenant_id: str, tool_id: str) -> Tool:
        """Raises NotFoundError when absent."""
        tools = await self._fetch(tenant_id=tenant_id, ids=[tool_id])
        if not tools:
            raise NotFoundError(f"Tool {tool_id!r} does not exist. List tools with `agentgraph tools list`.")
        return tools[0]

    async def list(self, *, tenant_id: str, ids: list[str] | None = None) -> list[Tool]:
        """All tools of the tenant (or those in ``ids``), newest first."""
        return await self._fetch(tenant_id=tenant_id, ids=ids)

    async def list_all_tenants(self) -> list[Tool]:
        """Every tool of every tenant (used at start-up to mount MCP endpoints)."""
        return await self._fetch(tenant_id=None, ids=None)

    async def _fetch(self, *, tenant_id: str | None, ids: list[str] | None) -> list[Tool]:
        rows = await self.client.query(
            """
            MATCH (t:Tool) WHERE ($tid IS NULL OR t.tenant_id = $tid) AND ($ids IS NULL OR t.id IN $ids)
            OPTIONAL MATCH (t)-[:HAS_OPERATION]->(o:ToolOperation)
            RETURN properties(t) AS t, collect(properties(o)) AS ops
            """,
            tid=tenant_id, ids=ids,
        )
        out = []
        for r in rows:
            props = dict(r["t"])
            props.pop("operation_count", None)
            # Document order (``position``) so listings read like the OpenAPI document.
            raw_ops = sorted((o for o in r["ops"] if o), key=lambda o: (o.get("position", 0), o["operation_id"]))
            ops = [ToolOperation(**{k: o[k] for k in ("operation_id", "method", "path", "summary", "tags")
                                    if o.get(k) is not None})
                   for o in raw_ops]
            out.append(Tool(**props, operations=ops))
        return sorted(out, key=lambda t: t.created_at, reverse=True)

    async def delete(self, *, tenant_id: str, tool_id: str) -> None:
        """Delete a tool and its operations. Raises NotFoundError when absent."""
        await self.get(tenant_id=tenant_id, tool_id=tool_id)
        await self.client.write(
            """
            MATCH (t:Tool {id: $id}) WHERE t.tenant_id = $tid
            OPTIONAL MATCH (t)-[:HAS_OPERATION]->(o:ToolOperation)
            DETACH DELETE o, t
            """,
            id=tool_id, tid=tenant_id,
        )
        forget_tools()  # marketplace cards must not list it any more


def spec_hash(spec_yaml: str) -> str:
    """SHA-256 of a version's YAML (detects 'no change' saves)."""
    return hashlib.sha256(spec_yaml.encode()).hexdigest()


class AgentRepository:
    """Agent nodes and their immutable AgentVersion nodes."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(
        self,
        *,
        tenant_id: str,
        agent_id: str,
        name: str,
        description: str,
        agent_type: str,
        spec_yaml: str,
        tool_ids: list[str],
        created_by: str | None,
        publish: bool = False,
        model_names: list[str] | None = None,
    ) -> tuple[Agent, AgentVersion]:
        """Create an Agent with AgentVersion 1 (and its USES_TOOL edges) atomically.

        Raises:
            NotFoundError: a referenced tool does not exist in the tenant.
            ConflictError: the agent id is taken.
        """
        ts = now_iso()
        vid = f"{agent_id}:v1"
        status = "active" if publish else "draft"

        async def work(tx: neo4j.AsyncManagedTransaction) -> tuple[dict[str, Any], dict[str, Any]]:
            await _check_tools(tx, tenant_id, tool_ids)
            res = await tx.run(
                """
                CREATE (a:Agent {id: $aid, tenant_id: $tid, name: $name, description: $description,
                                 agent_type: $agent_type, status: $status, latest_version: 1,
                                 active_version: $active, created_at: $ts, updated_at: $ts, created_by: $uid})
                CREATE (v:AgentVersion {id: $vid, tenant_id: $tid, agent_id: $aid, version: 1, spec_yaml: $yaml,
                                        spec_hash: $hash, created_at: $ts, created_by: $uid, tool_ids: $tool_ids})
                CREATE (a)-[:HAS_VERSION]->(v)
                RETURN properties(a) AS a, properties(v) AS v
                """,
                aid=agent_id, tid=tenant_id, name=name, description=description, agent_type=agent_type,
                status=status, active=1 if publish else None, ts=ts, uid=created_by, vid=vid, yaml=spec_yaml,
                hash=spec_hash(spec_yaml), tool_ids=tool_ids,
            )
            row = (await res.data())[0]
            await _link_tools(tx, vid, tool_ids)
            await _link_models(tx, vid, tenant_id, model_names or [])
            if created_by:
                await tx.run(
                    "MATCH (u:User {id: $uid}), (a:Agent {id: $aid}) CREATE (u)-[:CREATED {at: $ts}]->(a)",
                    uid=created_by, aid=agent_id, ts=ts,
                )
            return row["a"], row["v"]

        a, v = await self.client.transaction(work)
        return Agent(**a), AgentVersion(**v)

    async def add_version(
        self, *, tenant_id: str, agent_id: str, name: str, description: str, agent_type: str,
        spec_yaml: str, tool_ids: list[str], created_by: str | None, publish: bool = False,
        model_names: list[str] | None = None,
    ) -> tuple[Agent, AgentVersion]:
        """Append an immutable version N+1 (a no-op save returns the latest version unchanged).

        Raises:
            NotFoundError: unknown agent or tool.
        """
        ts = now_iso()
        digest = spec_hash(spec_yaml)

        async def work(tx: neo4j.AsyncManagedTransaction) -> tuple[dict[str, Any], dict[str, Any]]:
            rows = await (await tx.run(
                """
                MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
                MATCH (a)-[:HAS_VERSION]->(v:AgentVersion) WHERE v.version = a.latest_version
                RETURN properties(a) AS a, properties(v) AS v
                """, aid=agent_id, tid=tenant_id)).data()
            if not rows:
                raise NotFoundError(f"Agent {agent_id!r} does not exist. List agents with `agentgraph agents list`.")
            a, latest = rows[0]["a"], rows[0]["v"]
            if latest["spec_hash"] == digest:
                if publish and a.get("active_version") != latest["version"]:
                    a = (await (await tx.run(
                        "MATCH (a:Agent {id: $aid}) SET a.status = 'active', a.active_version = $n, a.updated_at = $ts "
                        "RETURN properties(a) AS a", aid=agent_id, n=latest["version"], ts=ts)).data())[0]["a"]
                return a, latest
            await _check_tools(tx, tenant_id, tool_ids)
            n = int(a["latest_version"]) + 1
            vid = f"{agent_id}:v{n}"
            res = await tx.run(
                """
                MATCH (a:Agent {id: $aid})
                CREATE (v:AgentVersion {id: $vid, tenant_id: $tid, agent_id: $aid, version: $n, spec_yaml: $yaml,
                                        spec_hash: $hash, created_at: $ts, created_by: $uid, tool_ids: $tool_ids})
                CREATE (a)-[:HAS_VERSION]->(v)
                SET a.latest_version = $n, a.updated_at = $ts, a.name = $name, a.description = $description,
                    a.agent_type = $agent_type
                RETURN properties(a) AS a, properties(v) AS v
                """,
                aid=agent_id, vid=vid, tid=tenant_id, n=n, yaml=spec_yaml, hash=digest, ts=ts, uid=created_by,
                tool_ids=tool_ids, name=name, description=description, agent_type=agent_type,
            )
            row = (await res.data())[0]
            await _link_tools(tx, vid, tool_ids)
            await _link_models(tx, vid, tenant_id, model_names or [])
            if publish:
                row["a"] = (await (await tx.run(
                    "MATCH (a:Agent {id: $aid}) SET a.status = 'active', a.active_version = $n RETURN properties(a) AS a",
                    aid=agent_id, n=n)).data())[0]["a"]
            return row["a"], row["v"]

        a, v = await self.client.transaction(work)
        return Agent(**a), AgentVersion(**v)

    async def publish(self, *, tenant_id: str, agent_id: str, version: int | None = None) -> Agent:
        """Make ``version`` (default: latest) the active one; status becomes ``active``.

        Raises:
            NotFoundError: unknown agent or version.
        """
        agent = await self.get(tenant_id=tenant_id, agent_id=agent_id)
        n = version or agent.latest_version
        await self.get_version(tenant_id=tenant_id, agent_id=agent_id, version=n)
        rows = await self.client.write(
            "MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid "
            "SET a.status = 'active', a.active_version = $n, a.updated_at = $ts RETURN properties(a) AS a",
            aid=agent_id, tid=tenant_id, n=n, ts=now_iso(),
        )
        return Agent(**rows[0]["a"])

    async def get(self, *, tenant_id: str, agent_id: str) -> Agent:
        """Raises NotFoundError when absent."""
        rows = await self.client.query(
            "MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid RETURN properties(a) AS a", aid=agent_id, tid=tenant_id
        )
        if not rows:
            raise NotFoundError(f"Agent {agent_id!r} does not exist. List agents with `agentgraph agents list`.")
        return Agent(**rows[0]["a"])

    async def list(self, *, tenant_id: str, limit: int = 100) -> list[Agent]:
        """Agents of the tenant, most recently updated first."""
        rows = await self.client.query(
            "MATCH (a:Agent) WHERE a.tenant_id = $tid RETURN properties(a) AS a", tid=tenant_id
        )
        agents = [Agent(**r["a"]) for r in rows]
        return sorted(agents, key=lambda a: a.updated_at, reverse=True)[:limit]

    async def get_version(self, *, tenant_id: str, agent_id: str, version: int | None = None) -> AgentVersion:
        """One version; ``None`` means the active version, else the latest.

        One read (the Agent by id, then its version by id, both on unique indexes), run for
        every run: activation and rollback take effect at once in every process (issue 6,
        figure 1 keeps this a graph read; the parsed spec is cached by the caller).

        Raises:
            NotFoundError: unknown agent or version.
        """
        rows = await self.client.query(
            """
            MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
            WITH a, coalesce($n, a.active_version, a.latest_version) AS n
            OPTIONAL MATCH (v:AgentVersion {id: $aid + ':v' + toString(n)})
            RETURN a.latest_version AS latest, n AS n, properties(v) AS v
            """, aid=agent_id, tid=tenant_id, n=version or None)
        if not rows:
            raise NotFoundError(f"Agent {agent_id!r} does not exist. List agents with `agentgraph agents list`.")
        row = rows[0]
        if row["v"] is None or row["v"].get("tenant_id") != tenant_id:
            raise NotFoundError(f"Agent {agent_id!r} has no version {row['n']} (latest is {row['latest']}).")
        return AgentVersion(**row["v"])

    async def list_versions(self, *, tenant_id: str, agent_id: str) -> list[AgentVersion]:
        """All versions, oldest first."""
        rows = await self.client.query(
            "MATCH (a:Agent {id: $aid})-[:HAS_VERSION]->(v:AgentVersion) WHERE a.tenant_id = $tid "
            "RETURN properties(v) AS v", aid=agent_id, tid=tenant_id,
        )
        return sorted((AgentVersion(**r["v"]) for r in rows), key=lambda v: v.version)


async def _check_tools(tx: neo4j.AsyncManagedTransaction, tenant_id: str, tool_ids: list[str]) -> None:
    if not tool_ids:
        return
    rows = await (await tx.run(
        "MATCH (t:Tool) WHERE t.tenant_id = $tid AND t.id IN $ids RETURN t.id AS id", tid=tenant_id, ids=tool_ids
    )).data()
    missing = sorted(set(tool_ids) - {r["id"] for r in rows})
    if missing:
        raise NotFoundError(
            f"Unknown tool(s) {', '.join(missing)}. Register them first (`agentgraph tools add`) or remove them from the spec."
        )


async def _link_models(tx: neo4j.AsyncManagedTransaction, vid: str, tenant_id: str, names: list[str]) -> None:
    """``(:AgentVersion)-[:CONFIGURED_FOR {primary, fallback_order}]->(:LLM)`` for catalogue models.

    ``names`` is the primary model then its fallbacks; names without an LLM node in the
    catalogue (tenant's own or platform's) are skipped: the gateway alias ``default``
    has none.
    """
    if not names:
        return
    await tx.run(
        """
        MATCH (v:AgentVersion {id: $vid})
        UNWIND range(0, size($names) - 1) AS i
        MATCH (l:LLM) WHERE l.name = $names[i] AND l.tenant_id IN [$tid, $platform]
        CREATE (v)-[:CONFIGURED_FOR {primary: i = 0, fallback_order: i}]->(l)
        """,
        vid=vid, names=names, tid=tenant_id, platform=PLATFORM,
    )


async def _link_tools(tx: neo4j.AsyncManagedTransaction, vid: str, tool_ids: list[str]) -> None:
    if tool_ids:
        await tx.run(
            "MATCH (v:AgentVersion {id: $vid}) UNWIND $ids AS tid MATCH (t:Tool {id: tid}) CREATE (v)-[:USES_TOOL]->(t)",
            vid=vid, ids=tool_ids,
        )


class ExecutionRepository:
    """Execution nodes linked to the AgentVersion they ran."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def start(
        self, *, tenant_id: str, agent_id: str, version: int, thread_id: str, input: str, triggered_by: str | None,
        execution_id: str | None = None, status: str = "running",
    ) -> Execution:
        """Create an Execution linked with OF_VERSION, in ``status`` (``running``; ``queued`` for an executor)."""
        eid = execution_id or new_id("run")
        ts = now_iso()

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            rows = await (await tx.run(
                """
                MATCH (v:AgentVersion {id: $vid}) WHERE v.tenant_id = $tid
                CREATE (e:Execution {id: $eid, tenant_id: $tid, agent_id: $aid, version: $n, thread_id: $thread,
                                     status: $status, input: $input, started_at: $ts, prompt_tokens: 0,
                                     completion_tokens: 0, cost_usd: 0.0, triggered_by: $uid, spans_json: '[]'})
                CREATE (e)-[:OF_VERSION]->(v)
                RETURN properties(e) AS e
                """,
                vid=f"{agent_id}:v{version}", tid=tenant_id, eid=eid, aid=agent_id, n=version, thread=thread_id,
                input=input, ts=ts, uid=triggered_by, status=status)).data()
            if not rows:
                raise NotFoundError(f"Agent {agent_id!r} has no version {version}.")
            if triggered_by:
                await tx.run("MATCH (u:User {id: $uid}), (e:Execution {id: $eid}) CREATE (u)-[:TRIGGERED]->(e)",
                             uid=triggered_by, eid=eid)
            return rows[0]["e"]

        return Execution(**await self.client.transaction(work))

    async def finish(
        self, *, tenant_id: str, execution_id: str, status: str, output: str | None, error: str | None,
        error_code: str | None, ended_at: str, latency_ms: float, prompt_tokens: int, completion_tokens: int,
        cost_usd: float, model: str | None, spans: list[dict[str, Any]],
    ) -> Execution:
        """Record the outcome of a run (status ``succeeded`` or ``failed``)."""
        rows = await self.client.write(
            """
            MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid
            SET e.status = $status, e.output = $output, e.error = $error, e.error_code = $code,
                e.ended_at = $ended, e.latency_ms = $latency, e.prompt_tokens = $pt, e.completion_tokens = $ct,
                e.cost_usd = $cost, e.model = $model, e.spans_json = $spans
            RETURN properties(e) AS e
            """,
            eid=execution_id, tid=tenant_id, status=status, output=output, error=error, code=error_code,
            ended=ended_at, latency=latency_ms, pt=prompt_tokens, ct=completion_tokens, cost=cost_usd,
            model=model, spans=json.dumps(spans),
        )
        if not rows:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")
        return Execution(**rows[0]["e"])

    async def update(
        self, *, tenant_id: str, execution_id: str, status: str, workflow_name: str | None = None,
        error: str | None = None, error_code: str | None = None, ended_at: str | None = None,
    ) -> Execution:
        """Set an Execution's status (executors: queued -> running -> outcome); None fields are kept.

        Raises:
            NotFoundError: no such Execution in the tenant.
        """
        rows = await self.client.write(
            """
            MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid
            SET e.status = $status, e.workflow_name = coalesce($wf, e.workflow_name),
                e.error = coalesce($error, e.error), e.error_code = coalesce($code, e.error_code),
                e.ended_at = coalesce($ended, e.ended_at)
            RETURN properties(e) AS e
            """,
            eid=execution_id, tid=tenant_id, status=status, wf=workflow_name, error=error, code=error_code,
            ended=ended_at,
        )
        if not rows:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")
        return Execution(**rows[0]["e"])

    async def get(self, *, tenant_id: str, execution_id: str) -> Execution:
        """Raises NotFoundError when absent."""
        rows = await self.client.query(
            "MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid RETURN properties(e) AS e",
            eid=execution_id, tid=tenant_id,
        )
        if not rows:
            raise NotFoundError(f"Execution {execution_id!r} does not exist.")
        return Execution(**rows[0]["e"])

    async def list(self, *, tenant_id: str, agent_id: str | None = None, thread_id: str | None = None,
                   limit: int = 50, viewer: Viewer | None = None) -> list[Execution]:
        """Executions, newest first, optionally for one agent or thread.

        Args:
            viewer: when given and not a tenant admin, only runs of agents this viewer may see
                (:data:`graph._sharing.VISIBLE`) are listed.
        """
        visible = "" if viewer is None or viewer.admin else f"""
            WITH e MATCH (a:Agent {{id: e.agent_id}}) WHERE a.tenant_id = $tid AND {VISIBLE}"""
        rows = await self.client.query(
            f"""
            MATCH (e:Execution) WHERE e.tenant_id = $tid AND ($aid IS NULL OR e.agent_id = $aid)
              AND ($thread IS NULL OR e.thread_id = $thread){visible}
            WITH e ORDER BY e.started_at DESC LIMIT $limit
            RETURN properties(e) AS e
            """,
            tid=tenant_id, aid=agent_id, thread=thread_id, limit=max(int(limit), 0),
            **(viewer.params() if viewer is not None else {}),
        )
        execs = [Execution(**r["e"]) for r in rows]
        return sorted(execs, key=lambda e: e.started_at, reverse=True)
