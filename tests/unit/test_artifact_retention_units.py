"""Artifact retention without services: the S3 store's listing/deletion and the deletion order.

S3 cannot run here, so its four calls are faked in memory (botocore-shaped errors);
the run links are a recording stand-in of ``graph.ExecutionLifecycle.remove_artifact``.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from agentgraph.errors import NotFoundError
from runners import ArtifactInfo, ArtifactRetention, LocalArtifactStore, S3ArtifactStore, new_artifact_id, sha256_hex

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


class _FakeS3:
    """put/get/delete_object and the list_objects_v2 paginator, in memory; LastModified = put time."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.clock = NOW

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:  # noqa: N803
        self.objects[Key] = (Body, self.clock)

    def get_object(self, *, Bucket: str, Key: str) -> dict:  # noqa: N803
        from botocore.exceptions import ClientError

        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key][0])}

    def delete_object(self, *, Bucket: str, Key: str) -> None:  # noqa: N803
        self.objects.pop(Key, None)

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        fake = self

        class _P:
            def paginate(self, *, Bucket: str, Prefix: str):  # noqa: N803
                keys = sorted(k for k in fake.objects if k.startswith(Prefix))
                for i in range(0, len(keys), 2):  # two keys a page: pagination is exercised
                    yield {"Contents": [{"Key": k, "LastModified": fake.objects[k][1]} for k in keys[i:i + 2]]}

        return _P()


class _Links:
    """Records unlink calls into a shared event log."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def remove_artifact(self, *, tenant_id: str, execution_id: str, artifact_id: str) -> bool:
        self.log.append(f"unlink {artifact_id}")
        return True


def _info(tenant: str, age_days: float) -> ArtifactInfo:
    return ArtifactInfo(id=new_artifact_id(), tenant_id=tenant, execution_id="run_1", agent_id="a", name="r.csv",
                        format="csv", media_type="text/csv", bytes=1, sha256=sha256_hex(b"x"),
                        created_at=(NOW - timedelta(days=age_days)).isoformat(), url="/api/artifacts/x")


@pytest.mark.parametrize("backend", ["s3", "local"])
async def test_older_than_delete_and_link_first(backend: str, tmp_path) -> None:
    fake = _FakeS3()
    store = S3ArtifactStore(bucket="b", prefix="p", client=fake) if backend == "s3" else LocalArtifactStore(tmp_path)
    infos = [_info("t1", 40), _info("t2", 35), _info("t1", 3)]
    for info in infos:
        fake.clock = NOW - timedelta(days=(NOW - datetime.fromisoformat(info.created_at)).days)
        await store.put(info, b"x")
    cutoff = NOW - timedelta(days=30)
    assert sorted(i.id for i in await store.older_than(cutoff)) == sorted(i.id for i in infos[:2])  # both tenants

    log: list[str] = []
    original = store.delete

    async def delete(**kw) -> bool:
        log.append(f"delete {kw['artifact_id']}")
        return await original(**kw)

    store.delete = delete  # type: ignore[method-assign]
    ret = ArtifactRetention(store, _Links(log), retention_days=30)
    assert await ret.sweep(now=NOW) == 2
    for info in infos[:2]:  # the link goes before the file, for each artifact
        assert log.index(f"unlink {info.id}") < log.index(f"delete {info.id}")
        with pytest.raises(NotFoundError):
            await store.read(tenant_id=info.tenant_id, artifact_id=info.id)
    assert (await store.read(tenant_id="t1", artifact_id=infos[2].id))[1] == b"x"
    assert await store.older_than(cutoff) == []


async def test_days_zero_and_fractional_days(tmp_path) -> None:
    store = LocalArtifactStore(tmp_path)
    info = _info("t1", 0.5)  # twelve hours old
    await store.put(info, b"x")
    assert await ArtifactRetention(store, _Links([]), retention_days=0).sweep(now=NOW) == 0
    assert await ArtifactRetention(store, _Links([]), retention_days=1).sweep(now=NOW) == 0
    assert await ArtifactRetention(store, _Links([]), retention_days=0.25).sweep(now=NOW) == 1


def test_settings_default_and_bounds() -> None:
    from pydantic import ValidationError

    from agentgraph.settings import ArtifactSettings

    assert ArtifactSettings().retention_days == 30
    assert ArtifactSettings(retention_days=0).retention_days == 0
    with pytest.raises(ValidationError):
        ArtifactSettings(retention_days=-1)
