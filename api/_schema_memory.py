"""GraphQL for notebooks, threads and long-term memory.

Queries: ``notebooks``, ``notebook``, ``searchNotebook``, ``threads``, ``thread``, ``memories``.
Mutations: ``createNotebook``, ``addDocuments``, ``syncNotebook``, ``removeDocument``,
``deleteNotebook``, ``deleteThread``, ``rememberMemory``, ``forgetMemory``.

Documents are sent inline: ``contentBase64`` for files (PDF, DOCX...) or ``text``
for pasted text; ingestion then runs in the background (poll ``notebook(id)`` for
``status``, ``progress`` and each document's receipt).
"""

from __future__ import annotations

import base64
import binascii

import strawberry
from langchain_core.messages import convert_to_openai_messages
from strawberry.scalars import JSON
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError, UserError
from agentgraph.spec import AgentSpec
from graph import Document as DocumentRecord
from graph import Notebook as NotebookRecord
from graph import ThreadSummary
from memory import SearchHit as HitRecord
from memory import Upload, make_config, memory_namespace

from api._platform import Platform
from api._platform_memory import MemoryServices


def _p(info: Info) -> tuple[Platform, MemoryServices]:
    p: Platform = info.context["platform"]
    if p.memory is None:
        raise ServiceUnavailableError("Notebooks and memory are not initialised in this process.")
    return p, p.memory


@strawberry.type(description="How a notebook cuts documents into chunks (sizes in characters).")
class Chunking:
    strategy: str
    chunk_size: int
    chunk_overlap: int


@strawberry.type(description="One document of a notebook and its ingestion receipt.")
class NotebookDocument:
    id: strawberry.ID
    filename: str
    mime_type: str | None
    format: str | None
    content_hash: str
    size_bytes: int
    status: str = strawberry.field(description="queued, processing, completed, skipped or failed.")
    error: str | None = strawberry.field(description="Why the document failed, and how to fix it.")
    chunk_count: int
    metadata: JSON
    updated_at: str

    @classmethod
    def from_record(cls, d: DocumentRecord) -> "NotebookDocument":
        return cls(id=strawberry.ID(d.id), filename=d.filename, mime_type=d.mime_type, format=d.format,
                   content_hash=d.content_hash, size_bytes=d.size_bytes, status=d.status, error=d.error,
                   chunk_count=d.chunk_count, metadata=d.metadata, updated_at=d.updated_at)


@strawberry.type(description="A knowledge base: documents chunked, embedded and indexed for hybrid search.")
class Notebook:
    id: strawberry.ID
    name: str
    description: str
    status: str = strawberry.field(description="empty, ingesting, completed, partial or failed.")
    document_count: int
    chunk_count: int
    last_sync: str | None
    index_health: str
    created_at: str
    updated_at: str
    chunking: Chunking

    @classmethod
    def from_record(cls, n: NotebookRecord) -> "Notebook":
        c = n.chunking
        return cls(id=strawberry.ID(n.id), name=n.name, description=n.description, status=n.status,
                   document_count=n.document_count, chunk_count=n.chunk_count, last_sync=n.last_sync,
                   index_health=n.index_health, created_at=n.created_at, updated_at=n.updated_at,
                   chunking=Chunking(strategy=c.get("strategy", "default"), chunk_size=c.get("chunk_size", 1000),
                                     chunk_overlap=c.get("chunk_overlap", 150)))

    @strawberry.field(description="Documents with their receipts, by file name.")
    async def documents(self, info: Info) -> list[NotebookDocument]:
        p, m = _p(info)
        return [NotebookDocument.from_record(d)
                for d in await m.notebook_repo.list_documents(tenant_id=p.tenant_id, notebook_id=str(self.id))]

    @strawberry.field(description="Share of documents in a final state (completed, skipped, failed), 0..1.")
    async def progress(self, info: Info) -> float:
        p, m = _p(info)
        return (await m.notebooks.progress(tenant_id=p.tenant_id, notebook_id=str(self.id))).done

    @strawberry.field(description="Document counts per status, e.g. {\"completed\": 3, \"failed\": 1}.")
    async def status_counts(self, info: Info) -> JSON:
        p, m = _p(info)
        return (await m.notebooks.progress(tenant_id=p.tenant_id, notebook_id=str(self.id))).counts


