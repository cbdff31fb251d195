"""The team marketplace (issue 3): the agent page, agent detail, batched loaders and run counters.

Listing reads only denormalised Agent properties (``runs``, ``successes``,
``success_rate``, ``rating_avg``...) so a page is one indexed scan plus one
batched query per related noun (creators, tools), whatever its size: the API's
DataLoaders call :meth:`MarketplaceRepository.creators` / :meth:`tools_by_version`
once per request with every agent (version) id of the page, and both are served from
per-process caches (``graph._card_cache``: a version's tools never change; a creator
card lives 30 s and is dropped at once by this process's organisation writes).

Pagination is keyset (Relay): the opaque cursor is base64 JSON ``{"s": sort, "k":
key, "id": agent_id}`` of the last row; the next page starts strictly after it in
``(key DESC, id DESC)`` order, so inserts between pages never duplicate rows.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import neo4j
from cachetools import TTLCache

from agentgraph.errors import NotFoundError, UserError

from graph._client import GraphClient
from graph._sharing import VISIBLE, Viewer
from graph._models import Agent, Rating, now_iso
from graph._executions import ExecutionLifecycle
from graph._repos import ExecutionRepository
from graph._card_cache import CreatorCards, VersionTools, version_id

#: Sort orders -> the Agent property they order by (descending), all maintained on the node.
#: ``rating_rank`` = mean stars * 1e6 + number of ratings + runs / (runs + 1) and ``success_rank`` =
#: success rate * 1e7 + runs: the same order with volume as tie-break, so the key has few ties and
#: its range index can bound a page (a plain ``success_rate`` has thousands of agents at 1.0; without
#: the runs fraction ~800 of 50,000 seeded agents tie at one 5-star rating, all read for a page).
SORTS = {"POPULAR": "runs", "RATING": "rating_rank", "RECENT": "created_at", "SUCCESS_RATE": "success_rank"}
#: Cypher keeping the rank keys in step with the counters (used after each counter update).
RANK_SET = ("a.success_rank = CASE WHEN a.runs > 0 THEN toFloat(a.successes) / a.runs * 1.0e7 + a.runs END, "
            "a.rating_rank = CASE WHEN a.rating_count > 0 THEN toFloat(a.rating_sum) / a.rating_count * 1.0e6 "
            "+ a.rating_count + toFloat(coalesce(a.runs, 0)) / (coalesce(a.runs, 0) + 1) END")
#: Largest page (``first``); bigger requests are refused rather than silently cut.
MAX_PAGE = 100
#: Page-floor hints kept (oldest dropped first).
_MAX_HINTS = 1024
#: Agent statuses listed in the marketplace.
LISTED = ("active",)
#: Properties returned for a page row (never the description embedding).
_ROW = ("id", "tenant_id", "name", "description", "agent_type", "status", "latest_version", "active_version",
        "created_at", "updated_at", "created_by", "provisioning_error", "derived_from", "runs", "successes",
        "latency_sum_ms", "cost_sum_usd", "rating_sum", "rating_count")
_ROW_MAP = "a {" + ", ".join(f".{p}" for p in _ROW) + "}"
#: The same properties as columns: ArcadeDB's Cypher projects a map ~30% slower than plain columns
#: (tests/bench/bench_marketplace.py: 11.2 vs 8.2 ms p50 for a 51-row page).
_ROW_COLS = ", ".join(f"a.{p} AS {p}" for p in _ROW)


class InvalidCursorError(UserError):
    """A pagination cursor that this server did not issue (or for another sort order)."""

    code = "INVALID_CURSOR"


class InvalidFilterError(UserError):
    """A marketplace filter value out of range (e.g. ``minRating`` 7)."""

    code = "INVALID_FILTER"


@dataclass
class MarketFilter:
    """Marketplace filters; ``None`` fields do not filter. ``department``/``team`` match id or name."""

    department: str | None = None
    team: str | None = None
    agent_type: str | None = None
    tool_id: str | None = None
    llm: str | None = None
    min_rating: float | None = None
    text: str | None = None

    def validate(self) -> None:
        """Raises InvalidFilterError for out-of-range values."""
        if self.min_rating is not None and not 0 <= self.min_rating <= 5:
            raise InvalidFilterError(f"minRating must be between 0 and 5 stars, got {self.min_rating}.")
        if self.text is not None and len(self.text) > 200:
            raise InvalidFilterError("The search text is longer than 200 characters; shorten it.")


@dataclass
class Page:
    """One page of agents: ``rows`` with their cursors, and whether more follow."""

    rows: list[tuple[Agent, str]] = field(default_factory=list)
    has_next: bool = False


def encode_cursor(sort: str, key: Any, agent_id: str) -> str:
    """Opaque cursor for a row (base64 of JSON)."""
    return base64.urlsafe_b64encode(json.dumps({"s": sort, "k": key, "id": agent_id}).encode()).decode()


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """``(key, agent_id)`` of a cursor.

    Raises:
        InvalidCursorError: not a cursor of this API, or issued for another sort order.
    """
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
        key, aid, s = data["k"], str(data["id"]), data["s"]
    except Exception as exc:
        raise InvalidCursorError(f"The cursor {cursor[:40]!r} is not valid; pass a cursor from a previous page's "
                                 "pageInfo.endCursor (or omit `after` for the first page).") from exc
    if s != sort:
        raise InvalidCursorError(f"The cursor was issued for sort {s}, not {sort}; restart from the first page.")
    if not isinstance(key, (int, float, str)):
        raise InvalidCursorError("The cursor's sort key is malformed; restart from the first page.")
    return key, aid


def _agent(row: dict[str, Any]) -> Agent:
    return Agent(**{k: v for k, v in row.items() if v is not None})


class MarketplaceRepository:
    """Reads of the marketplace plus ratings (writes keep the Agent counters in the same transaction)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client
        self.version_tools = VersionTools(client)
        self.creator_cards = CreatorCards(client)
        self._http: httpx.AsyncClient | None = None  # ArcadeDB SQL for index floors (_index_floor)
        #: page keys whose index floor did not give a full page (not asked again; bounded like the hints)
        self._no_index_floor: TTLCache = TTLCache(maxsize=_MAX_HINTS, ttl=600)
        #: (tenant, sort, first, cursor key, filter) -> sort key of the row after the last full page seen:
        #: the next identical request reads only Agents at or above it through the range index.
        self._hints: dict[tuple, Any] = {}

    async def page(self, *, tenant_id: str, first: int = 20, after: str | None = None,
                   filter: MarketFilter | None = None, sort: str = "POPULAR", viewer: Viewer | None = None) -> Page:
        """A page of listed agents, best first by ``sort`` (ties by id).

        ``viewer`` (non-admins) keeps only the agents shared with them (``graph._sharing.VISIBLE``).

        Raises:
            InvalidFilterError: bad ``first``, ``sort`` or filter value.
            InvalidCursorError: ``after`` is not a cursor of this sort.
        """
        if sort not in SORTS:
            raise InvalidFilterError(f"Unknown sort {sort!r}; use one of {', '.join(SORTS)}.")
        if not 1 <= first <= MAX_PAGE:
            raise InvalidFilterError(f"`first` must be between 1 and {MAX_PAGE}, got {first}.")
        f = filter or MarketFilter()
        f.validate()
        prop = SORTS[sort]
        key_expr = "coalesce(a.created_at, '')" if prop == "created_at" else f"coalesce(a.{prop}, -1.0)"
        params: dict[str, Any] = {"tid": tenant_id, "listed": list(LISTED), "limit": first + 1}
        match, where = ["MATCH (a:Agent)"], ["a.tenant_id = $tid", "a.status IN $listed"]
        # Graph filters start from the (small) filtering node so the planner walks inwards.
        if f.department:
            match = ["MATCH (d:Department)<-[:BELONGS_TO]-(:User)-[:CREATED]->(a:Agent)"]
            where.append("d.tenant_id = $tid AND (d.id = $dep OR d.name = $dep)")
            params["dep"] = f.department
        if f.team:
            match.append("MATCH (tm:Team)<-[:MEMBER_OF]-(:User)-[:CREATED]->(a)")
            where.append("tm.tenant_id = $tid AND (tm.id = $team OR tm.name = $team)")
            params["team"] = f.team
        if f.tool_id:
            match.append("MATCH (a)-[:HAS_VERSION]->(tv:AgentVersion)-[:USES_TOOL]->(tool:Tool {id: $tool})")
            where.append("tv.version = a.active_version")
            params["tool"] = f.tool_id
        if f.llm:
            match.append("MATCH (a)-[:HAS_VERSION]->(lv:AgentVersion)-[:CONFIGURED_FOR]->(l:LLM)")
            where.append("lv.version = a.active_version AND (l.name = $llm OR l.id = $llm)")
            params["llm"] = f.llm
        if viewer is not None and not viewer.admin:
            where.append(VISIBLE)
            params.update(viewer.params())
        if f.agent_type:
            where.append("a.agent_type = $atype")
            params["atype"] = f.agent_type
        if f.min_rating is not None:
            where.append("coalesce(a.rating_avg, 0.0) >= $minr")
            params["minr"] = float(f.min_rating)
        if f.text:
            where.append("(toLower(a.name) CONTAINS $text OR toLower(a.description) CONTAINS $text)")
            params["text"] = f.text.lower()
        ckey = None
        if after:
            ckey, aid = decode_cursor(after, sort)
            where.append(f"({key_expr} < $ck OR ({key_expr} = $ck AND a.id < $cid))")
            params.update(ck=ckey, cid=aid)
        tail = (f" WITH DISTINCT a WITH a, {key_expr} AS k ORDER BY k DESC, a.id DESC LIMIT $limit"
                f" RETURN {_ROW_COLS}, k")
        plain = " ".join(match) + " WHERE " + " AND ".join(where) + tail
        hint_key = (tenant_id, sort, first, ckey, repr(f), viewer) if len(match) == 1 else None
        floor = self._hints.get(hint_key) if hint_key else None
        rows: list[dict[str, Any]] = []
        if floor is not None:
            # Indexed lower bound first (reads ~a page of Agents); exact when it yields a full page.
            rows = await self.client.query(f"MATCH (a:Agent) WHERE a.{prop} >= $floor WITH a WHERE "
                                           + " AND ".join(where) + tail, floor=floor, **params)
        elif hint_key is not None and f == MarketFilter() and hint_key not in self._no_index_floor:
            # No hint yet (first request of this process): ask the sort index for one (ArcadeDB). Twice
            # a page of keys leaves room for other tenants' and unlisted agents; when that is not
            # enough (a small tenant), this request and later ones take the plain query.
            floor = await self._index_floor(prop, 2 * (first + 1), ckey)
            if floor is not None:
                rows = await self.client.query(f"MATCH (a:Agent) WHERE a.{prop} >= $floor WITH a WHERE "
                                               + " AND ".join(where) + tail, floor=floor, **params)
                if len(rows) > first:
                    self._remember(hint_key, rows[-1]["k"])
            if len(rows) <= first:
                self._no_index_floor[hint_key] = True
        if len(rows) <= first:
            rows = await self.client.query(plain, **params)
            if hint_key and len(rows) > first and rows[-1]["k"] not in (None, -1.0, ""):
                self._remember(hint_key, rows[-1]["k"])
        page = Page(has_next=len(rows) > first)
        page.rows = [(_agent({p: r[p] for p in _ROW}), encode_cursor(sort, r["k"], r["id"])) for r in rows[:first]]
        return page

    async def _index_floor(self, prop: str, n: int, below: Any = None) -> Any:
        """The ``n``-th largest ``prop`` of all Agents (at or below ``below``), read from its range index.

        ArcadeDB only (its SQL over HTTP walks the index backwards: ~10 ms at 50,000 Agents, where
        the same ``ORDER BY ... LIMIT`` in its Cypher reads every Agent: 300-700 ms). Agents of
        every tenant and status count, so the floor can be above the page's own: the caller uses
        it only when it yields a full page. None when unavailable (Neo4j plans the plain query on
        the index by itself).
        """
        if self.client.backend != "arcadedb" or not self.client.http_url:
            return None
        where = f"WHERE {prop} <= :below " if below is not None else ""
        if self._http is None:  # kept open: a new connection per call costs ~50 ms of ArcadeDB's HTTP auth
            self._http = httpx.AsyncClient(auth=self.client.auth, timeout=5.0)
        try:
            r = await self._http.post(f"{self.client.http_url}/api/v1/query/{self.client.database}", json={
                "language": "sql", "command": f"SELECT {prop} AS k FROM Agent {where}ORDER BY {prop} DESC "
                                              f"LIMIT {int(n)}", "params": {"below": below}})
            r.raise_for_status()
            found = r.json().get("result") or []
        except (httpx.HTTPError, ValueError):  # only a shortcut: the plain query still answers
            return None
        return found[-1].get("k") if len(found) == n else None

    def _remember(self, key: tuple, floor: Any) -> None:
        if len(self._hints) >= _MAX_HINTS:
            self._hints.pop(next(iter(self._hints)))
        self._hints[key] = floor

    async def agents_by_ids(self, *, tenant_id: str, agent_ids: list[str]) -> dict[str, Agent]:
        """``{agent_id: Agent}`` for many ids in one query."""
        rows = await self.client.query(f"UNWIND $ids AS x MATCH (a:Agent {{id: x}}) WHERE a.tenant_id = $tid RETURN {_ROW_MAP} AS a",
                                       ids=list(agent_ids), tid=tenant_id)
        return {r["a"]["id"]: _agent(r["a"]) for r in rows}

    async def creators(self, *, tenant_id: str, agent_ids: list[str]) -> dict[str, dict[str, Any] | None]:
        """``{agent_id: {id, name, role, department, team} | None}`` for many agents.

        From :class:`graph._card_cache.CreatorCards` (per-process, 30 s), one query for the rest.
        """
        return await self.creator_cards.get(tenant_id=tenant_id, agent_ids=agent_ids)

    async def tools_by_agent(self, *, tenant_id: str, agent_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Tools of each agent's active (else latest) version: ``{agent_id: [{id, name}]}``.

        One query for the agents' versions, then :meth:`tools_by_version` (cached). Callers that
        hold the Agent rows already (a marketplace page) call :meth:`tools_by_version` directly.
        """
        rows = await self.client.query(
            "UNWIND $ids AS x MATCH (a:Agent {id: x}) WHERE a.tenant_id = $tid "
            "RETURN a.id AS aid, coalesce(a.active_version, a.latest_version) AS v", ids=list(agent_ids), tid=tenant_id)
        vids = {r["aid"]: version_id(r["aid"], r["v"]) for r in rows if r["v"] is not None}
        tools = await self.tools_by_version(tenant_id=tenant_id, version_ids=list(vids.values()))
        return {aid: tools.get(vids[aid], []) if aid in vids else [] for aid in agent_ids}

    async def tools_by_version(self, *, tenant_id: str, version_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Tools of many AgentVersions (ids ``{agent}:v{n}``): ``{version_id: [{id, name}]}``.

        Versions are immutable, so this is served from :class:`graph._card_cache.VersionTools`
        (per-process cache) and queries only versions not seen in the last minute.
        """
        return await self.version_tools.get(tenant_id=tenant_id, version_ids=version_ids)

    async def resources_by_agent(self, *, tenant_id: str, agent_ids: list[str]) -> dict[str, dict[str, list]]:
        """Notebooks and LLMs of each agent's active (else latest) version, one query.

        Returns:
            ``{agent_id: {"notebooks": [{id, name}], "llms": [{id, name, primary, fallback_order}]}}``.
        """
        rows = await self.client.query(
            """
            UNWIND $ids AS x MATCH (a:Agent {id: x}) WHERE a.tenant_id = $tid
            WITH a, x + ':v' + toString(coalesce(a.active_version, a.latest_version)) AS vid
            MATCH (v:AgentVersion {id: vid})
            OPTIONAL MATCH (v)-[:SEARCHES_NOTEBOOK]->(n:Notebook)
            WITH a, v, collect(DISTINCT {id: n.id, name: n.name}) AS nbs
            OPTIONAL MATCH (v)-[c:CONFIGURED_FOR]->(l:LLM)
            RETURN a.id AS aid, nbs,
                   collect(DISTINCT {id: l.id, name: l.name, primary: c.primary, fallback_order: c.fallback_order}) AS llms
            """, ids=list(agent_ids), tid=tenant_id)
        out: dict[str, dict[str, list]] = {aid: {"notebooks": [], "llms": []} for aid in agent_ids}
        for r in rows:
            out[r["aid"]] = {"notebooks": [n for n in r["nbs"] if n.get("id")],
                             "llms": sorted((x for x in r["llms"] if x.get("id")),
                                            key=lambda x: x.get("fallback_order") or 0)}
        return out

    async def run_stats(self, *, tenant_id: str, agent_id: str) -> dict[str, Any]:
        """Run statistics of one agent: ``{runs, successes, success_rate, p50_latency_ms, avg_cost_usd}``.

        ``runs``/``successes`` come from the Agent counters; the median latency and the mean
        cost are computed over its finished Executions (index on ``Execution.agent_id``; the
        tenant is checked after it, else ArcadeDB walks the tenant index: every Execution).
        """
        rows = await self.client.query(
            """
            MATCH (e:Execution {agent_id: $aid})
            WITH e WHERE e.tenant_id = $tid AND e.latency_ms IS NOT NULL
            RETURN percentileCont(e.latency_ms, 0.5) AS p50, avg(e.cost_usd) AS cost, count(e) AS n
            """, aid=agent_id, tid=tenant_id)
        agents = await self.agents_by_ids(tenant_id=tenant_id, agent_ids=[agent_id])
        if agent_id not in agents:
            raise NotFoundError(f"Agent {agent_id!r} does not exist in this tenant.")
        a = agents[agent_id]
        r = rows[0] if rows else {}
        return {"runs": a.runs, "successes": a.successes, "success_rate": a.success_rate,
                "p50_latency_ms": r.get("p50"), "avg_cost_usd": r.get("cost")}

    async def ratings(self, *, tenant_id: str, agent_id: str, limit: int = 20) -> list[Rating]:
        """Ratings of an agent, newest first."""
        rows = await self.client.query("MATCH (r:Rating {agent_id: $aid}) WITH r WHERE r.tenant_id = $tid "
                                       "RETURN properties(r) AS r", aid=agent_id, tid=tenant_id)
        return sorted((Rating(**r["r"]) for r in rows), key=lambda r: r.updated_at, reverse=True)[:limit]

    async def rate(self, *, tenant_id: str, user_id: str, agent_id: str, stars: int, review: str = "") -> Rating:
        """Rate an agent 1-5 stars (one rating per user and agent; rating again replaces it).

        The Agent's ``rating_sum``/``rating_count``/``rating_avg`` change in the same transaction.

        Raises:
            UserError: ``INVALID_RATING`` for stars outside 1-5 or a review over 2,000 characters.
            NotFoundError: agent or user not in the tenant (nothing is stored).
        """
        if not isinstance(stars, int) or not 1 <= stars <= 5:
            raise UserError(f"Stars must be a whole number from 1 to 5, got {stars}.", code="INVALID_RATING")
        if len(review) > 2000:
            raise UserError("The review is longer than 2,000 characters; shorten it.", code="INVALID_RATING")
        ts, rid = now_iso(), f"{agent_id}:{user_id}"

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            found = await (await tx.run(
                """
                MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
                MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
                OPTIONAL MATCH (r:Rating {id: $rid})
                RETURN r.stars AS old
                """, aid=agent_id, uid=user_id, tid=tenant_id, rid=rid)).data()
            if not found:
                raise NotFoundError(f"Agent {agent_id!r} or user {user_id!r} does not exist in this tenant.")
            old = found[0]["old"]
            await tx.run(
                """
                MATCH (a:Agent {id: $aid})
                SET a.rating_sum = coalesce(a.rating_sum, 0) + $stars - $old,
                    a.rating_count = coalesce(a.rating_count, 0) + $new
                SET a.rating_avg = toFloat(a.rating_sum) / a.rating_count
                SET """ + RANK_SET, aid=agent_id, stars=stars, old=old or 0, new=0 if old is not None else 1)
            if old is None:
                res = await tx.run(
                    """
                    MATCH (a:Agent {id: $aid}), (u:User {id: $uid})
                    CREATE (r:Rating {id: $rid, tenant_id: $tid, agent_id: $aid, user_id: $uid, stars: $stars,
                                      review: $review, created_at: $ts, updated_at: $ts})
                    CREATE (u)-[:RATED]->(r)-[:OF_AGENT]->(a)
                    RETURN properties(r) AS r
                    """, aid=agent_id, uid=user_id, rid=rid, tid=tenant_id, stars=stars, review=review, ts=ts)
            else:
                res = await tx.run("MATCH (r:Rating {id: $rid}) SET r.stars = $stars, r.review = $review, "
                                   "r.updated_at = $ts RETURN properties(r) AS r",
                                   rid=rid, stars=stars, review=review, ts=ts)
            return (await res.data())[0]["r"]

        return Rating(**await self.client.transaction(work))


class _TxClient:
    """A GraphClient look-alike whose statements run inside one open transaction."""

    def __init__(self, tx: neo4j.AsyncManagedTransaction) -> None:
        self.tx = tx

    async def query(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        return await (await self.tx.run(cypher, params)).data()

    write = query

    async def transaction(self, work: Any) -> Any:
        return await work(self.tx)


#: Cypher counting one finished Execution on its Agent (idempotent: only a first terminal status counts).
COUNT_FINISH = """
MATCH (a:Agent {id: $aid}) WHERE a.tenant_id = $tid
SET a.runs = coalesce(a.runs, 0) + 1,
    a.successes = coalesce(a.successes, 0) + $ok,
    a.latency_sum_ms = coalesce(a.latency_sum_ms, 0.0) + $latency,
    a.cost_sum_usd = coalesce(a.cost_sum_usd, 0.0) + $cost
SET a.success_rate = toFloat(a.successes) / a.runs
SET """ + RANK_SET

#: Execution statuses that end a run (counted once each).
_TERMINAL = ("succeeded", "failed", "cancelled", "timed_out")


class CountingExecutionRepository(ExecutionRepository):
    """ExecutionRepository whose ``finish`` also updates the Agent's marketplace counters, atomically.

    Wraps the base ``finish`` (whatever statements it runs) in one transaction with
    :data:`COUNT_FINISH`, so the page query never aggregates Executions. A finish of an
    Execution that was already terminal (redelivery) does not count twice.
    """

    async def finish(self, **kwargs: Any) -> Any:  # noqa: D102 - same contract as the base method
        async def work(tx: neo4j.AsyncManagedTransaction) -> Any:
            prev = await (await tx.run("MATCH (e:Execution {id: $eid}) WHERE e.tenant_id = $tid RETURN e.status AS s",
                                       eid=kwargs["execution_id"], tid=kwargs["tenant_id"])).data()
            inner = ExecutionRepository(_TxClient(tx))  # type: ignore[arg-type]
            execution = await ExecutionRepository.finish(inner, **kwargs)
            if prev and prev[0]["s"] not in _TERMINAL and execution.status in _TERMINAL:
                await tx.run(COUNT_FINISH, aid=execution.agent_id, tid=execution.tenant_id,
                             ok=1 if execution.status == "succeeded" else 0,
                             latency=float(execution.latency_ms or 0.0), cost=float(execution.cost_usd or 0.0))
            return execution

        return await self.client.transaction(work)


class CountingExecutionLifecycle(ExecutionLifecycle):
    """ExecutionLifecycle whose compare-and-set ``finish`` also updates the Agent's counters, atomically.

    One statement (:data:`graph._executions.FINISH_CAS` + :attr:`COUNT_AND_USE`): the
    compare-and-set on the Execution, then, only when it matched and the new status is
    terminal, the Agent's counters (as :data:`COUNT_FINISH`) and, for a ``succeeded`` run
    triggered by a user of the tenant, one use ``(:User)-[:USES {frequency, last_used}]->(:Agent)``
    (as ``OrgRepository.record_use``). The base ``finish`` returns None when the outcome
    was recorded already (another delivery), so a run counts exactly once; ``queued`` (an
    attempt to be retried) does not count. Sandbox runs use the base lifecycle: neither counts.

    Why one statement (issue 6, figure 1): on ArcadeDB each statement of a transaction is a
    round trip plus its own planning; the former CAS + counters transaction and the separate
    USES write after the run cost ~13-15 ms per run, this ~4 ms alone (~8 ms on the loaded
    2-core bench box; tests/bench/README.md, bench_overhead_ratio). ``agent_id`` / ``triggered_by``
    (passed by ``RunService``) anchor the Agent and User lookups on their unique ids; without
    them the statement anchors on the Execution's own properties (same result). Written with
    OPTIONAL MATCH + FOREACH so a missing Agent or User never drops the Execution's row:
    ``SET`` on a null node is a no-op in ArcadeDB and Neo4j.
    """

    #: Appended to ``FINISH_CAS`` (``e`` bound when the CAS matched); ends with ``RETURN properties(e) AS e``.
    COUNT_AND_USE = """
WITH e
OPTIONAL MATCH (a:Agent {id: coalesce($aid, e.agent_id)}) WHERE $count AND a.id = e.agent_id AND a.tenant_id = $tid
SET a.runs = coalesce(a.runs, 0) + 1,
    a.successes = coalesce(a.successes, 0) + $ok,
    a.latency_sum_ms = coalesce(a.latency_sum_ms, 0.0) + $add_latency,
    a.cost_sum_usd = coalesce(a.cost_sum_usd, 0.0) + $add_cost
SET a.success_rate = toFloat(a.successes) / a.runs
SET """ + RANK_SET + """
WITH e, a
OPTIONAL MATCH (u:User {id: coalesce($uid, e.triggered_by)})
  WHERE a IS NOT NULL AND $ok = 1 AND u.id = e.triggered_by AND u.tenant_id = $tid
FOREACH (_ IN CASE WHEN u IS NULL THEN [] ELSE [1] END |
  MERGE (u)-[r:USES]->(a)
    ON CREATE SET r.frequency = 1, r.last_used = $ts
    ON MATCH SET r.frequency = r.frequency + 1, r.last_used = $ts)
RETURN properties(e) AS e
"""

    async def finish(self, **kwargs: Any) -> Any:  # noqa: D102 - same contract as the base method
        from graph._executions import FINISH_CAS, finish_params
        from graph._models import Execution

        agent_id, user_id = kwargs.pop("agent_id", None), kwargs.pop("triggered_by", None)
        status = kwargs["status"]
        rows = await self._write(
            FINISH_CAS + self.COUNT_AND_USE, **finish_params(**kwargs), aid=agent_id, uid=user_id,
            count=status in _TERMINAL, ok=1 if status == "succeeded" else 0,
            add_latency=float(kwargs.get("latency_ms") or 0.0), add_cost=float(kwargs.get("cost_usd") or 0.0),
            ts=kwargs.get("ended_at") or now_iso())
        return Execution(**rows[0]["e"]) if rows else None
