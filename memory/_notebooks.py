"""Notebooks: create, ingest (in the background), sync, search.

Ingestion is a manifest and its receipt. :meth:`NotebookService.add_documents`
records every upload as a Document node right away (status ``queued``, or
``skipped`` when its SHA-256 equals the completed version's), then an asyncio task
works through the queue: ``processing`` -> parse -> chunk -> embed -> write to the
notebook's DeepLake dataset -> ``completed`` (or ``failed`` with the reason). When
the batch is done the Notebook node gets its counters, ``last_sync``, index health
and status: ``completed`` (no failure), ``partial`` (some failed) or ``failed``
(all failed). A failed document never touches the dataset, so the notebook stays
consistent and searchable. Tasks run in the API process (a job queue replaces
them with issue 6); a per-notebook lock serialises batches of one notebook.

This module imports ``graph`` (its sibling layer) for the Notebook/Document nodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentgraph.errors import NotFoundError, UserError
from graph import Document, Notebook, NotebookRepository, now_iso

from memory._chunking import ChunkingConfig, chunk_text, make_config
from memory._embeddings import Embedder
from memory._notebook_index import NotebookIndex, SearchHit
from memory._parsing import MAX_DOCUMENT_BYTES, DocumentError, parse_document

log = logging.getLogger("agentgraph.notebooks")
_SLUG = re.compile(r"[^a-z0-9]+")
MAX_QUERY_CHARS = 2000


@dataclass
class Upload:
    """One document to add: a file's bytes (or text encoded as UTF-8) and its name.

    Attributes:
        filename: the document's name in the notebook (unique per notebook; same name = same document).
        data: file content.
        mime_type: optional MIME type (used when the extension is unknown).
        metadata: user metadata copied onto every chunk (filterable in search).
    """

    filename: str
    data: bytes
    mime_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotebookProgress:
    """Ingestion progress: document counts per status and the done fraction in [0, 1]."""

    total: int
    counts: dict[str, int]

    @property
    def done(self) -> float:
        """Share of documents in a final state (completed, skipped, failed)."""
        finished = sum(self.counts.get(s, 0) for s in ("completed", "skipped", "failed"))
        return finished / self.total if self.total else 1.0


def document_id(notebook_id: str, filename: str) -> str:
    """Stable Document id for a file name in a notebook (``doc_<12 hex>``)."""
    return "doc_" + hashlib.sha1(f"{notebook_id}/{filename}".encode()).hexdigest()[:12]


class NotebookService:
    """Notebook lifecycle over the graph (manifest) and DeepLake (chunks).

    Args:
        repo: Notebook/Document repository.
        embedder: sentence embedder (all-MiniLM-L6-v2, 384 dimensions, by default).
        storage_root: directory or bucket path; datasets go to ``<root>/notebooks/<id>``.
        max_document_bytes: upload limit per document (default 20 MiB).
        embed_batch: chunks per embedding call (64 keeps one call under ~0.5 s on 2 cores).
        vector_weight / bm25_weight: default RRF weights of searches.
    """

    def __init__(self, *, repo: NotebookRepository, embedder: Embedder, storage_root: str,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES, embed_batch: int = 64,
                 vector_weight: float = 1.0, bm25_weight: float = 1.0) -> None:
        self.repo = repo
        self.embedder = embedder
        self.root = storage_root.rstrip("/")
        self.max_document_bytes = max_document_bytes
        self.embed_batch = embed_batch
        self.vector_weight = vector_weight
        self.bm25_weight = bm25_weight
        self._indexes: dict[str, NotebookIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, set[asyncio.Task]] = {}

    # --- notebooks --------------------------------------------------------------------------------
    async def create(self, *, tenant_id: str, user_id: str | None, name: str, description: str = "",
                     chunking: ChunkingConfig | None = None) -> Notebook:
        """Create an empty notebook and its dataset.

        Raises:
            UserError: blank name; ConflictError: id taken.
        """
        name = (name or "").strip()
        if not name:
            raise UserError("A notebook needs a name, e.g. 'Product manuals'.")
        chunking = chunking or make_config()
        nid = f"{_SLUG.sub('-', name.lower()).strip('-')[:40] or 'notebook'}-{uuid.uuid4().hex[:6]}"
        [embedding] = await self.embedder.embed([f"{name}. {description}".strip()])
        path = f"{self.root}/notebooks/{nid}"
        await asyncio.to_thread(self._open_index, nid, path)
        return await self.repo.create(tenant_id=tenant_id, notebook_id=nid, name=name, description=description,
                                      chunking=chunking.model_dump(mode="json"), storage_path=path,
                                      embedding=embedding, created_by=user_id)

    async def delete(self, *, tenant_id: str, notebook_id: str) -> None:
        """Delete a notebook, its documents and its dataset (pending ingestion is cancelled)."""
        nb = await self.repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
        for task in list(self._tasks.get(notebook_id, ())):
            task.cancel()
        await self.repo.delete(tenant_id=tenant_id, notebook_id=notebook_id)
        self._indexes.pop(notebook_id, None)
        await asyncio.to_thread(_remove_dataset, nb.storage_path)

    def _open_index(self, notebook_id: str, path: str) -> NotebookIndex:
        idx = self._indexes.get(notebook_id)
        if idx is None:
            idx = self._indexes[notebook_id] = NotebookIndex(path, dims=self.embedder.dimensions)
        return idx

    async def index(self, notebook: Notebook) -> NotebookIndex:
        """The notebook's open dataset (opened once per process)."""
        return await asyncio.to_thread(self._open_index, notebook.id, notebook.storage_path)

    # --- documents --------------------------------------------------------------------------------
    async def add_documents(self, *, tenant_id: str, notebook_id: str, uploads: list[Upload],
                            sync: bool = False) -> list[Document]:
        """Record uploads and ingest them in the background.

        Args:
            uploads: documents to add or update (file names unique within the call).
            sync: the uploads are the notebook's complete set: documents not among them are deleted
                (with their chunks).

        Returns:
            the Document receipts as recorded now (``queued`` or ``skipped``); poll the notebook for progress.

        Raises:
            NotFoundError: unknown notebook. UserError: no uploads (without ``sync``) or duplicate names.
        """
        nb = await self.repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
        names = [u.filename.strip() for u in uploads]
        if not uploads and not sync:
            raise UserError("Add at least one document (a file upload or text).")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes or any(not n for n in names):
            raise UserError(f"Each document needs a unique, non-empty file name; repeated: {', '.join(dupes) or '(blank)'}.")
        existing = {d.id: d for d in await self.repo.list_documents(tenant_id=tenant_id, notebook_id=notebook_id)}
        receipts: list[Document] = []
        jobs: list[tuple[Document, Upload]] = []
        for up in uploads:
            did = document_id(notebook_id, up.filename.strip())
            digest = hashlib.sha256(up.data).hexdigest()
            old = existing.get(did)
            unchanged = old is not None and old.content_hash == digest and old.status in ("completed", "skipped")
            doc = await self.repo.upsert_document(
                tenant_id=tenant_id, notebook_id=notebook_id, doc_id=did, filename=up.filename.strip(),
                mime_type=up.mime_type, content_hash=digest, size_bytes=len(up.data),
                status="skipped" if unchanged else "queued", metadata=up.metadata)
            if unchanged:
                doc = await self.repo.set_document(tenant_id=tenant_id, doc_id=did, chunk_count=old.chunk_count,
                                                   format=old.format)
            else:
                jobs.append((doc, up))
            receipts.append(doc)
        removed = [d for did, d in existing.items() if sync and did not in {r.id for r in receipts}]
        await self.repo.update(tenant_id=tenant_id, notebook_id=notebook_id, status="ingesting")
        task = asyncio.create_task(self._ingest(tenant_id, nb, jobs, removed), name=f"ingest:{notebook_id}")
        self._tasks.setdefault(notebook_id, set()).add(task)
        task.add_done_callback(lambda t: self._tasks.get(notebook_id, set()).discard(t))
        return receipts

    async def remove_document(self, *, tenant_id: str, notebook_id: str, doc_id: str) -> Notebook:
        """Delete a document and its chunks; returns the notebook with fresh counters.

        Raises:
            NotFoundError: unknown notebook or document.
        """
        nb = await self.repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
        docs = {d.id: d for d in await self.repo.list_documents(tenant_id=tenant_id, notebook_id=notebook_id)}
        if doc_id not in docs:
            raise NotFoundError(f"Document {doc_id!r} is not in notebook {notebook_id!r}; list its documents first.")
        async with self._lock(notebook_id):
            idx = await self.index(nb)
            await asyncio.to_thread(idx.delete_document, doc_id)
            await self.repo.delete_document(tenant_id=tenant_id, doc_id=doc_id)
            return await self._finalise(tenant_id, nb)

    def _lock(self, notebook_id: str) -> asyncio.Lock:
        return self._locks.setdefault(notebook_id, asyncio.Lock())

    async def wait_idle(self, notebook_id: str, timeout_s: float = 300.0) -> None:
        """Wait until no ingestion task of the notebook is running (tests, CLI ``--wait``)."""
        tasks = list(self._tasks.get(notebook_id, ()))
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout_s)

    async def _ingest(self, tenant_id: str, nb: Notebook, jobs: list[tuple[Document, Upload]],
                      removed: list[Document]) -> None:
        async with self._lock(nb.id):
            idx = await self.index(nb)
            for doc in removed:
                await asyncio.to_thread(idx.delete_document, doc.id)
                await self.repo.delete_document(tenant_id=tenant_id, doc_id=doc.id)
            config = ChunkingConfig.model_validate(nb.chunking or {})
            for doc, up in jobs:
                await self.repo.set_document(tenant_id=tenant_id, doc_id=doc.id, status="processing")
                try:
                    n, fmt = await self._ingest_one(idx, nb, doc, up, config)
                except DocumentError as exc:
                    await self.repo.set_document(tenant_id=tenant_id, doc_id=doc.id, status="failed",
                                                 error=exc.message, chunk_count=0)
                    await asyncio.to_thread(idx.delete_document, doc.id)  # an older version must not linger
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one bad document must not stop the batch
                    log.exception("ingesting %s failed", doc.id)
                    await self.repo.set_document(tenant_id=tenant_id, doc_id=doc.id, status="failed", chunk_count=0,
                                                 error=f"Internal error while indexing ({type(exc).__name__}: {exc}); "
                                                       "retry the upload, and check the server log if it persists.")
                else:
                    await self.repo.set_document(tenant_id=tenant_id, doc_id=doc.id, status="completed", error=None,
                                                 chunk_count=n, format=fmt)
            await self._finalise(tenant_id, nb)

    async def _ingest_one(self, idx: NotebookIndex, nb: Notebook, doc: Document, up: Upload,
                          config: ChunkingConfig) -> tuple[int, str]:
        parsed = await asyncio.to_thread(parse_document, up.filename, up.data, up.mime_type,
                                         max_bytes=self.max_document_bytes)
        chunks = chunk_text(parsed.text, config, language=parsed.language)
        if not chunks:
            raise DocumentError(f"{up.filename!r} produced no chunks; it contains only whitespace.")
        vectors: list[list[float]] = []
        for start in range(0, len(chunks), self.embed_batch):
            vectors += await self.embedder.embed([c.text for c in chunks[start:start + self.embed_batch]])
        meta = [{**up.metadata, **c.metadata, "format": parsed.format} for c in chunks]
        await asyncio.to_thread(idx.add_document, doc_id=doc.id, filename=doc.filename,
                                content_hash=doc.content_hash, texts=[c.text for c in chunks],
                                embeddings=np.asarray(vectors, dtype=np.float32), metadata=meta)
        return len(chunks), parsed.format

    async def _finalise(self, tenant_id: str, nb: Notebook) -> Notebook:
        """Reconcile graph and dataset (drop orphan chunks), then store counters, health and status."""
        idx = await self.index(nb)
        docs = await self.repo.list_documents(tenant_id=tenant_id, notebook_id=nb.id)
        known = {d.id for d in docs}
        for orphan in set(await asyncio.to_thread(idx.document_chunks)) - known:
            await asyncio.to_thread(idx.delete_document, orphan)
        per_doc = await asyncio.to_thread(idx.document_chunks)
        failed = sum(d.status == "failed" for d in docs)
        ok = sum(d.status in ("completed", "skipped") for d in docs)
        pending = sum(d.status in ("queued", "processing") for d in docs)
        status = ("ingesting" if pending else "empty" if not docs else "failed" if failed and not ok
                  else "partial" if failed else "completed")
        health = await asyncio.to_thread(idx.health)
        expected = sum(d.chunk_count for d in docs if d.status in ("completed", "skipped"))
        if health == "ok" and expected != sum(per_doc.values()):
            health = f"inconsistent: {sum(per_doc.values())} chunks indexed, {expected} expected; re-sync the notebook"
        return await self.repo.update(tenant_id=tenant_id, notebook_id=nb.id, status=status, document_count=len(docs),
                                      chunk_count=sum(per_doc.values()), last_sync=now_iso(), index_health=health)

    async def progress(self, *, tenant_id: str, notebook_id: str) -> NotebookProgress:
        """Document counts per status for a notebook."""
        docs = await self.repo.list_documents(tenant_id=tenant_id, notebook_id=notebook_id)
        counts: dict[str, int] = {}
        for d in docs:
            counts[d.status] = counts.get(d.status, 0) + 1
        return NotebookProgress(total=len(docs), counts=counts)

    # --- search -----------------------------------------------------------------------------------
    async def search(self, *, tenant_id: str, notebook_id: str, query: str, top_k: int = 5,
                     min_similarity: float | None = None, filters: dict[str, Any] | None = None,
                     vector_weight: float | None = None, bm25_weight: float | None = None) -> list[SearchHit]:
        """Hybrid search of one notebook (vector + BM25, fused by RRF; see ``NotebookIndex.search``).

        Raises:
            NotFoundError: unknown notebook. UserError: empty/oversized query, top_k outside 1..100, bad filters.
        """
        query = (query or "").strip()
        if not query:
            raise UserError("The search query is empty; type what you are looking for.")
        if len(query) > MAX_QUERY_CHARS:
            raise UserError(f"The search query has {len(query)} characters; the limit is {MAX_QUERY_CHARS}.")
        if not 1 <= top_k <= 100:
            raise UserError(f"top_k must be between 1 and 100, got {top_k}.")
        nb = await self.repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
        idx = await self.index(nb)
        [qvec] = await self.embedder.embed([query])
        return await asyncio.to_thread(
            idx.search, np.asarray(qvec, dtype=np.float32), query, top_k=top_k, min_similarity=min_similarity,
            filters=filters, vector_weight=self.vector_weight if vector_weight is None else vector_weight,
            bm25_weight=self.bm25_weight if bm25_weight is None else bm25_weight)

    async def aclose(self) -> None:
        """Cancel running ingestion tasks (documents stay ``processing``/``queued``; re-upload to resume)."""
        tasks = [t for ts in self._tasks.values() for t in ts]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _remove_dataset(path: str) -> None:
    if "://" not in path:
        shutil.rmtree(Path(path), ignore_errors=True)
        return
    import deeplake

    try:
        deeplake.delete(path)
    except Exception:  # already gone, or the bucket refuses: the graph no longer references it
        log.warning("could not delete dataset %s", path, exc_info=True)


__all__ = ["NotebookService", "NotebookProgress", "Upload", "document_id"]
