"""Recommendations in Cypher (issue 3).

* :meth:`Recommender.agents_for_user` - agents that work well (success rate over a
  threshold, enough runs) for people with my role in my department, that I do not
  use yet; ranked by how many such peers use them.
* :meth:`Recommender.similar_builders` - colleagues who built agents similar to a
  text (a draft's description): candidates come from graph proximity (creators in
  my department, my team first), ranked by cosine similarity of description
  embeddings plus a proximity bonus.
* :meth:`Recommender.tools_for` - tools used by those similar agents.

Description embeddings are stored on the Agent as ``embedding_b64`` (float16,
base64: 768 bytes for MiniLM's 384 dimensions instead of ~7 KB of floats over
Bolt); missing ones are computed on first use and written back.

ArcadeDB note: ``WHERE NOT (a)-[:R]->(b)`` pattern predicates return no rows on its
Cypher engine; ``NOT EXISTS { ... }`` works on both backends.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from cachetools import TTLCache

from graph._client import GraphClient
from graph._models import now_iso
from graph._card_cache import VersionTools, version_id

#: Default success-rate threshold (0-1) and minimum runs for "works well".
MIN_SUCCESS = 0.8
MIN_RUNS = 5
#: Proximity bonus added to cosine similarity (same team > same department).
TEAM_BONUS, DEPARTMENT_BONUS = 0.10, 0.05
#: Seconds a department's showcase list is reused (its key changes with each refresh anyway;
#: the TTL bounds what an agent's edited description costs: its old embedding, at most this long).
SHOWCASE_TTL_S = 300.0


def pack_embedding(vec: Any) -> str:
    """Float16 base64 of a vector (what ``embedding_b64`` stores)."""
    return base64.b64encode(np.asarray(vec, dtype=np.float16).tobytes()).decode()


def unpack_embedding(text: str) -> np.ndarray:
    """Inverse of :func:`pack_embedding` (float32)."""
    return np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)


def similar_message(name: str, department: str | None, success_rate: float | None, runs: int) -> str:
    """"Grace in Sales built a similar agent, 94% success over 120 runs"."""
    where = f" in {department}" if department else ""
    stats = f", {round((success_rate or 0) * 100)}% success over {runs} runs" if runs else ", not run yet"
    return f"{name}{where} built a similar agent{stats}"


class Recommender:
    """Recommendation queries.

    Args:
        client: the graph.
        embedder: object with ``async embed(texts) -> list[vector]`` (``memory.Embedder``,
            MiniLM by default); needed by the similarity recommendations only.
        version_tools: the tool lists of agent versions (shared with the marketplace's, so one
            cache serves both); a new one by default.
    """

    def __init__(self, client: GraphClient, embedder: Any = None, version_tools: VersionTools | None = None) -> None:
        self.client = client
        self.embedder = embedder
        self.version_tools = version_tools or VersionTools(client)
        #: (tenant, department, favourites_at, limit) -> {agent id: showcase row}: one read per refresh.
        self._showcases: TTLCache = TTLCache(maxsize=1024, ttl=SHOWCASE_TTL_S)

    async def agents_for_user(self, *, tenant_id: str, user_id: str, min_success: float = MIN_SUCCESS,
                              min_runs: int = MIN_RUNS, limit: int = 10) -> list[dict[str, Any]]:
        """Agents peers (same role, same department) use that work well and I do not use yet.

        Reads the precomputed ``(:Department)-[:PEER_FAVOURITE {role, peers, uses}]->(:Agent)``
        edges (:meth:`refresh`) when my department has them, else runs the live traversal.

        Returns:
            ``[{id, name, description, success_rate, runs, peers, uses}]``, most peers first.
        """
        # Two small reads instead of one query with a NOT EXISTS per row (ArcadeDB: ~3 ms each against
        # ~22 ms for the combined form at 50,000 agents): the peers' favourites of my department and
        # role (at most ``keep`` edges, Recommender.refresh), and what I use already.
        favs, mine = await asyncio.gather(self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)-[f:PEER_FAVOURITE]->(a:Agent)
            WHERE f.role = me.role
            RETURN me.tenant_id AS tid, a.id AS id, a.name AS name, a.description AS description,
                   a.status AS status, a.success_rate AS success_rate, a.runs AS runs, f.peers AS peers,
                   f.uses AS uses
            """, uid=user_id), self.client.query("MATCH (me:User {id: $uid})-[:USES]->(a:Agent) RETURN a.id AS id",
                                                 uid=user_id))
        used = {r["id"] for r in mine}
        rows = [{k: r[k] for k in ("id", "name", "description", "success_rate", "runs", "peers", "uses")}
                for r in favs if r["tid"] == tenant_id and r["status"] == "active" and r["id"] not in used
                and (r["runs"] or 0) >= min_runs and (r["success_rate"] or 0.0) >= min_success]
        rows = sorted(rows, key=lambda r: (-(r["peers"] or 0), -(r["uses"] or 0), r["id"]))[:limit]
        if rows or await self._precomputed(tenant_id, user_id):
            return rows
        return await self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)<-[:BELONGS_TO]-(peer:User)
            WHERE me.tenant_id = $tid AND peer.role = me.role AND peer.id <> me.id
            MATCH (peer)-[u:USES]->(a:Agent)
            WHERE a.status = 'active' AND a.runs >= $min_runs AND a.success_rate >= $thr
              AND NOT EXISTS { MATCH (me)-[:USES]->(a) }
            WITH a, count(DISTINCT peer) AS peers, sum(u.frequency) AS uses
            RETURN a.id AS id, a.name AS name, a.description AS description, a.success_rate AS success_rate,
                   a.runs AS runs, peers, uses
            ORDER BY peers DESC, uses DESC, id LIMIT $limit
            """, uid=user_id, tid=tenant_id, thr=float(min_success), min_runs=int(min_runs), limit=int(limit))

    async def _precomputed(self, tenant_id: str, user_id: str) -> bool:
        rows = await self.client.query(
            "MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department) WHERE me.tenant_id = $tid "
            "RETURN d.favourites_at IS NOT NULL AS ok", uid=user_id, tid=tenant_id)
        return bool(rows and rows[0]["ok"])

    async def _candidates(self, tenant_id: str, user_id: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Candidate agents for :meth:`similar_builders` and whether they are a snapshot.

        With precomputed showcases (:meth:`refresh`) the department's list is read once per refresh
        (cached under the department's ``favourites_at``) and is a snapshot: the caller re-reads the
        status and counters of the few agents it keeps (:meth:`_current`). Without them the live
        traversal runs (current values, no snapshot).

        Returns:
            ``(rows, snapshot)``; rows ``{id, name, description, emb, runs, success_rate, user_id,
            user_name, department, same_team, same_department, version}``.
        """
        me = await self.client.query(
            "MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department) RETURN me.tenant_id AS tid, "
            "me.team_id AS team, d.id AS d, d.name AS department, d.favourites_at AS at", uid=user_id)
        if me and me[0]["tid"] == tenant_id and me[0]["at"] is not None:
            m = me[0]
            key = (tenant_id, m["d"], m["at"], limit)
            shown = self._showcases.get(key)
            if shown is None:
                shown = {r["id"]: r for r in await self.client.query(
                    """
                    MATCH (d:Department {id: $d})-[s:SHOWCASES]->(a:Agent)
                    WITH a, s ORDER BY s.rank LIMIT $limit
                    MATCH (a)<-[:CREATED]-(u:User)
                    RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                           a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                           u.team_id AS team_id, coalesce(a.active_version, a.latest_version) AS version
                    """, d=m["d"], limit=limit)}
                self._showcases[key] = shown
            if shown:
                return [dict(r, department=m["department"], same_department=True,
                             same_team=r["team_id"] is not None and r["team_id"] == m["team"])
                        for r in shown.values() if r["user_id"] != user_id], True
        rows = await self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)<-[:BELONGS_TO]-(u:User)-[:CREATED]->(a:Agent)
            WHERE me.tenant_id = $tid AND a.status = 'active' AND u.id <> $uid
            WITH me, d, u, a ORDER BY a.runs DESC LIMIT $limit
            RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                   a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                   d.name AS department, u.team_id IS NOT NULL AND u.team_id = me.team_id AS same_team,
                   true AS same_department, coalesce(a.active_version, a.latest_version) AS version
            """, uid=user_id, tid=tenant_id, limit=limit)
        if rows:
            return rows, False
        # No department (or nobody else in it): the tenant's most-run agents.
        return await self.client.query(
            """
            MATCH (a:Agent) WHERE a.tenant_id = $tid AND a.status = 'active' AND a.created_by <> $uid
            WITH a ORDER BY a.runs DESC LIMIT $limit
            OPTIONAL MATCH (u:User)-[:CREATED]->(a)
            OPTIONAL MATCH (u)-[:BELONGS_TO]->(d:Department)
            RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                   a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                   d.name AS department, false AS same_team, false AS same_department,
                   coalesce(a.active_version, a.latest_version) AS version
            """, uid=user_id, tid=tenant_id, limit=limit), False

    async def _embed_missing(self, rows: list[dict[str, Any]]) -> None:
        missing = [r for r in rows if not r.get("emb")]
        if not missing:
            return
        vecs = await self.embedder.embed([f"{r['name']}. {r['description'] or ''}" for r in missing])
        batch = [{"id": r["id"], "emb": pack_embedding(v)} for r, v in zip(missing, vecs)]
        for r, b in zip(missing, batch):
            r["emb"] = b["emb"]
        for shown in self._showcases.values():  # cached showcase rows get it too
            for b in batch:
                if b["id"] in shown:
                    shown[b["id"]]["emb"] = b["emb"]
        await self.client.write("UNWIND $rows AS r MATCH (a:Agent {id: r.id}) SET a.embedding_b64 = r.emb",
                                rows=batch)

    async def _current(self, tenant_id: str, agent_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Status, counters, active version and creator of a few agents now: ``{id: {...}}``, one query."""
        rows = await self.client.query(
            """
            UNWIND $ids AS x MATCH (a:Agent {id: x}) WHERE a.tenant_id = $tid
            MATCH (a)<-[:CREATED]-(u:User)
            RETURN a.id AS id, a.status AS status, a.runs AS runs, a.success_rate AS success_rate,
                   coalesce(a.active_version, a.latest_version) AS version, u.id AS user_id, u.name AS user_name
            """, ids=agent_ids, tid=tenant_id)
        return {r["id"]: r for r in rows}

    async def similar_builders(self, *, tenant_id: str, user_id: str, text: str, limit: int = 5,
                               candidates: int = 200, min_similarity: float = 0.3) -> list[dict[str, Any]]:
        """Colleagues who built agents similar to ``text``, best first (one per agent).

        Score = cosine(description embeddings) + proximity bonus (same team 0.10, same
        department 0.05); agents under ``min_similarity`` cosine are dropped. Candidates from
        a precomputed showcase (:meth:`refresh`) are a snapshot: the best ``3 * limit`` are
        re-read (status, runs, success rate, creator) and the ones no longer active dropped.

        Returns:
            ``[{agent_id, agent_name, user_id, user_name, department, success_rate, runs,
            similarity, score, message, version}]`` (``version``: the agent's active, else latest,
            version number).
        """
        if self.embedder is None or not text.strip():
            return []
        rows, snapshot = await self._candidates(tenant_id, user_id, candidates)
        if not rows:
            return []
        await self._embed_missing(rows)
        [q] = await self.embedder.embed([text])
        qv = np.asarray(q, dtype=np.float32)
        mat = np.stack([unpack_embedding(r["emb"]) for r in rows])
        norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(qv) or 1.0)
        sims = mat @ qv / np.where(norms == 0, 1.0, norms)
        scored = []
        for r, sim in zip(rows, sims.tolist()):
            if sim >= min_similarity:
                bonus = TEAM_BONUS if r["same_team"] else DEPARTMENT_BONUS if r["same_department"] else 0.0
                scored.append((round(sim + bonus, 4), round(sim, 4), r))
        scored.sort(key=lambda x: (-x[0], x[2]["id"]))
        if snapshot:
            scored = scored[:3 * limit]
            now = await self._current(tenant_id, [r["id"] for _, _, r in scored])
            scored = [(score, sim, dict(r, **now[r["id"]])) for score, sim, r in scored
                      if now.get(r["id"], {}).get("status") == "active" and now[r["id"]]["user_id"] != user_id]
        out = []
        for score, sim, r in scored[:limit]:
            runs = int(r["runs"] or 0)
            out.append({"agent_id": r["id"], "agent_name": r["name"], "user_id": r["user_id"],
                        "user_name": r["user_name"], "department": r["department"],
                        "success_rate": r["success_rate"], "runs": runs, "similarity": sim, "score": score,
                        "message": similar_message(r["user_name"] or r["user_id"] or "Someone", r["department"],
                                                   r["success_rate"], runs),
                        "version": r["version"]})
        return out

    async def tools_for(self, *, tenant_id: str, user_id: str, text: str, limit: int = 5,
                        similar: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Tools used by the agents most similar to ``text``: ``[{id, name, agents}]``, most used first.

        ``similar`` reuses a :meth:`similar_builders` answer (saves its queries); the tools of each
        agent's version come from the per-process cache of ``graph._card_cache`` (versions are
        immutable).
        """
        similar = similar if similar is not None else await self.similar_builders(
            tenant_id=tenant_id, user_id=user_id, text=text, limit=10)
        vids = {version_id(s["agent_id"], s["version"]) for s in similar if s.get("version") is not None}
        if not vids:
            return []
        counts: dict[str, dict[str, Any]] = {}
        for tools in (await self.version_tools.get(tenant_id=tenant_id, version_ids=sorted(vids))).values():
            for t in tools:
                counts.setdefault(t["id"], {"id": t["id"], "name": t["name"], "agents": 0})["agents"] += 1
        return sorted(counts.values(), key=lambda t: (-t["agents"], t["id"]))[:limit]

    async def refresh(self, *, tenant_id: str, keep: int = 20, showcase: int = 100,
                      min_success: float = MIN_SUCCESS, min_runs: int = MIN_RUNS) -> dict[str, int]:
        """Precompute per department (the "success patterns" of DESIGN.md) so recommendations stay cheap:

        * ``(:Department)-[:PEER_FAVOURITE {role, peers, uses}]->(:Agent)``: for each role, the
          ``keep`` agents most used by the department's people with that role that work well;
        * ``(:Department)-[:SHOWCASES {rank}]->(:Agent)``: the ``showcase`` most-run active agents
          created in the department (candidates of :meth:`similar_builders`).

        One read of the USES/CREATED edges, aggregation in Python, one transaction to replace the
        edges. Run after bulk loads (``agentgraph seed`` does) or periodically.

        Returns:
            ``{"favourites": n, "showcased": n}`` edges written.
        """
        uses = await self.client.query(
            """
            MATCH (d:Department)<-[:BELONGS_TO]-(peer:User)-[u:USES]->(a:Agent)
            WHERE d.tenant_id = $tid AND a.status = 'active' AND a.runs >= $min_runs AND a.success_rate >= $thr
            RETURN d.id AS d, peer.role AS role, a.id AS a, count(DISTINCT peer) AS peers, sum(u.frequency) AS uses
            """, tid=tenant_id, thr=float(min_success), min_runs=int(min_runs))
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in uses:
            groups.setdefault((r["d"], r["role"]), []).append(r)
        favourites = [dict(r) for rows in groups.values()
                      for r in sorted(rows, key=lambda x: (-x["peers"], -x["uses"], x["a"]))[:keep]]
        built = await self.client.query(
            """
            MATCH (d:Department)<-[:BELONGS_TO]-(:User)-[:CREATED]->(a:Agent)
            WHERE d.tenant_id = $tid AND a.status = 'active'
            RETURN d.id AS d, a.id AS a, a.runs AS runs
            """, tid=tenant_id)
        by_dep: dict[str, list[dict[str, Any]]] = {}
        for r in built:
            by_dep.setdefault(r["d"], []).append(r)
        shows = [{"d": d, "a": r["a"], "rank": i} for d, rows in by_dep.items()
                 for i, r in enumerate(sorted(rows, key=lambda x: (-(x["runs"] or 0), x["a"]))[:showcase])]
        ts = now_iso()

        async def work(tx: Any) -> None:
            await tx.run("MATCH (d:Department)-[f:PEER_FAVOURITE|SHOWCASES]->() WHERE d.tenant_id = $tid DELETE f",
                         tid=tenant_id)
            for i in range(0, len(favourites), 5000):
                await tx.run("UNWIND $rows AS r MATCH (d:Department {id: r.d}) MATCH (a:Agent {id: r.a}) "
                             "CREATE (d)-[:PEER_FAVOURITE {role: r.role, peers: r.peers, uses: r.uses}]->(a)",
                             rows=favourites[i:i + 5000])
            for i in range(0, len(shows), 5000):
                await tx.run("UNWIND $rows AS r MATCH (d:Department {id: r.d}) MATCH (a:Agent {id: r.a}) "
                             "CREATE (d)-[:SHOWCASES {rank: r.rank}]->(a)", rows=shows[i:i + 5000])
            await tx.run("MATCH (d:Department) WHERE d.tenant_id = $tid SET d.favourites_at = $ts",
                         tid=tenant_id, ts=ts)

        await self.client.transaction(work)
        return {"favourites": len(favourites), "showcased": len(shows)}
