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

Restarts: each queued upload's bytes are spooled to ``<spool_dir>/<notebook_id>/<doc_id>-<sha256>``
(a local directory) before its receipt says ``queued``, and removed once the document is
``completed`` or ``failed``. :meth:`NotebookService.resume` (called at platform start) picks up
every document left ``queued``/``processing`` by a stopped process and ingests it again from
the spool. Several processes share the graph (API, ``agentgraph worker``), so a running
ingestion holds a lease on its documents (``lease_until``, renewed every ``lease_s / 3``);
only documents whose lease expired and that were not updated for ``lease_s`` are claimed
(one graph write, so two processes never take the same one) and resumed
(:meth:`NotebookService.start_resumer` re-checks every ``lease_s / 2``). The index removes
rows of the same version left by the interrupted run, so nothing is duplicated, and
``_finalise`` removes chunks of documents no longer in the graph (no orphans). A document
whose spooled bytes are gone fails with a reason (upload it again).

This module imports ``graph`` (its sibling layer) for the Notebook/Document nodes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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
        spool_dir: local directory keeping queued uploads until ingested (resume after a restart);
            default ``<storage_root>/notebook-uploads`` for a local root, else a directory under the
            system temp dir (give a persistent one with bucket roots).
        lease_s: how long an ingestion owns its pending documents without renewing (default 120 s,
            renewed every ``lease_s / 3``); after a crash they are resumed once it expired.
    """

    def __init__(self, *, repo: NotebookRepository, embedder: Embedder, storage_root: str,
                 max_document_bytes: int = MAX_DOCUMENT_BYTES, embed_batch: int = 64,
                 vector_weight: float = 1.0, bm25_weight: float = 1.0, spool_dir: str | None = None,
                 lease_s: float = 120.0) -> None:
        self.repo = repo
        self.embedder = embedder
        self.root = storage_root.rstrip("/")
        self.max_document_bytes = max_document_bytes
        self.embed_batch = embed_batch
        self.vector_weight = vector_weight
        self.bm25_weight = bm25_weight
        if spool_dir is None:
            spool_dir = (f"{self.root}/notebook-uploads" if "://" not in self.root
                         else os.path.join(tempfile.gettempdir(), "agentgraph-notebook-uploads"))
        self.spool = Path(spool_dir)
        self.lease_s = lease_s
        self._resumer: asyncio.Task | None = None
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
        await asyncio.to_thread(shutil.rmtree, self.spool / notebook_id, True)

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
            if not unchanged:  # spooled before the receipt says queued, so a restart can resume it
                await asyncio.to_thread(self._spool_write, notebook_id, did, digest, up.data)
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
        self._start(tenant_id, nb, jobs, removed)
        return receipts

    def _start(self, tenant_id: str, nb: Notebook, jobs: list[tuple[Document, Upload]],
               removed: list[Document]) -> None:
        task = asyncio.create_task(self._ingest(tenant_id, nb, jobs, removed), name=f"ingest:{nb.id}")
        self._tasks.setdefault(nb.id, set()).add(task)
        task.add_done_callback(lambda t: self._tasks.get(nb.id, set()).discard(t))

    async def resume(self) -> int:
        """Re-start ingestion of documents left ``queued``/``processing`` by a stopped process.

        Each notebook's pending documents are ingested again from the spool (see module docstring);
        a document without spooled bytes is marked ``failed`` with how to fix it.

        Returns:
            how many documents were queued again.
        """
        pending = await self.repo.pending_documents()
        stale = (datetime.now(timezone.utc) - timedelta(seconds=self.lease_s)).isoformat(timespec="milliseconds")
        now = now_iso()
        groups: dict[tuple[str, str], list[Document]] = {}
        for doc in pending:
            if self._tasks.get(doc.notebook_id):
                continue  # this process is ingesting that notebook already
            if (doc.lease_until or "") > now or doc.updated_at > stale:
                continue  # another process owns it (lease), or it was queued a moment ago
            groups.setdefault((doc.tenant_id, doc.notebook_id), []).append(doc)
        resumed = 0
        for (tenant_id, notebook_id), docs in groups.items():
            try:
                nb = await self.repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
            except NotFoundError:
                continue
            until = (datetime.now(timezone.utc) + timedelta(seconds=self.lease_s)).isoformat(timespec="milliseconds")
            claimed = set(await self.repo.claim_documents(doc_ids=[d.id for d in docs], now=now, until=until))
            jobs: list[tuple[Document, Upload]] = []
            for doc in (d for d in docs if d.id in claimed):
                data = await asyncio.to_thread(self._spool_read, notebook_id, doc.id, doc.content_hash)
                if data is None:
                    await self.repo.set_document(
                        tenant_id=tenant_id, doc_id=doc.id, status="failed", chunk_count=0,
                        error="The upload was lost when the server stopped before indexing it; upload the file again.")
                    continue
                jobs.append((doc, Upload(filename=doc.filename, data=data, mime_type=doc.mime_type,
                                         metadata=doc.metadata)))
            if not claimed:
                continue
            log.info("resuming ingestion of %d document(s) of notebook %s", len(jobs), notebook_id)
            self._start(tenant_id, nb, jobs, [])  # with no job left it only refreshes the notebook's status
            resumed += len(jobs)
        return resumed

    def start_resumer(self) -> None:
        """Run :meth:`resume` now and every ``lease_s / 2`` in the background until :meth:`aclose`."""
        if self._resumer is None:
            self._resumer = asyncio.create_task(self._resume_loop(), name="notebook-resumer")

    async def _resume_loop(self) -> None:
        while True:
            try:
                await self.resume()
            except asyncio.CancelledError:
                raise
            except Exception:  # the graph may be briefly unavailable; try again next round
                log.warning("resuming pending notebook documents failed", exc_info=True)
            await asyncio.sleep(max(self.lease_s / 2, 0.5))

    async def _heartbeat(self, doc_ids: list[str]) -> None:
        while True:
            until = (datetime.now(timezone.utc) + timedelta(seconds=self.lease_s)).isoformat(timespec="milliseconds")
            try:
                await self.repo.lease_documents(doc_ids=doc_ids, until=until)
            except Exception:  # a missed renewal only risks a duplicate (idempotent) ingestion
                log.warning("renewing the ingestion lease failed", exc_info=True)
            await asyncio.sleep(self.lease_s / 3)

    def _spool_path(self, notebook_id: str, doc_id: str, content_hash: str) -> Path:
        return self.spool / notebook_id / f"{doc_id}-{content_hash}"

    def _spool_write(self, notebook_id: str, doc_id: str, content_hash: str, data: bytes) -> None:
        path = self._spool_path(notebook_id, doc_id, content_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a spooled file is always complete

    def _spool_read(self, notebook_id: str, doc_id: str, content_hash: str) -> bytes | None:
        try:
            return self._spool_path(notebook_id, doc_id, content_hash).read_bytes()
        except FileNotFoundError:
            return None

    def _spool_drop(self, notebook_id: str, doc_id: str, content_hash: str) -> None:
        self._spool_path(notebook_id, doc_id, content_hash).unlink(missing_ok=True)

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
        heartbeat = asyncio.create_task(self._heartbeat([d.id for d, _ in jobs])) if jobs else None
        try:
            await self._ingest_locked(tenant_id, nb, jobs, removed)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()

    async def _ingest_locked(self, tenant_id: str, nb: Notebook, jobs: list[tuple[Document, Upload]],
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
                await asyncio.to_thread(self._spool_drop, nb.id, doc.id, doc.content_hash)
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
        """Cancel running ingestion tasks (documents stay ``processing``/``queued``; :meth:`resume` restarts them)."""
        tasks = [t for ts in self._tasks.values() for t in ts] + ([self._resumer] if self._resumer else [])
        self._resumer = None
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
