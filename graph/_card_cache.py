"""Per-process caches behind marketplace cards and tool recommendations (issue 3).

* :class:`VersionTools` - tools of agent versions. An AgentVersion is immutable
  (``graph._lifecycle``): the tools it uses never change, so ``{version id: [{id, name}]}``
  is cached and a page or a tool recommendation reads the graph only for versions it
  has not seen. What can still change is a Tool itself (renamed, deleted).
* :class:`CreatorCards` - the creator shown on an agent card (name, role, department,
  team). An agent's creator never changes; the person's name, role, department or team
  can.

Both live :data:`TTL_S` seconds; :func:`forget_tools` / :func:`forget_people` (called by
the tool and organisation repositories' writes in this process) drop them at once. So a
change made through *another* API process shows on cards after at most :data:`TTL_S`
seconds; one made through this process shows at once.

Why: at 50,000 agents on ArcadeDB each batched lookup for a page's 50 rows costs ~5-12 ms
(an index lookup plus traversal per row, tests/bench/bench_marketplace.py), more than the
page query itself; a warm card costs microseconds."""

from __future__ import annotations

import weakref
from typing import Any

from cachetools import TTLCache

from graph._client import GraphClient

#: Seconds a cached entry (a version's tool list with tool names, a creator card) is trusted.
TTL_S = 30.0
#: Cached versions per process (~200 bytes each: 100,000 is ~20 MB at most).
MAX_VERSIONS = 100_000

_caches: "weakref.WeakSet[Any]" = weakref.WeakSet()  # VersionTools instances
_people: "weakref.WeakSet[Any]" = weakref.WeakSet()  # CreatorCards instances


def version_id(agent_id: str, version: int) -> str:
    """The AgentVersion id of ``agent_id``'s version ``version`` (``{agent}:v{n}``, graph._repos)."""
    return f"{agent_id}:v{version}"


def forget_tools() -> None:
    """Drop every cached tool list of this process (a Tool was renamed, re-registered or deleted)."""
    for cache in list(_caches):
        cache.clear()


def forget_people() -> None:
    """Drop every cached creator card of this process (a user, department or team changed)."""
    for cache in list(_people):
        cache.clear()


class _CardCache:
    """Per-process TTL cache keyed by ``(tenant, key)`` behind one batched query (the two caches below).

    Args:
        client: the graph.
        ttl_s: seconds an entry is trusted (:data:`TTL_S`).
        maxsize: entries kept (:data:`MAX_VERSIONS`, least recently used dropped first).
    """

    #: the set :func:`forget_tools` / :func:`forget_people` clears
    registry: "weakref.WeakSet[Any]"

    def __init__(self, client: GraphClient, *, ttl_s: float = TTL_S, maxsize: int = MAX_VERSIONS) -> None:
        self.client = client
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_s)
        self.registry.add(self)

    def clear(self) -> None:
        """Forget every entry."""
        self._cache.clear()

    def _split(self, tenant_id: str, keys: list[str]) -> tuple[dict[str, Any], list[str]]:
        """``({key: cached value}, [keys to query])`` for the distinct ``keys``, in order."""
        hits: dict[str, Any] = {}
        missing: list[str] = []
        for key in dict.fromkeys(keys):
            hit = self._cache.get((tenant_id, key))
            if hit is None:
                missing.append(key)
            else:
                hits[key] = hit
        return hits, missing


class VersionTools(_CardCache):
    """``{version id: [{id, name}]}`` for many AgentVersions: cache first, one query for the rest."""

    registry = _caches

    async def get(self, *, tenant_id: str, version_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Tools of each version, ordered by tool id; an unknown version (or one of another tenant) has ``[]``.

        Returns:
            ``{version_id: [{"id": tool id, "name": tool name}]}`` for every id asked for.
        """
        hits, missing = self._split(tenant_id, version_ids)
        out: dict[str, list[dict[str, Any]]] = {vid: [dict(t) for t in hit] for vid, hit in hits.items()}
        if missing:
            rows = await self.client.query(
                """
                UNWIND $vids AS x MATCH (v:AgentVersion {id: x}) WHERE v.tenant_id = $tid
                OPTIONAL MATCH (v)-[:USES_TOOL]->(t:Tool)
                RETURN v.id AS vid, collect({id: t.id, name: t.name}) AS tools
                """, vids=missing, tid=tenant_id)
            for vid in missing:
                out[vid] = []  # no row: no such version (yet) in the tenant, not cached
            for r in rows:  # one row per existing version, its tools possibly none
                tools = sorted((t for t in r["tools"] if t.get("id") is not None), key=lambda t: t["id"])
                self._cache[(tenant_id, r["vid"])] = tuple(tools)
                out[r["vid"]] = [dict(t) for t in tools]
        return out


class CreatorCards(_CardCache):
    """``{agent id: {id, name, role, department, team} | None}`` for many agents: cache first, one query."""

    registry = _people

    async def get(self, *, tenant_id: str, agent_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """The creator of each agent; ``None`` for an agent without one (or not in the tenant)."""
        hits, missing = self._split(tenant_id, agent_ids)
        out: dict[str, dict[str, Any] | None] = {aid: dict(hit) for aid, hit in hits.items()}
        if missing:
            rows = await self.client.query(
                """
                UNWIND $ids AS x MATCH (a:Agent {id: x}) WHERE a.tenant_id = $tid
                MATCH (a)<-[:CREATED]-(u:User)
                OPTIONAL MATCH (u)-[:BELONGS_TO]->(d:Department)
                OPTIONAL MATCH (u)-[:MEMBER_OF]->(t:Team)
                RETURN a.id AS aid, u.id AS id, u.name AS name, u.role AS role, d.name AS department,
                       t.name AS team
                """, ids=missing, tid=tenant_id)
            for aid in missing:
                out[aid] = None
            for r in rows:
                aid = r.pop("aid")
                out[aid] = r
                self._cache[(tenant_id, aid)] = dict(r)  # no row: not cached (the agent may be new)
        return out