@strawberry.type(description="A chunk found by hybrid search, with its citation.")
class SearchHit:
    chunk_id: str
    document_id: str
    filename: str
    chunk_index: int
    text: str
    score: float = strawberry.field(description="Fused reciprocal-rank score (higher is better).")
    similarity: float = strawberry.field(description="Cosine similarity to the query, -1..1.")
    bm25: float | None
    vector_rank: int | None
    bm25_rank: int | None
    metadata: JSON

    @classmethod
    def from_record(cls, h: HitRecord) -> "SearchHit":
        return cls(**{k: getattr(h, k) for k in ("chunk_id", "document_id", "filename", "chunk_index", "text", "score",
                                                 "similarity", "bm25", "vector_rank", "bm25_rank", "metadata")})


@strawberry.type(description="A conversation thread (its runs are Executions; its messages are checkpointed).")
class Thread:
    thread_id: str
    agent_id: str
    runs: int
    first_input: str
    last_output: str | None
    started_at: str
    updated_at: str

    @classmethod
    def from_record(cls, t: ThreadSummary) -> "Thread":
        return cls(**t.model_dump())


@strawberry.type(description="One message of a thread's checkpointed history.")
class ThreadMessage:
    role: str
    content: str
    name: str | None
    tool_calls: JSON


@strawberry.type(description="A thread with its message history (empty when the checkpoint expired).")
class ThreadHistory:
    thread: Thread
    messages: list[ThreadMessage]


@strawberry.type(description="A long-term memory of the caller about one agent.")
class Memory:
    key: str
    text: str
    kind: str
    score: float | None
    updated_at: str


@strawberry.input(description="Chunking settings; sizes in characters.")
class ChunkingInput:
    strategy: str = "default"
    chunk_size: int = 1000
    chunk_overlap: int = 150


@strawberry.input(description="A document: a file as base64 (PDF, DOCX, HTML, Markdown, text, code) or plain text.")
class DocumentInput:
    filename: str
    content_base64: str | None = None
    text: str | None = None
    mime_type: str | None = None
    metadata: JSON | None = None


def _uploads(documents: list[DocumentInput]) -> list[Upload]:
    out = []
    for d in documents:
        if (d.content_base64 is None) == (d.text is None):
            raise UserError(f"Document {d.filename!r}: give exactly one of contentBase64 (a file) or text.")
        if d.text is not None:
            data = d.text.encode("utf-8")
        else:
            try:
                data = base64.b64decode(d.content_base64 or "", validate=True)
            except (binascii.Error, ValueError) as exc:
                raise UserError(f"Document {d.filename!r}: contentBase64 is not valid base64 ({exc}).") from exc
        meta = d.metadata or {}
        if not isinstance(meta, dict):
            raise UserError(f"Document {d.filename!r}: metadata must be a JSON object, e.g. {{\"team\": \"sales\"}}.")
        out.append(Upload(filename=d.filename, data=data, mime_type=d.mime_type, metadata=meta))
    return out


async def check_spec_notebooks(p: Platform, spec: AgentSpec) -> None:
    """Before saving an agent: its notebooks must exist (NotFoundError says which do not)."""
    if p.memory and spec.notebook_ids:
        await p.memory.notebook_repo.require(tenant_id=p.tenant_id, notebook_ids=spec.notebook_ids)


