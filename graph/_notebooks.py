"""Notebook and Document nodes (knowledge bases), and the threads of Executions.

Graph shape::

    (:Notebook {id, tenant_id, ...})-[:HAS_DOCUMENT]->(:Document {id, notebook_id, ...})
    (:AgentVersion)-[:SEARCHES_NOTEBOOK]->(:Notebook)

The chunks themselves live in the notebook's DeepLake dataset (``memory``); the
graph keeps the manifest (one Document per source, its content hash and status)
and the counters shown to users (documents, chunks, last sync, index health).
"""

from __future__ import annotations

import json
from typing import Any

import neo4j
from pydantic import BaseModel

from agentgraph.errors import ConflictError, NotFoundError

from graph._client import GraphClient
from graph._models import now_iso

#: Per-document ingestion states (``failed`` carries ``error``).
DOCUMENT_STATES = ("queued", "processing", "completed", "skipped", "failed")
#: Notebook states: ``empty`` (no documents), ``ingesting``, then ``completed`` / ``partial`` / ``failed``.
NOTEBOOK_STATES = ("empty", "ingesting", "completed", "partial", "failed")


class Notebook(BaseModel):
    """A knowledge base: documents chunked and indexed in one DeepLake dataset.

    Attributes:
        chunking_json: the notebook's :class:`memory.ChunkingConfig` as JSON.
        storage_path: the dataset location (local directory or bucket path).
        index_health: ``ok``, ``empty`` or ``error: ...`` from the last check.
        last_sync: ISO time of the last finished ingestion batch, ``None`` before the first.
    """

    id: str
    tenant_id: str
    name: str
    description: str = ""
    chunking_json: str = "{}"
    storage_path: str
    status: str = "empty"
    document_count: int = 0
    chunk_count: int = 0
    last_sync: str | None = None
    index_health: str = "empty"
    created_at: str
    updated_at: str
    created_by: str | None = None
    embedding: list[float] | None = None

    @property
    def chunking(self) -> dict[str, Any]:
        """Chunking settings as a dict (``strategy``, ``chunk_size``, ``chunk_overlap``)."""
        return json.loads(self.chunking_json or "{}")


class Document(BaseModel):
    """One source document of a notebook and its ingestion receipt.

    Attributes:
        id: stable per (notebook, filename), so a re-upload of the same name is the same document.
        content_hash: SHA-256 of the uploaded bytes; unchanged hash -> ``skipped``.
        status: one of :data:`DOCUMENT_STATES`; ``error`` says why when ``failed``.
        size_bytes: uploaded size in bytes.
        lease_until: ISO time until which a running ingestion owns the document (renewed while it runs);
            a pending document past its lease (and not updated for as long) is resumed by another process.
    """

    id: str
    tenant_id: str
    notebook_id: str
    filename: str
    mime_type: str | None = None
    format: str | None = None
    content_hash: str
    size_bytes: int = 0
    status: str = "queued"
    error: str | None = None
    chunk_count: int = 0
    metadata_json: str = "{}"
    created_at: str
    updated_at: str
    lease_until: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """User metadata attached at upload (filterable in search)."""
        return json.loads(self.metadata_json or "{}")


class ThreadSummary(BaseModel):
    """A conversation thread seen through its Executions (runs)."""

    thread_id: str
    agent_id: str
    runs: int
    first_input: str
    last_output: str | None = None
    started_at: str
    updated_at: str


