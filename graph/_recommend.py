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

import base64
from typing import Any

import numpy as np

from graph._client import GraphClient
from graph._models import now_iso

#: Default success-rate threshold (0-1) and minimum runs for "works well".
MIN_SUCCESS = 0.8
MIN_RUNS = 5
#: Proximity bonus added to cosine similarity (same team > same department).
TEAM_BONUS, DEPARTMENT_BONUS = 0.10, 0.05


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
    """

    def __init__(self, client: GraphClient, embedder: Any = None) -> None:
        self.client = client
        self.embedder = embedder

    async def agents_for_user(self, *, tenant_id: str, user_id: str, min_success: float = MIN_SUCCESS,
                              min_runs: int = MIN_RUNS, limit: int = 10) -> list[dict[str, Any]]:
        """Agents peers (same role, same department) use that work well and I do not use yet.

        Reads the precomputed ``(:Department)-[:PEER_FAVOURITE {role, peers, uses}]->(:Agent)``
        edges (:meth:`refresh`) when my department has them, else runs the live traversal.

        Returns:
            ``[{id, name, description, success_rate, runs, peers, uses}]``, most peers first.
        """
        rows = await self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)
            WHERE me.tenant_id = $tid AND d.favourites_at IS NOT NULL
            MATCH (d)-[f:PEER_FAVOURITE]->(a:Agent)
            WHERE f.role = me.role AND a.status = 'active' AND a.runs >= $min_runs AND a.success_rate >= $thr
              AND NOT EXISTS { MATCH (me)-[:USES]->(a) }
            RETURN a.id AS id, a.name AS name, a.description AS description, a.success_rate AS success_rate,
                   a.runs AS runs, f.peers AS peers, f.uses AS uses
            ORDER BY peers DESC, uses DESC, id LIMIT $limit
            """, uid=user_id, tid=tenant_id, thr=float(min_success), min_runs=int(min_runs), limit=int(limit))
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

    async def _candidates(self, tenant_id: str, user_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)-[s:SHOWCASES]->(a:Agent)
            WHERE me.tenant_id = $tid AND a.status = 'active' AND a.created_by <> $uid
            WITH me, d, a, s ORDER BY s.rank LIMIT $limit
            MATCH (a)<-[:CREATED]-(u:User)
            RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                   a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                   d.name AS department, u.team_id IS NOT NULL AND u.team_id = me.team_id AS same_team,
                   true AS same_department
            """, uid=user_id, tid=tenant_id, limit=limit)
        if rows:
            return rows
        rows = await self.client.query(
            """
            MATCH (me:User {id: $uid})-[:BELONGS_TO]->(d:Department)<-[:BELONGS_TO]-(u:User)-[:CREATED]->(a:Agent)
            WHERE me.tenant_id = $tid AND a.status = 'active' AND u.id <> $uid
            WITH me, d, u, a ORDER BY a.runs DESC LIMIT $limit
            RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                   a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                   d.name AS department, u.team_id IS NOT NULL AND u.team_id = me.team_id AS same_team,
                   true AS same_department
            """, uid=user_id, tid=tenant_id, limit=limit)
        if rows:
            return rows
        # No department (or nobody else in it): the tenant's most-run agents.
        return await self.client.query(
            """
            MATCH (a:Agent) WHERE a.tenant_id = $tid AND a.status = 'active' AND a.created_by <> $uid
            WITH a ORDER BY a.runs DESC LIMIT $limit
            OPTIONAL MATCH (u:User)-[:CREATED]->(a)
            OPTIONAL MATCH (u)-[:BELONGS_TO]->(d:Department)
            RETURN a.id AS id, a.name AS name, a.description AS description, a.embedding_b64 AS emb,
                   a.runs AS runs, a.success_rate AS success_rate, u.id AS user_id, u.name AS user_name,
                   d.name AS department, false AS same_team, false AS same_department
            """, uid=user_id, tid=tenant_id, limit=limit)

    async def _embed_missing(self, rows: list[dict[str, Any]]) -> None:
        missing = [r for r in rows if not r.get("emb")]
        if not missing:
            return
        vecs = await self.embedder.embed([f"{r['name']}. {r['description'] or ''}" for r in missing])
        batch = [{"id": r["id"], "emb": pack_embedding(v)} for r, v in zip(missing, vecs)]
        for r, b in zip(missing, batch):
            r["emb"] = b["emb"]
        await self.client.write("UNWIND $rows AS r MATCH (a:Agent {id: r.id}) SET a.embedding_b64 = r.emb",
                                rows=batch)

    async def similar_builders(self, *, tenant_id: str, user_id: str, text: str, limit: int = 5,
                               candidates: int = 200, min_similarity: float = 0.3) -> list[dict[str, Any]]:
        """Colleagues who built agents similar to ``text``, best first (one per agent).

        Score = cosine(description embeddings) + proximity bonus (same team 0.10, same
        department 0.05); agents under ``min_similarity`` cosine are dropped.

        Returns:
            ``[{agent_id, agent_name, user_id, user_name, department, success_rate, runs,
            similarity, score, message}]``.
        """
        if self.embedder is None or not text.strip():
            return []
        rows = await self._candidates(tenant_id, user_id, candidates)
        if not rows:
            return []
        await self._embed_missing(rows)
        [q] = await self.embedder.embed([text])
        qv = np.asarray(q, dtype=np.float32)
        mat = np.stack([unpack_embedding(r["emb"]) for r in rows])
        norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(qv) or 1.0)
        sims = mat @ qv / np.where(norms == 0, 1.0, norms)
        out = []
        for r, sim in zip(rows, sims.tolist()):
            if sim < min_similarity:
                continue
            bonus = TEAM_BONUS if r["same_team"] else DEPARTMENT_BONUS if r["same_department"] else 0.0
            out.append({"agent_id": r["id"], "agent_name": r["name"], "user_id": r["user_id"],
                        "user_name": r["user_name"], "department": r["department"],
                        "success_rate": r["success_rate"], "runs": int(r["runs"] or 0),
                        "similarity": round(sim, 4), "score": round(sim + bonus, 4),
                        "message": similar_message(r["user_name"] or r["user_id"] or "Someone", r["department"],
                                                   r["success_rate"], int(r["runs"] or 0))})
        return sorted(out, key=lambda x: x["score"], reverse=True)[:limit]

    async def tools_for(self, *, tenant_id: str, user_id: str, text: str, limit: int = 5,
                        similar: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Tools used by the agents most similar to ``text``: ``[{id, name, agents}]``, most used first.

        ``similar`` reuses a :meth:`similar_builders` answer (saves its queries).
        """
        similar = similar if similar is not None else await self.similar_builders(
            tenant_id=tenant_id, user_id=user_id, text=text, limit=10)
        if not similar:
            return []
        return await self.client.query(
            """
            UNWIND $ids AS x MATCH (a:Agent {id: x}) WHERE a.tenant_id = $tid
            WITH a, x + ':v' + toString(coalesce(a.active_version, a.latest_version)) AS vid
            MATCH (v:AgentVersion {id: vid}) MATCH (v)-[:USES_TOOL]->(t:Tool)
            RETURN t.id AS id, t.name AS name, count(DISTINCT a) AS agents
            ORDER BY agents DESC, id LIMIT $limit
            """, ids=[s["agent_id"] for s in similar], tid=tenant_id, limit=limit)

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
