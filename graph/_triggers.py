"""Trigger nodes: what starts an agent's runs from outside (webhooks, schedules), issue 6.

``(:Agent)-[:HAS_TRIGGER]->(:AgentTrigger)`` (label ``AgentTrigger``: ``Trigger`` is an
ArcadeDB SQL keyword); every trigger carries ``tenant_id`` and
``agent_id``. A webhook Trigger stores the SHA-256 of its URL token (``token_hash``;
the token itself is shown once) and its HMAC signing secret encrypted with the
platform's Fernet keys (``secret_enc``). The encrypted secret is not a field of
:class:`TriggerRecord`: only :meth:`TriggerRepository.find_webhook` returns it, to
the code that verifies signatures.
"""

from __future__ import annotations

import json
from typing import Any

import neo4j
from pydantic import BaseModel

from agentgraph.errors import ConflictError, NotFoundError

from graph._client import GraphClient
from graph._models import new_id, now_iso

#: Trigger kinds served by the platform itself (the AgentSpec's ``calendar`` is a ``schedule``).
LOCAL_TRIGGER_KINDS = ("webhook", "schedule")
_FIELDS = ("id", "tenant_id", "agent_id", "kind", "name", "enabled", "config_json", "created_at", "created_by",
           "last_fired_at", "last_run_id", "fire_count")


class TriggerRecord(BaseModel):
    """One stored trigger.

    Attributes:
        kind: ``webhook`` or ``schedule``.
        config: kind-specific settings: webhook ``{payload_schema, allow_ips, input_template, thread_id,
            tolerance_s, max_body_bytes}``; schedule ``{cron, timezone, input, thread_id}``.
        last_fired_at: ISO 8601 UTC of the last run started (schedule: the slot fired).
    """

    id: str
    tenant_id: str
    agent_id: str
    kind: str
    name: str
    enabled: bool = True
    config_json: str = "{}"
    created_at: str
    created_by: str | None = None
    last_fired_at: str | None = None
    last_run_id: str | None = None
    fire_count: int = 0

    @property
    def config(self) -> dict[str, Any]:
        """``config_json`` decoded."""
        return json.loads(self.config_json or "{}")


def _record(props: dict[str, Any]) -> TriggerRecord:
    return TriggerRecord(**{k: props[k] for k in _FIELDS if props.get(k) is not None})