class NotebookRepository:
    """Notebook and Document nodes; every query is tenant-scoped."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, *, tenant_id: str, notebook_id: str, name: str, description: str, chunking: dict[str, Any],
                     storage_path: str, embedding: list[float], created_by: str | None) -> Notebook:
        """Store a new, empty notebook.

        Raises:
            ConflictError: the id (derived from the name) is taken in this tenant.
        """
        ts = now_iso()

        async def work(tx: neo4j.AsyncManagedTransaction) -> dict[str, Any]:
            if await (await tx.run("MATCH (n:Notebook {id: $id}) RETURN n.id AS id", id=notebook_id)).data():
                raise ConflictError(f"A notebook with id {notebook_id!r} exists. Choose another name or add "
                                    "documents to the existing notebook.")
            rows = await (await tx.run(
                """
                CREATE (n:Notebook {id: $id, tenant_id: $tid, name: $name, description: $description,
                        chunking_json: $chunking, storage_path: $path, status: 'empty', document_count: 0,
                        chunk_count: 0, index_health: 'empty', created_at: $ts, updated_at: $ts, created_by: $uid,
                        embedding: $embedding})
                RETURN properties(n) AS n
                """, id=notebook_id, tid=tenant_id, name=name, description=description,
                chunking=json.dumps(chunking), path=storage_path, ts=ts, uid=created_by, embedding=embedding)).data()
            return rows[0]["n"]

        return Notebook(**await self.client.transaction(work))

    async def get(self, *, tenant_id: str, notebook_id: str) -> Notebook:
        """Raises NotFoundError when the notebook is not in the tenant."""
        rows = await self.client.query(
            "MATCH (n:Notebook {id: $id}) WHERE n.tenant_id = $tid RETURN properties(n) AS n",
            id=notebook_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Notebook {notebook_id!r} does not exist. List notebooks with the `notebooks` "
                                "query or create one with `createNotebook`.")
        return Notebook(**rows[0]["n"])

    async def list(self, *, tenant_id: str) -> list[Notebook]:
        """Notebooks of the tenant, most recently updated first."""
        rows = await self.client.query("MATCH (n:Notebook) WHERE n.tenant_id = $tid RETURN properties(n) AS n",
                                        tid=tenant_id)
        return sorted((Notebook(**r["n"]) for r in rows), key=lambda n: n.updated_at, reverse=True)

    async def update(self, *, tenant_id: str, notebook_id: str, **props: Any) -> Notebook:
        """Set properties (status, counters, health...) and ``updated_at``."""
        rows = await self.client.write(
            "MATCH (n:Notebook {id: $id}) WHERE n.tenant_id = $tid SET n += $props, n.updated_at = $ts "
            "RETURN properties(n) AS n", id=notebook_id, tid=tenant_id, props=props, ts=now_iso())
        if not rows:
            raise NotFoundError(f"Notebook {notebook_id!r} does not exist.")
        return Notebook(**rows[0]["n"])

    async def delete(self, *, tenant_id: str, notebook_id: str) -> None:
        """Delete a notebook and its Document nodes (the dataset is removed by the caller)."""
        await self.get(tenant_id=tenant_id, notebook_id=notebook_id)
        await self.client.write(
            "MATCH (n:Notebook {id: $id}) WHERE n.tenant_id = $tid OPTIONAL MATCH (n)-[:HAS_DOCUMENT]->(d:Document) "
            "DETACH DELETE d, n", id=notebook_id, tid=tenant_id)

    async def upsert_document(self, *, tenant_id: str, notebook_id: str, doc_id: str, filename: str,
                              mime_type: str | None, content_hash: str, size_bytes: int, status: str,
                              metadata: dict[str, Any]) -> Document:
        """Create the Document (linked with HAS_DOCUMENT) or update its upload fields."""
        ts = now_iso()
        rows = await self.client.write(
            """
            MATCH (n:Notebook {id: $nid}) WHERE n.tenant_id = $tid
            MERGE (d:Document {id: $id})
              ON CREATE SET d.tenant_id = $tid, d.notebook_id = $nid, d.created_at = $ts, d.chunk_count = 0
            SET d.filename = $filename, d.mime_type = $mime, d.content_hash = $hash, d.size_bytes = $size,
                d.status = $status, d.error = null, d.metadata_json = $meta, d.updated_at = $ts
            MERGE (n)-[:HAS_DOCUMENT]->(d)
            RETURN properties(d) AS d
            """, nid=notebook_id, tid=tenant_id, id=doc_id, ts=ts, filename=filename, mime=mime_type,
            hash=content_hash, size=size_bytes, status=status, meta=json.dumps(metadata))
        if not rows:
            raise NotFoundError(f"Notebook {notebook_id!r} does not exist.")
        return Document(**rows[0]["d"])

    async def set_document(self, *, tenant_id: str, doc_id: str, **props: Any) -> Document:
        """Update a document's receipt (status, error, chunk_count, format...)."""
        rows = await self.client.write(
            "MATCH (d:Document {id: $id}) WHERE d.tenant_id = $tid SET d += $props, d.updated_at = $ts "
            "RETURN properties(d) AS d", id=doc_id, tid=tenant_id, props=props, ts=now_iso())
        if not rows:
            raise NotFoundError(f"Document {doc_id!r} does not exist.")
        return Document(**rows[0]["d"])

    async def list_documents(self, *, tenant_id: str, notebook_id: str) -> list[Document]:
        """Documents of a notebook, by file name."""
        rows = await self.client.query(
            "MATCH (d:Document) WHERE d.tenant_id = $tid AND d.notebook_id = $nid RETURN properties(d) AS d",
            tid=tenant_id, nid=notebook_id)
        return sorted((Document(**r["d"]) for r in rows), key=lambda d: d.filename)

    async def pending_documents(self) -> list[Document]:
        """Documents of every tenant still ``queued`` or ``processing`` (left so by a stopped process)."""
        rows = await self.client.query(
            "MATCH (d:Document) WHERE d.status IN ['queued', 'processing'] RETURN properties(d) AS d")
        return sorted((Document(**r["d"]) for r in rows), key=lambda d: (d.tenant_id, d.notebook_id, d.filename))

    async def lease_documents(self, *, doc_ids: list[str], until: str) -> None:
        """Set ``lease_until`` on documents (an ingestion's heartbeat; see :attr:`Document.lease_until`)."""
        if doc_ids:
            await self.client.write("MATCH (d:Document) WHERE d.id IN $ids SET d.lease_until = $until",
                                    ids=doc_ids, until=until)

    async def claim_documents(self, *, doc_ids: list[str], now: str, until: str) -> list[str]:
        """Take the lease of pending documents whose lease expired (or never existed); returns the ids taken.

        One write transaction: when two processes claim the same document, the graph's
        concurrency control lets one win and the other's retry no longer matches it.
        """
        if not doc_ids:
            return []
        rows = await self.client.write(
            "MATCH (d:Document) WHERE d.id IN $ids AND d.status IN ['queued', 'processing'] "
            "AND (d.lease_until IS NULL OR d.lease_until < $now) SET d.lease_until = $until RETURN d.id AS id",
            ids=doc_ids, now=now, until=until)
        return [r["id"] for r in rows]

    async def delete_document(self, *, tenant_id: str, doc_id: str) -> None:
        """Remove one Document node (its chunks are removed from the dataset by the caller)."""
        await self.client.write("MATCH (d:Document {id: $id}) WHERE d.tenant_id = $tid DETACH DELETE d",
                                id=doc_id, tid=tenant_id)

    async def require(self, *, tenant_id: str, notebook_ids: list[str]) -> None:
        """Check that notebooks exist in the tenant.

        Raises:
            NotFoundError: listing the unknown ids and how to fix the spec.
        """
        if not notebook_ids:
            return
        rows = await self.client.query(
            "MATCH (n:Notebook) WHERE n.tenant_id = $tid AND n.id IN $ids RETURN n.id AS id",
            tid=tenant_id, ids=notebook_ids)
        missing = sorted(set(notebook_ids) - {r["id"] for r in rows})
        if missing:
            raise NotFoundError(f"Unknown notebook(s) {', '.join(missing)}. Create them first (`createNotebook`) "
                                "or remove them from the spec's notebooks section.")

    async def link_agent_version(self, *, tenant_id: str, version_id: str, notebook_ids: list[str]) -> None:
        """Create ``(:AgentVersion)-[:SEARCHES_NOTEBOOK]->(:Notebook)`` edges (idempotent).

        Raises:
            NotFoundError: a notebook id is not in the tenant (nothing is linked).
        """
        if not notebook_ids:
            return
        await self.require(tenant_id=tenant_id, notebook_ids=notebook_ids)
        await self.client.write(
            "MATCH (v:AgentVersion {id: $vid}) WHERE v.tenant_id = $tid UNWIND $ids AS nid "
            "MATCH (n:Notebook {id: nid}) MERGE (v)-[:SEARCHES_NOTEBOOK]->(n)",
            vid=version_id, tid=tenant_id, ids=notebook_ids)

    async def agent_versions_searching(self, *, tenant_id: str, notebook_id: str) -> list[str]:
        """Ids of AgentVersions linked to a notebook."""
        rows = await self.client.query(
            "MATCH (v:AgentVersion)-[:SEARCHES_NOTEBOOK]->(n:Notebook {id: $id}) WHERE n.tenant_id = $tid "
            "RETURN v.id AS id", id=notebook_id, tid=tenant_id)
        return sorted(r["id"] for r in rows)


