"""Notebook ingestion survives a stop: documents left queued/processing are resumed.

Real graph (ArcadeDB), real DeepLake dataset on disk, real MiniLM embeddings. The
"crash" is a service stopped in the middle of a batch: one document completed, one
``processing`` (blocked in its embedding call, with a partial write already committed
to the dataset, as if the process died between two batch commits) and one ``queued``.
A second service on the same storage (a restarted process) must finish the batch
without duplicate or orphan chunks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from memory import NotebookService, Upload

BLOCK = "zebra-checkpoint"  # a text containing this blocks in the embedder of the first service
DOCS = {
    "a.md": "# Returns\n\nHardware can be returned within 30 days for a full refund.\n",
    "b.md": f"# Shipping\n\nExpress shipping takes one day. {BLOCK} Standard shipping takes a week.\n",
    "c.md": "# Warranty\n\nEvery laptop carries a two year warranty against defects.\n",
}


class _BlockingEmbedder:
    """The platform embedder, except that texts containing :data:`BLOCK` wait forever (a hung/killed process)."""

    def __init__(self, inner, started: asyncio.Event) -> None:
        self.inner = inner
        self.dimensions = inner.dimensions
        self.started = started

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if any(BLOCK in t for t in texts):
            self.started.set()
            await asyncio.Event().wait()
        return await self.inner.embed(texts)


async def _statuses(repo, tenant: str, nid: str) -> dict[str, str]:
    return {d.filename: d.status for d in await repo.list_documents(tenant_id=tenant, notebook_id=nid)}


async def test_ingestion_resumes_after_a_stop_without_duplicates(platform, tmp_path: Path) -> None:
    repo, tenant = platform.memory.notebook_repo, platform.tenant_id
    root, spool = str(tmp_path / "store"), str(tmp_path / "spool")
    blocked = asyncio.Event()
    first = NotebookService(repo=repo, embedder=_BlockingEmbedder(platform.embedder, blocked), storage_root=root,
                            spool_dir=spool, lease_s=0.6)
    nb = await first.create(tenant_id=tenant, user_id=None, name="Resume test")
    await first.add_documents(tenant_id=tenant, notebook_id=nb.id,
                              uploads=[Upload(filename=n, data=t.encode()) for n, t in DOCS.items()])
    await asyncio.wait_for(blocked.wait(), 120)
    assert await _statuses(repo, tenant, nb.id) == {"a.md": "completed", "b.md": "processing", "c.md": "queued"}
    # A partial write of b.md (its version's rows, committed before the "crash").
    b_doc = next(d for d in await repo.list_documents(tenant_id=tenant, notebook_id=nb.id) if d.filename == "b.md")
    idx = await first.index(nb)
    vec = np.zeros((1, idx.dims), dtype=np.float32)
    vec[0, 0] = 1.0
    idx.ds.append({"chunk_id": [f"{b_doc.id}:{b_doc.content_hash[:12]}:0"], "doc_id": [b_doc.id],
                   "filename": ["b.md"], "content_hash": [b_doc.content_hash], "chunk_index": np.array([0], np.int32),
                   "text": ["partial"], "meta": [{}], "embedding": vec})
    idx.ds.commit("partial batch")
    await first.aclose()  # the process stops: b.md stays processing, c.md queued
    assert await _statuses(repo, tenant, nb.id) == {"a.md": "completed", "b.md": "processing", "c.md": "queued"}
    spooled = sorted(p.name.split("-")[0] for p in (Path(spool) / nb.id).iterdir())
    assert spooled == sorted([b_doc.id, next(d.id for d in await repo.list_documents(
        tenant_id=tenant, notebook_id=nb.id) if d.filename == "c.md")])

    # The restarted process (new service, same storage and spool).
    second = NotebookService(repo=repo, embedder=platform.embedder, storage_root=root, spool_dir=spool, lease_s=0.6)
    try:
        await asyncio.sleep(0.8)  # the first service's lease expires
        assert await second.resume() == 2
        await second.wait_idle(nb.id)
        docs = {d.filename: d for d in await repo.list_documents(tenant_id=tenant, notebook_id=nb.id)}
        assert {n: d.status for n, d in docs.items()} == {"a.md": "completed", "b.md": "completed", "c.md": "completed"}
        idx2 = await second.index(nb)
        ids = [str(c) for c in idx2.ds["chunk_id"][:]]
        assert len(ids) == len(set(ids)), "duplicate chunks after resume"
        assert "partial" not in [str(t) for t in idx2.ds["text"][:]]
        assert idx2.document_chunks() == {d.id: d.chunk_count for d in docs.values()}
        final = await repo.get(tenant_id=tenant, notebook_id=nb.id)
        assert final.status == "completed" and final.index_health == "ok", final
        assert final.chunk_count == sum(d.chunk_count for d in docs.values())
        hits = await second.search(tenant_id=tenant, notebook_id=nb.id, query="how long does express shipping take")
        assert hits and hits[0].filename == "b.md"
        assert not list((Path(spool) / nb.id).iterdir()), "spooled uploads must be removed once ingested"
        assert await second.resume() == 0  # nothing pending any more
    finally:
        await second.aclose()
        await second.delete(tenant_id=tenant, notebook_id=nb.id)


async def test_resume_leaves_a_running_ingestion_alone(platform, tmp_path: Path) -> None:
    repo, tenant = platform.memory.notebook_repo, platform.tenant_id
    root, spool = str(tmp_path / "store"), str(tmp_path / "spool")
    blocked = asyncio.Event()
    running = NotebookService(repo=repo, embedder=_BlockingEmbedder(platform.embedder, blocked), storage_root=root,
                              spool_dir=spool, lease_s=0.6)
    other = NotebookService(repo=repo, embedder=platform.embedder, storage_root=root, spool_dir=spool, lease_s=0.6)
    nb = await running.create(tenant_id=tenant, user_id=None, name="Live ingestion")
    try:
        await running.add_documents(tenant_id=tenant, notebook_id=nb.id,
                                    uploads=[Upload(filename="b.md", data=DOCS["b.md"].encode())])
        await asyncio.wait_for(blocked.wait(), 120)
        await asyncio.sleep(1.0)  # longer than the lease: only the heartbeat keeps it
        assert await other.resume() == 0
        assert await _statuses(repo, tenant, nb.id) == {"b.md": "processing"}
    finally:
        await running.aclose()
        await other.aclose()
        await other.delete(tenant_id=tenant, notebook_id=nb.id)


async def test_lost_upload_fails_with_a_reason(platform, tmp_path: Path) -> None:
    repo, tenant = platform.memory.notebook_repo, platform.tenant_id
    root, spool = str(tmp_path / "store"), tmp_path / "spool"
    blocked = asyncio.Event()
    first = NotebookService(repo=repo, embedder=_BlockingEmbedder(platform.embedder, blocked), storage_root=root,
                            spool_dir=str(spool), lease_s=0.3)
    nb = await first.create(tenant_id=tenant, user_id=None, name="Lost upload")
    await first.add_documents(tenant_id=tenant, notebook_id=nb.id,
                              uploads=[Upload(filename="b.md", data=DOCS["b.md"].encode())])
    await asyncio.wait_for(blocked.wait(), 120)
    await first.aclose()
    for p in (spool / nb.id).iterdir():
        p.unlink()
    second = NotebookService(repo=repo, embedder=platform.embedder, storage_root=root, spool_dir=str(spool),
                             lease_s=0.3)
    try:
        await asyncio.sleep(0.5)
        assert await second.resume() == 0
        [doc] = await repo.list_documents(tenant_id=tenant, notebook_id=nb.id)
        assert doc.status == "failed" and "upload the file again" in (doc.error or "")
    finally:
        await second.aclose()
        await second.delete(tenant_id=tenant, notebook_id=nb.id)
