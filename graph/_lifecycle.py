"""Agent lifecycle and version diffs (issue 3).

Status machine (``Agent.status``)::

    draft -> provisioning -> active <-> deprecated
                     \\-> failed --retry--> provisioning

Provisioning checks that every tool, notebook and model the version needs is
reachable (tool exists and its last health check is not ``down``; notebook exists;
model has an LLM node in the catalogue or is served by the gateway), and that every
agent it runs as a child (team members, workflow ``agent`` steps, delegates; issue 7)
exists in the tenant, has an active version and is not the agent itself; it records
why it failed in ``Agent.provisioning_error``, one sentence per problem saying how to
fix it. ``saveAgent`` runs the same agent check (:meth:`LifecycleRepository.require_agent_refs`),
so agents created any other way (templates, clones, the CLI, the repository) are
caught when they are provisioned, before a run. Activating an older version is the
rollback; in-flight runs keep the version they started with (each Execution pins
``version`` when it starts). Each transition is one transaction.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import neo4j
import yaml

from agentgraph.errors import ConflictError, NotFoundError

from graph._client import GraphClient
from graph._llm import PLATFORM
from graph._models import Agent, now_iso

#: Allowed transitions ``from -> {to}`` (``active -> provisioning`` activates another version).
TRANSITIONS: dict[str, set[str]] = {
    "draft": {"provisioning"},
    "provisioning": {"active", "failed"},
    "active": {"deprecated", "provisioning"},
    "deprecated": {"active", "provisioning"},
    "failed": {"provisioning"},
}


@dataclass
class VersionNeeds:
    """What one AgentVersion needs: tool ids, notebook ids and model names (primary first)."""

    agent_id: str
    version: int
    tool_ids: list[str] = field(default_factory=list)
    notebook_ids: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    #: agent id -> how the spec uses it ("team member", "workflow agent step", "delegate").
    agents: dict[str, str] = field(default_factory=dict)


def _check_transition(agent: dict[str, Any], to: str) -> None:
    current = agent.get("status") or "draft"
    if to not in TRANSITIONS.get(current, set()):
        raise ConflictError(
            f"Agent {agent['id']!r} is {current}; it cannot become {to}. "
            f"Allowed from {current}: {', '.join(sorted(TRANSITIONS.get(current, set()))) or 'nothing'}.",
            code="INVALID_TRANSITION")


class LifecycleRepository:
    """Status transitions, provisioning checks and version diffs.

    Args:
        client: the graph.
        known_models: callable returning the model names the LLM gateway serves
            (``ChatModel.describe()['models']``); ``None`` accepts catalogue models only.
    """

    def __init__(self, client: GraphClient, known_models: Any = None) -> None:
        self.client = client
        self.known_models = known_models

    async def _agent(self, tx: neo4j.AsyncManagedTransaction, tenant_id: str, agent_id: str) -> dict[str, Any]:
        rows = await (await tx.run("MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid RETURN properties(a) AS a",
                                   aid=agent_id, tid=tenant_id)).data()
        if not rows:
            raise NotFoundError(f"Agent {agent_id!r} does not exist. List agents with `agentgraph agents list`.")
        return rows[0]["a"]

    async def needs(self, *, tenant_id: str, agent_id: str, version: int) -> VersionNeeds:
        """Tools, notebooks and models a version needs (from its spec).

        Raises:
            NotFoundError: unknown agent or version.
        """
        from agentgraph.spec import AgentSpec

        rows = await self.client.query(
            "MATCH (v:AgentVersion {id: $vid}) WHERE v.tenant_id = $tid RETURN v.spec_yaml AS y",
            vid=f"{agent_id}:v{version}", tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Agent {agent_id!r} has no version {version}.")
        spec = AgentSpec.from_yaml(rows[0]["y"])
        return VersionNeeds(agent_id=agent_id, version=version, tool_ids=spec.tool_ids,
                            notebook_ids=spec.notebook_ids, models=[spec.model.name, *spec.model.fallbacks],
                            agents=agent_roles(spec))

    async def agent_ref_problems(self, *, tenant_id: str, agents: dict[str, str], self_id: str | None = None,
                                 need_active: bool = True) -> list[str]:
        """Problems with the agents a spec runs as children, one sentence each saying how to fix it.

        Args:
            agents: agent id -> role (:func:`agent_roles`).
            self_id: the agent whose spec this is (it may not run itself).
            need_active: also require an active version (provisioning; a draft saved unpublished skips it).
        """
        if not agents:
            return []
        rows = await self.client.query(
            "MATCH (a:Agent) WHERE a.tenant_id = $tid AND a.id IN $ids "
            "RETURN a.id AS id, a.status AS status, a.active_version AS active",
            tid=tenant_id, ids=sorted(agents))
        found = {r["id"]: r for r in rows}
        problems = []
        for aid, role in agents.items():
            if aid == self_id:
                problems.append(f"agent {aid!r} ({role}) is this agent itself; an agent cannot run itself as a "
                                "child: remove it or use another agent's id")
            elif aid not in found:
                problems.append(f"agent {aid!r} ({role}) does not exist in your organisation; create it first and use "
                                "its id (Agents tab, or `agentgraph agents list`)")
            elif need_active and found[aid].get("active") is None:
                problems.append(f"agent {aid!r} ({role}) has no active version (it is "
                                f"{found[aid].get('status') or 'draft'}); activate it first (activateVersion, "
                                "or publish it)")
        return problems

    async def require_agent_refs(self, *, tenant_id: str, spec: Any, self_id: str | None = None,
                                 need_active: bool = True) -> None:
        """Raise when ``spec`` runs agents that do not exist, are not active or are ``self_id`` (``saveAgent``).

        Raises:
            NotFoundError: naming each problem agent, its role and how to fix it.
        """
        problems = await self.agent_ref_problems(tenant_id=tenant_id, agents=agent_roles(spec), self_id=self_id,
                                                 need_active=need_active)
        if problems:
            raise NotFoundError("This spec runs agents as team members, workflow agent steps or delegates that "
                                f"cannot run: {'; '.join(problems)}.")

    async def check(self, *, tenant_id: str, needs: VersionNeeds) -> list[str]:
        """Problems that stop ``needs`` from running (empty when provisionable), one sentence each."""
        problems: list[str] = []
        rows = await self.client.query(
            """
            OPTIONAL MATCH (t:Tool) WHERE t.tenant_id = $tid AND t.id IN $tools
            WITH collect({id: t.id, health: t.health_status, msg: t.health_message}) AS tools
            OPTIONAL MATCH (n:Notebook) WHERE n.tenant_id = $tid AND n.id IN $nbs
            WITH tools, collect(n.id) AS nbs
            OPTIONAL MATCH (l:LLM) WHERE l.tenant_id IN [$tid, $platform] AND l.name IN $models
            RETURN tools, nbs, collect(l.name) AS llms
            """, tid=tenant_id, tools=needs.tool_ids, nbs=needs.notebook_ids, models=needs.models,
            platform=PLATFORM)
        r = rows[0] if rows else {"tools": [], "nbs": [], "llms": []}
        tools = {t["id"]: t for t in r["tools"] if t.get("id")}
        for tid in needs.tool_ids:
            if tid not in tools:
                problems.append(f"tool {tid!r} is not registered")
            elif tools[tid].get("health") == "down":
                problems.append(f"tool {tid!r} is down ({tools[tid].get('msg') or 'last health check failed'})")
        problems += [f"notebook {n!r} does not exist" for n in needs.notebook_ids if n not in set(r["nbs"])]
        served = set(self.known_models() if self.known_models else []) | set(r["llms"])
        problems += [f"model {m!r} is not known to the LLM gateway" for m in needs.models
                     if m not in served and m != "default"]
        problems += await self.agent_ref_problems(tenant_id=tenant_id, agents=needs.agents, self_id=needs.agent_id)
        return problems

    async def activate(self, *, tenant_id: str, agent_id: str, version: int | None = None,
                       retry: bool = False) -> Agent:
        """Provision ``version`` (default: the latest) and make it active, or mark the agent failed.

        Activating an older version is the rollback. Two transactions: ``-> provisioning``
        (so concurrent callers see it), then ``-> active | failed`` with the reason.

        Args:
            retry: only from ``failed`` (the ``retryProvisioning`` mutation); retries the version that failed.

        Raises:
            NotFoundError: unknown agent or version.
            ConflictError: ``INVALID_TRANSITION`` when the status does not allow it (nothing changes).
        """
        ts = now_iso()

        async def begin(tx: neo4j.AsyncManagedTransaction) -> int:
            a = await self._agent(tx, tenant_id, agent_id)
            if retry and a.get("status") != "failed":
                raise ConflictError(f"Agent {agent_id!r} is {a.get('status')}; only failed agents can be retried.",
                                    code="INVALID_TRANSITION")
            n = int(version or (a.get("pending_version") if retry else None) or a["latest_version"])
            if n < 1 or n > int(a["latest_version"]):
                raise NotFoundError(f"Agent {agent_id!r} has no version {n} (latest is {a['latest_version']}).")
            _check_transition(a, "provisioning")
            await tx.run("MATCH (a:Agent {id: $aid}) SET a.status = 'provisioning', a.pending_version = $n, "
                         "a.updated_at = $ts", aid=agent_id, n=n, ts=ts)
            return n

        n = await self.client.transaction(begin)
        try:
            problems = await self.check(tenant_id=tenant_id, needs=await self.needs(
                tenant_id=tenant_id, agent_id=agent_id, version=n))
        except Exception as exc:  # the check itself failed: record it rather than leave 'provisioning'
            problems = [f"provisioning check failed: {exc}"]
        error = "; ".join(problems) or None
        rows = await self.client.write(
            """
            MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
            SET a.status = CASE WHEN $error IS NULL THEN 'active' ELSE 'failed' END,
                a.active_version = CASE WHEN $error IS NULL THEN $n ELSE a.active_version END,
                a.provisioning_error = $error, a.updated_at = $ts
            RETURN properties(a) AS a
            """, aid=agent_id, tid=tenant_id, n=n, error=error, ts=now_iso())
        return Agent(**rows[0]["a"])

    async def deprecate(self, *, tenant_id: str, agent_id: str) -> Agent:
        """``active -> deprecated`` (it stays runnable by id but leaves the marketplace).

        Raises:
            NotFoundError / ConflictError (``INVALID_TRANSITION``).
        """

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            a = await self._agent(tx, tenant_id, agent_id)
            _check_transition(a, "deprecated")
            return (await (await tx.run(
                "MATCH (a:Agent {id: $aid}) SET a.status = 'deprecated', a.updated_at = $ts RETURN properties(a) AS a",
                aid=agent_id, ts=now_iso())).data())[0]["a"]

        return Agent(**await self.client.transaction(work))

    async def diff(self, *, tenant_id: str, agent_id: str, from_version: int, to_version: int) -> dict[str, Any]:
        """Diff two versions: ``{"changes": [{path, before, after}], "yaml_diff": str}``.

        Raises:
            NotFoundError: unknown agent or version.
        """
        rows = await self.client.query(
            "MATCH (v:AgentVersion) WHERE v.tenant_id = $tid AND v.id IN $ids RETURN v.version AS n, v.spec_yaml AS y",
            tid=tenant_id, ids=[f"{agent_id}:v{from_version}", f"{agent_id}:v{to_version}"])
        got = {int(r["n"]): r["y"] for r in rows}
        for n in (from_version, to_version):
            if n not in got:
                raise NotFoundError(f"Agent {agent_id!r} has no version {n}.")
        return diff_specs(got[from_version], got[to_version], f"v{from_version}", f"v{to_version}")


def agent_roles(spec: Any) -> dict[str, str]:
    """Agents ``spec`` runs as child runs -> their role, in spec order (the first role wins)."""
    out: dict[str, str] = {}
    for aid in (spec.team.members if spec.team else []):
        out.setdefault(aid, "team member")
    for step in (spec.workflow.steps if spec.workflow else []):
        if step.kind == "agent" and step.agent_id:
            out.setdefault(step.agent_id, f"workflow agent step {step.id!r}")
    for d in spec.delegates:
        out.setdefault(d.agent_id, "delegate")
    return out


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    if isinstance(value, list) and value and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def diff_specs(before_yaml: str, after_yaml: str, before_name: str = "before",
               after_name: str = "after") -> dict[str, Any]:
    """Changed spec fields (dotted paths, ``[i]`` for list items) plus a unified YAML diff.

    Returns:
        ``{"changes": [{"path", "before", "after"}], "yaml_diff": str}``; ``None`` marks an absent field.
    """
    a, b = _flatten(yaml.safe_load(before_yaml) or {}), _flatten(yaml.safe_load(after_yaml) or {})
    changes = [{"path": p, "before": a.get(p), "after": b.get(p)}
               for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
    text = "".join(difflib.unified_diff(before_yaml.splitlines(keepends=True), after_yaml.splitlines(keepends=True),
                                        fromfile=before_name, tofile=after_name))
    return {"changes": changes, "yaml_diff": text}
