"""Artifact retention and deletion (issue 7, helper V): real graph, a local store in a temp dir.

The sweep deletes artifacts older than ``retention_days`` (link on the run first, then
the file), keeps newer ones, does nothing with ``retention_days = 0``, and finishes a
deletion interrupted between the two steps on its next pass.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agentgraph.errors import NotFoundError, ServiceUnavailableError
from agentgraph.spec import AgentSpec
from runners import ArtifactInfo, ArtifactRetention, LocalArtifactStore, new_artifact_id, sha256_hex

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


async def _run_with_artifacts(p, store, ages_days: list[float]) -> tuple[str, list[str]]:
    spec = AgentSpec(name="Report maker", description="d", system_prompt="p")
    aid = f"ret-{id(store) % 100000}-{len(ages_days)}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id,
                          publish=True)
    e = await p.runs.lifecycle.start(tenant_id=p.tenant_id, agent_id=aid, version=1, thread_id=f"t-{aid}",
                                     input="make it", triggered_by=p.user_id)
    ids = []
    for age in ages_days:
        data = f"report {age}".encode()
        info = ArtifactInfo(id=new_artifact_id(), tenant_id=p.tenant_id, execution_id=e.id, agent_id=aid,
                            name="r.md", format="md", media_type="text/markdown", bytes=len(data),
                            sha256=sha256_hex(data), created_at=(NOW - timedelta(days=age)).isoformat(),
                            url="/api/artifacts/x")
        await store.put(info, data)
        await p.runs.lifecycle.add_artifact(tenant_id=p.tenant_id, execution_id=e.id, artifact=info.public())
        ids.append(info.id)
    return e.id, ids


async def _linked(p, eid: str) -> list[str]:
    return [a["id"] for a in (await p.executions.get(tenant_id=p.tenant_id, execution_id=eid)).artifacts]


async def _exists(store, tenant_id: str, artifact_id: str) -> bool:
    try:
        await store.read(tenant_id=tenant_id, artifact_id=artifact_id)
        return True
    except NotFoundError:
        return False


async def test_sweep_deletes_expired_links_and_files(platform, tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    eid, (old, fresh) = await _run_with_artifacts(platform, store, [31, 29])
    ret = ArtifactRetention(store, platform.runs.lifecycle, retention_days=30)
    assert await ret.sweep(now=NOW) == 1
    assert await _linked(platform, eid) == [fresh]
    assert not await _exists(store, platform.tenant_id, old)
    assert await _exists(store, platform.tenant_id, fresh)
    assert not (tmp_path / platform.tenant_id / old).exists()  # no leftovers on disk
    assert await ret.sweep(now=NOW) == 0  # idempotent


async def test_zero_keeps_forever(platform, tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    eid, ids = await _run_with_artifacts(platform, store, [3650])
    ret = ArtifactRetention(store, platform.runs.lifecycle, retention_days=0)
    assert await ret.sweep(now=NOW) == 0
    ret.start()
    assert not ret._loop.running  # no loop at all when nothing expires
    assert await _linked(platform, eid) == ids and await _exists(store, platform.tenant_id, ids[0])


class _FailingDelete(LocalArtifactStore):
    fail = True

    async def delete(self, *, tenant_id: str, artifact_id: str) -> bool:
        if self.fail:
            raise ServiceUnavailableError("disk gone")
        return await super().delete(tenant_id=tenant_id, artifact_id=artifact_id)


async def test_interrupted_deletion_leaves_no_link_and_is_finished_next_time(platform, tmp_path: Path) -> None:
    store = _FailingDelete(tmp_path)
    eid, [old] = await _run_with_artifacts(platform, store, [40])
    ret = ArtifactRetention(store, platform.runs.lifecycle, retention_days=30)
    assert await ret.sweep(now=NOW) == 0  # the file delete failed...
    assert await _linked(platform, eid) == []  # ...but the link went first: nothing to download
    assert await _exists(store, platform.tenant_id, old)
    store.fail = False
    assert await ret.sweep(now=NOW) == 1  # found again from the store, finished
    assert not await _exists(store, platform.tenant_id, old)


async def test_delete_one_artifact(platform, tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    eid, (a, b) = await _run_with_artifacts(platform, store, [1, 2])
    ret = ArtifactRetention(store, platform.runs.lifecycle, retention_days=30)
    assert (await ret.delete(tenant_id=platform.tenant_id, artifact_id=a)).id == a
    assert await _linked(platform, eid) == [b]
    assert not await _exists(store, platform.tenant_id, a)
    with pytest.raises(NotFoundError):
        await ret.delete(tenant_id=platform.tenant_id, artifact_id=a)
    with pytest.raises(NotFoundError):  # another tenant's id reads as unknown
        await ret.delete(tenant_id="other-tenant", artifact_id=b)
    assert await _linked(platform, eid) == [b]