async def link_spec_notebooks(p: Platform, spec: AgentSpec, agent_id: str, version: int) -> None:
    """After saving an agent version: ``(:AgentVersion)-[:SEARCHES_NOTEBOOK]->(:Notebook)`` edges."""
    if p.memory and spec.notebook_ids:
        await p.memory.notebook_repo.link_agent_version(tenant_id=p.tenant_id, version_id=f"{agent_id}:v{version}",
                                                        notebook_ids=spec.notebook_ids)


@strawberry.type
class MemoryQuery:
    @strawberry.field(description="Notebooks of the tenant, most recently updated first.")
    async def notebooks(self, info: Info) -> list[Notebook]:
        p, m = _p(info)
        return [Notebook.from_record(n) for n in await m.notebook_repo.list(tenant_id=p.tenant_id)]

    @strawberry.field(description="One notebook with its documents and ingestion progress.")
    async def notebook(self, info: Info, id: strawberry.ID) -> Notebook:
        p, m = _p(info)
        return Notebook.from_record(await m.notebook_repo.get(tenant_id=p.tenant_id, notebook_id=str(id)))

    @strawberry.field(description="Hybrid search (vector + BM25, reciprocal rank fusion) of one notebook. Filters "
                                  "match chunk metadata exactly ({\"team\": \"sales\"}; lists mean any-of; "
                                  "documentId and filename too).")
    async def search_notebook(self, info: Info, notebook_id: str, query: str, top_k: int = 5,
                              min_similarity: float | None = None, filters: JSON | None = None,
                              vector_weight: float | None = None, bm25_weight: float | None = None) -> list[SearchHit]:
        p, m = _p(info)
        if filters is not None and not isinstance(filters, dict):
            raise UserError("filters must be a JSON object, e.g. {\"team\": \"sales\"}.")
        if filters and "documentId" in filters:
            filters = {("document_id" if k == "documentId" else k): v for k, v in filters.items()}
        hits = await m.notebooks.search(tenant_id=p.tenant_id, notebook_id=notebook_id, query=query, top_k=top_k,
                                        min_similarity=min_similarity, filters=filters,
                                        vector_weight=vector_weight, bm25_weight=bm25_weight)
        return [SearchHit.from_record(h) for h in hits]

    @strawberry.field(description="The caller's threads (optionally of one agent), most recent first.")
    async def threads(self, info: Info, agent_id: str | None = None, limit: int = 50) -> list[Thread]:
        p, m = _p(info)
        rows = await m.threads.list(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=agent_id, limit=limit)
        return [Thread.from_record(t) for t in rows]

    @strawberry.field(description="A thread's message history from the short-term memory (Redis checkpoints).")
    async def thread(self, info: Info, id: str) -> ThreadHistory:
        p, m = _p(info)
        t = await m.threads.get(tenant_id=p.tenant_id, thread_id=id)
        key = p.runs.thread_key(p.tenant_id, t.agent_id, id)
        tup = await p.runs.runner.checkpointer.aget_tuple({"configurable": {"thread_id": key}})
        raw = (tup.checkpoint.get("channel_values", {}).get("messages", []) if tup else []) or []
        msgs = []
        for om in convert_to_openai_messages(raw):
            content = om.get("content")
            if isinstance(content, list):
                content = " ".join(str(c.get("text", "")) if isinstance(c, dict) else str(c) for c in content)
            msgs.append(ThreadMessage(role=om.get("role", ""), content=str(content or ""), name=om.get("name"),
                                      tool_calls=om.get("tool_calls") or []))
        return ThreadHistory(thread=Thread.from_record(t), messages=msgs)

    @strawberry.field(description="The caller's long-term memories of an agent (semantic search when query is set).")
    async def memories(self, info: Info, agent_id: str, query: str | None = None, limit: int = 20) -> list[Memory]:
        p, m = _p(info)
        items = await m.long_term.recall(memory_namespace(p.tenant_id, p.user_id, agent_id), query, limit=limit)
        return [Memory(key=i.key, text=str(i.value.get("text", "")), kind=str(i.value.get("kind", "fact")),
                       score=i.score, updated_at=i.updated_at.isoformat()) for i in items]