class ThreadRepository:
    """Threads as seen through Execution nodes (the messages live in the checkpointer)."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def list(self, *, tenant_id: str, user_id: str | None, agent_id: str | None = None,
                   limit: int = 50) -> list[ThreadSummary]:
        """Threads of a user (``None``: every user), most recent first; deleted threads are left out."""
        rows = await self.client.query(
            """
            MATCH (e:Execution) WHERE e.tenant_id = $tid AND ($aid IS NULL OR e.agent_id = $aid)
              AND ($uid IS NULL OR e.triggered_by = $uid) AND (e.thread_deleted IS NULL OR e.thread_deleted = false)
            RETURN e.thread_id AS thread_id, e.agent_id AS agent_id, e.input AS input, e.output AS output,
                   e.started_at AS started_at
            """, tid=tenant_id, aid=agent_id, uid=user_id)
        threads: dict[str, dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: r["started_at"]):
            t = threads.setdefault(r["thread_id"], {"thread_id": r["thread_id"], "agent_id": r["agent_id"], "runs": 0,
                                                    "first_input": r["input"], "started_at": r["started_at"]})
            t["runs"] += 1
            t["last_output"] = r["output"]
            t["updated_at"] = r["started_at"]
        out = sorted((ThreadSummary(**t) for t in threads.values()), key=lambda t: t.updated_at, reverse=True)
        return out[:limit]

    async def get(self, *, tenant_id: str, thread_id: str) -> ThreadSummary:
        """One thread (any user of the tenant). Raises NotFoundError when it has no runs or was deleted."""
        rows = [t for t in await self.list(tenant_id=tenant_id, user_id=None, limit=10_000) if t.thread_id == thread_id]
        if not rows:
            raise NotFoundError(f"Thread {thread_id!r} does not exist (or was deleted). List threads with the "
                                "`threads` query.")
        return rows[0]

    async def mark_deleted(self, *, tenant_id: str, thread_id: str) -> int:
        """Flag the thread's Executions (kept for audit) so the thread is no longer listed; returns how many."""
        rows = await self.client.write(
            "MATCH (e:Execution) WHERE e.tenant_id = $tid AND e.thread_id = $thread SET e.thread_deleted = true "
            "RETURN count(e) AS n", tid=tenant_id, thread=thread_id)
        return int(rows[0]["n"]) if rows else 0


__all__ = ["Notebook", "Document", "ThreadSummary", "NotebookRepository", "ThreadRepository",
           "DOCUMENT_STATES", "NOTEBOOK_STATES"]