class TriggerRepository:
    """Trigger nodes (see module docstring)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, *, tenant_id: str, agent_id: str, kind: str, name: str, config: dict[str, Any],
                     created_by: str | None, token_hash: str | None = None,
                     secret_enc: str | None = None) -> TriggerRecord:
        """Store a trigger linked to its agent, atomically.

        Raises:
            NotFoundError: no such agent in the tenant.
            ConflictError: the agent already has a trigger of that name.
        """
        tid = new_id("trg")

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            agent = await (await tx.run("MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid RETURN a.id AS id",
                                        aid=agent_id, tid=tenant_id)).data()
            if not agent:
                raise NotFoundError(f"Agent {agent_id!r} does not exist; create it before adding triggers.")
            dup = await (await tx.run(
                "MATCH (t:AgentTrigger) WHERE t.tenant_id = $tid AND t.agent_id = $aid AND t.name = $name RETURN t.id AS id",
                tid=tenant_id, aid=agent_id, name=name)).data()
            if dup:
                raise ConflictError(f"Agent {agent_id!r} already has a trigger named {name!r}; pick another name "
                                    "or delete it first.")
            rows = await (await tx.run(
                """
                MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
                CREATE (t:AgentTrigger {id: $id, tenant_id: $tid, agent_id: $aid, kind: $kind, name: $name, enabled: true,
                                   config_json: $config, created_at: $ts, created_by: $uid, fire_count: 0,
                                   token_hash: $th, secret_enc: $se})
                CREATE (a)-[:HAS_TRIGGER]->(t)
                RETURN properties(t) AS t
                """,
                aid=agent_id, tid=tenant_id, id=tid, kind=kind, name=name, config=json.dumps(config),
                ts=now_iso(), uid=created_by, th=token_hash, se=secret_enc)).data()
            return rows[0]["t"]

        return _record(await self.client.transaction(work))

    async def get(self, *, tenant_id: str, trigger_id: str) -> TriggerRecord:
        """Raises NotFoundError when absent from the tenant."""
        rows = await self.client.query(
            "MATCH (t:AgentTrigger {id: $id}) WHERE t.tenant_id = $tid RETURN properties(t) AS t", id=trigger_id,
            tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Trigger {trigger_id!r} does not exist.")
        return _record(rows[0]["t"])

    async def list(self, *, tenant_id: str, agent_id: str | None = None) -> list[TriggerRecord]:
        """Triggers of the tenant (optionally of one agent), oldest first."""
        rows = await self.client.query(
            "MATCH (t:AgentTrigger) WHERE t.tenant_id = $tid AND ($aid IS NULL OR t.agent_id = $aid) "
            "RETURN properties(t) AS t", tid=tenant_id, aid=agent_id)
        return sorted((_record(r["t"]) for r in rows), key=lambda t: (t.created_at, t.id))

    async def list_schedules(self) -> list[TriggerRecord]:
        """Enabled schedule triggers of every tenant (the scheduler's work list)."""
        rows = await self.client.query(
            "MATCH (t:AgentTrigger) WHERE t.kind = 'schedule' AND t.enabled = true RETURN properties(t) AS t")
        return [_record(r["t"]) for r in rows]

    async def find_webhook(self, token_hash: str) -> tuple[TriggerRecord, str] | None:
        """The enabled webhook trigger with this token hash and its encrypted secret, or None."""
        rows = await self.client.query(
            "MATCH (t:AgentTrigger) WHERE t.token_hash = $th AND t.kind = 'webhook' RETURN properties(t) AS t",
            th=token_hash)
        if not rows:
            return None
        props = rows[0]["t"]
        return _record(props), props.get("secret_enc") or ""

    async def set_secret(self, *, tenant_id: str, trigger_id: str, secret_enc: str) -> TriggerRecord:
        """Replace a webhook's encrypted signing secret.

        Raises:
            NotFoundError: no such webhook trigger in the tenant.
        """
        rows = await self.client.write(
            "MATCH (t:AgentTrigger {id: $id}) WHERE t.tenant_id = $tid AND t.kind = 'webhook' "
            "SET t.secret_enc = $se RETURN properties(t) AS t", id=trigger_id, tid=tenant_id, se=secret_enc)
        if not rows:
            raise NotFoundError(f"Webhook trigger {trigger_id!r} does not exist.")
        return _record(rows[0]["t"])

    async def mark_fired(self, *, trigger_id: str, fired_at: str, run_id: str | None, count: int = 1) -> None:
        """Record ``count`` fires; ``last_fired_at`` only moves forward (two processes may record out of order)."""
        await self.client.write(
            """
            MATCH (t:AgentTrigger {id: $id})
            SET t.fire_count = coalesce(t.fire_count, 0) + $n,
                t.last_run_id = CASE WHEN t.last_fired_at IS NULL OR t.last_fired_at <= $at THEN $rid
                                     ELSE t.last_run_id END,
                t.last_fired_at = CASE WHEN t.last_fired_at IS NULL OR t.last_fired_at < $at THEN $at
                                       ELSE t.last_fired_at END
            """, id=trigger_id, at=fired_at, rid=run_id, n=count)

    async def delete(self, *, tenant_id: str, trigger_id: str) -> None:
        """Delete a trigger and its edge.

        Raises:
            NotFoundError: no such trigger in the tenant.
        """
        rows = await self.client.write(
            "MATCH (t:AgentTrigger {id: $id}) WHERE t.tenant_id = $tid DETACH DELETE t RETURN count(*) AS n",
            id=trigger_id, tid=tenant_id)
        if not rows or not rows[0]["n"]:
            raise NotFoundError(f"Trigger {trigger_id!r} does not exist.")


__all__ = ["LOCAL_TRIGGER_KINDS", "TriggerRecord", "TriggerRepository"]