@strawberry.type
class MemoryMutation:
    @strawberry.mutation(description="Create an empty notebook (strategies: default, markdown, code, sliding).")
    async def create_notebook(self, info: Info, name: str, description: str = "",
                              chunking: ChunkingInput | None = None) -> Notebook:
        p, m = _p(info)
        c = chunking or ChunkingInput()
        cfg = make_config(c.strategy, c.chunk_size, c.chunk_overlap)
        return Notebook.from_record(await m.notebooks.create(tenant_id=p.tenant_id, user_id=p.user_id, name=name,
                                                             description=description, chunking=cfg))

    @strawberry.mutation(description="Add or update documents; unchanged ones (same SHA-256) are skipped. "
                                     "Ingestion runs in the background: returns the receipts as queued/skipped.")
    async def add_documents(self, info: Info, notebook_id: str, documents: list[DocumentInput]) -> list[NotebookDocument]:
        p, m = _p(info)
        docs = await m.notebooks.add_documents(tenant_id=p.tenant_id, notebook_id=notebook_id,
                                               uploads=_uploads(documents))
        return [NotebookDocument.from_record(d) for d in docs]

    @strawberry.mutation(description="Make the notebook hold exactly these documents: new/modified ones are "
                                     "ingested, unchanged skipped, the others deleted with their chunks.")
    async def sync_notebook(self, info: Info, notebook_id: str, documents: list[DocumentInput]) -> list[NotebookDocument]:
        p, m = _p(info)
        docs = await m.notebooks.add_documents(tenant_id=p.tenant_id, notebook_id=notebook_id,
                                               uploads=_uploads(documents), sync=True)
        return [NotebookDocument.from_record(d) for d in docs]

    @strawberry.mutation(description="Delete one document and its chunks.")
    async def remove_document(self, info: Info, notebook_id: str, document_id: str) -> Notebook:
        p, m = _p(info)
        return Notebook.from_record(await m.notebooks.remove_document(tenant_id=p.tenant_id, notebook_id=notebook_id,
                                                                      doc_id=document_id))

    @strawberry.mutation(description="Delete a notebook, its documents and its dataset.")
    async def delete_notebook(self, info: Info, id: strawberry.ID) -> bool:
        p, m = _p(info)
        await m.notebooks.delete(tenant_id=p.tenant_id, notebook_id=str(id))
        return True

    @strawberry.mutation(description="Delete a thread's checkpointed history; its runs stay (audit) but it is "
                                     "no longer listed.")
    async def delete_thread(self, info: Info, id: str) -> bool:
        p, m = _p(info)
        t = await m.threads.get(tenant_id=p.tenant_id, thread_id=id)
        await p.runs.runner.checkpointer.adelete_thread(p.runs.thread_key(p.tenant_id, t.agent_id, id))
        await m.threads.mark_deleted(tenant_id=p.tenant_id, thread_id=id)
        return True

    @strawberry.mutation(description="Store a long-term memory for the caller and an agent; returns its key.")
    async def remember_memory(self, info: Info, agent_id: str, text: str) -> str:
        p, m = _p(info)
        await p.agents.get(tenant_id=p.tenant_id, agent_id=agent_id)
        return await m.long_term.remember(memory_namespace(p.tenant_id, p.user_id, agent_id), text, source="api")

    @strawberry.mutation(description="Delete one long-term memory (MEMORY_NOT_FOUND when absent).")
    async def forget_memory(self, info: Info, agent_id: str, key: str) -> bool:
        p, m = _p(info)
        await m.long_term.forget(memory_namespace(p.tenant_id, p.user_id, agent_id), key)
        return True


__all__ = ["MemoryQuery", "MemoryMutation", "check_spec_notebooks", "link_spec_notebooks"]
