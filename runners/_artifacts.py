"""Artifact store: files created by producer agents (issue 7).

An artifact is stored as two objects under ``<tenant>/<artifact_id>/``: ``data`` (the
bytes) and ``meta.json`` (an :class:`ArtifactInfo`). The tenant is part of every key,
so reading an artifact as another tenant finds nothing (404, no hint it exists).

Backends behind the :class:`ArtifactStore` protocol:

* :class:`LocalArtifactStore` - a directory (default ``<data_dir>/artifacts``); files
  are written to a temporary name and renamed, so a reader never sees half a file.
* :class:`S3ArtifactStore` - any S3-compatible bucket through ``boto3`` (AWS, MinIO,
  Ceph...), credentials from the usual AWS environment/config chain.

:func:`build_artifact_store` picks one from ``Settings.artifacts``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agentgraph.errors import NotFoundError, ServiceUnavailableError

_ID = re.compile(r"^art_[0-9a-f]{32}$")
_TENANT_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class ArtifactInfo(BaseModel):
    """Metadata of one stored artifact (also the shape listed on an Execution).

    Attributes:
        bytes: size of the stored file in bytes.
        sha256: hex SHA-256 of the stored bytes.
        url: download path on the platform (``/api/artifacts/{id}``), relative to its base URL.
    """

    id: str
    tenant_id: str
    execution_id: str
    agent_id: str
    name: str = Field(..., description="File name with its extension, e.g. 'daily-report.pdf'.")
    format: str
    media_type: str
    bytes: int
    sha256: str
    created_at: str
    url: str

    def public(self) -> dict[str, Any]:
        """The fields linked from the Execution (no tenant)."""
        return self.model_dump(exclude={"tenant_id"})


def new_artifact_id() -> str:
    """An unguessable artifact id: ``art_`` + 32 hex digits (a UUID4, 122 random bits)."""
    return f"art_{uuid.uuid4().hex}"


def is_artifact_id(value: str) -> bool:
    """Whether ``value`` has the shape of an artifact id (checked before touching a store)."""
    return bool(_ID.match(value or ""))


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _tenant_key(tenant_id: str) -> str:
    # Tenant ids are slugs; anything else is hashed so it can never escape the store's root.
    return tenant_id if _TENANT_SAFE.match(tenant_id) and tenant_id not in (".", "..") else \
        "t-" + hashlib.sha256(tenant_id.encode()).hexdigest()[:32]


def _created(info: ArtifactInfo) -> datetime:
    """``info.created_at`` as an aware datetime (UTC when the string has no offset)."""
    at = datetime.fromisoformat(info.created_at)
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _not_found(artifact_id: str) -> NotFoundError:
    return NotFoundError(f"Artifact {artifact_id!r} does not exist.")


class ArtifactStore(Protocol):
    """Where artifacts live (one implementation per backend; see module docstring)."""

    async def put(self, info: ArtifactInfo, data: bytes) -> None:
        """Store ``data`` and its metadata. Raises ServiceUnavailableError when the backend fails."""
        ...

    async def info(self, *, tenant_id: str, artifact_id: str) -> ArtifactInfo:
        """Metadata of an artifact of the tenant. Raises NotFoundError (also for other tenants' ids)."""
        ...

    async def read(self, *, tenant_id: str, artifact_id: str) -> tuple[ArtifactInfo, bytes]:
        """Metadata and bytes. Raises NotFoundError like :meth:`info`."""
        ...

    async def delete(self, *, tenant_id: str, artifact_id: str) -> bool:
        """Delete the bytes and metadata (metadata first: a half-deleted artifact reads as unknown).

        Returns whether anything was there. Raises ServiceUnavailableError when the backend fails.
        """
        ...

    async def older_than(self, cutoff: datetime) -> list[ArtifactInfo]:
        """Artifacts of every tenant created before ``cutoff`` (aware datetime), for retention."""
        ...


class LocalArtifactStore:
    """Artifacts in a local directory (``<root>/<tenant>/<artifact_id>/{data,meta.json}``).

    Args:
        root: directory, created when missing.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _dir(self, tenant_id: str, artifact_id: str) -> Path:
        if not is_artifact_id(artifact_id):
            raise _not_found(artifact_id)
        return self.root / _tenant_key(tenant_id) / artifact_id

    async def put(self, info: ArtifactInfo, data: bytes) -> None:
        """Write the bytes, then the metadata (its presence marks a complete artifact)."""
        await asyncio.to_thread(self._put, info, data)

    def _put(self, info: ArtifactInfo, data: bytes) -> None:
        d = self._dir(info.tenant_id, info.id)
        try:
            d.mkdir(parents=True, exist_ok=True)
            for name, payload in (("data", data), ("meta.json", info.model_dump_json().encode())):
                fd, tmp = tempfile.mkstemp(dir=d, prefix=f".{name}.")
                with os.fdopen(fd, "wb") as f:
                    f.write(payload)
                os.replace(tmp, d / name)
        except OSError as exc:
            raise ServiceUnavailableError(f"The artifact store at {self.root} is not writable: {exc}") from exc

    async def info(self, *, tenant_id: str, artifact_id: str) -> ArtifactInfo:
        """See :meth:`ArtifactStore.info`."""
        return await asyncio.to_thread(self._info, tenant_id, artifact_id)

    def _info(self, tenant_id: str, artifact_id: str) -> ArtifactInfo:
        meta = self._dir(tenant_id, artifact_id) / "meta.json"
        try:
            info = ArtifactInfo.model_validate_json(meta.read_bytes())
        except FileNotFoundError:
            raise _not_found(artifact_id) from None
        if info.tenant_id != tenant_id:  # hashed tenant keys cannot collide in practice; be sure anyway
            raise _not_found(artifact_id)
        return info

    async def read(self, *, tenant_id: str, artifact_id: str) -> tuple[ArtifactInfo, bytes]:
        """See :meth:`ArtifactStore.read`."""
        def work() -> tuple[ArtifactInfo, bytes]:
            info = self._info(tenant_id, artifact_id)
            return info, (self._dir(tenant_id, artifact_id) / "data").read_bytes()

        return await asyncio.to_thread(work)

    async def delete(self, *, tenant_id: str, artifact_id: str) -> bool:
        """See :meth:`ArtifactStore.delete`."""
        def work() -> bool:
            d = self._dir(tenant_id, artifact_id)
            found = False
            for name in ("meta.json", "data"):  # metadata first: without it the artifact reads as unknown
                try:
                    (d / name).unlink()
                    found = True
                except FileNotFoundError:
                    pass
            shutil.rmtree(d, ignore_errors=True)  # leftovers of an interrupted put (.data.* temp files)
            return found

        try:
            return await asyncio.to_thread(work)
        except OSError as exc:
            raise ServiceUnavailableError(f"The artifact store at {self.root} is not writable: {exc}") from exc

    async def older_than(self, cutoff: datetime) -> list[ArtifactInfo]:
        """See :meth:`ArtifactStore.older_than` (reads every ``meta.json`` under the root)."""
        def work() -> list[ArtifactInfo]:
            out = []
            for meta in self.root.glob("*/art_*/meta.json"):
                try:
                    info = ArtifactInfo.model_validate_json(meta.read_bytes())
                except (OSError, ValueError):  # deleted meanwhile, or not ours
                    continue
                if _created(info) < cutoff:
                    out.append(info)
            return out

        return await asyncio.to_thread(work)


class S3ArtifactStore:
    """Artifacts in an S3-compatible bucket (``<prefix>/<tenant>/<artifact_id>/{data,meta.json}``).

    Args:
        bucket: bucket name (must exist).
        prefix: key prefix, e.g. ``agentgraph/artifacts``.
        endpoint_url: S3 API endpoint for non-AWS stores (MinIO: ``http://minio:9000``); None: AWS.
        region: region name; None: from the AWS configuration.
        client: a boto3 S3 client to use instead of creating one (tests).
    """

    def __init__(self, *, bucket: str, prefix: str = "artifacts", endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.client = client

    def _key(self, tenant_id: str, artifact_id: str, name: str) -> str:
        if not is_artifact_id(artifact_id):
            raise _not_found(artifact_id)
        return "/".join(p for p in (self.prefix, _tenant_key(tenant_id), artifact_id, name) if p)

    async def put(self, info: ArtifactInfo, data: bytes) -> None:
        """Upload the bytes, then the metadata."""
        def work() -> None:
            self.client.put_object(Bucket=self.bucket, Key=self._key(info.tenant_id, info.id, "data"), Body=data,
                                   ContentType=info.media_type)
            self.client.put_object(Bucket=self.bucket, Key=self._key(info.tenant_id, info.id, "meta.json"),
                                   Body=info.model_dump_json().encode(), ContentType="application/json")

        try:
            await asyncio.to_thread(work)
        except Exception as exc:  # botocore raises many types (ClientError, EndpointConnectionError...)
            raise ServiceUnavailableError(f"The artifact bucket {self.bucket!r} is not writable: {exc}") from exc

    def _get(self, key: str, artifact_id: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise _not_found(artifact_id) from None
            raise ServiceUnavailableError(f"The artifact bucket {self.bucket!r} is not readable: {exc}") from exc

    async def info(self, *, tenant_id: str, artifact_id: str) -> ArtifactInfo:
        """See :meth:`ArtifactStore.info`."""
        raw = await asyncio.to_thread(self._get, self._key(tenant_id, artifact_id, "meta.json"), artifact_id)
        info = ArtifactInfo.model_validate(json.loads(raw))
        if info.tenant_id != tenant_id:
            raise _not_found(artifact_id)
        return info

    async def read(self, *, tenant_id: str, artifact_id: str) -> tuple[ArtifactInfo, bytes]:
        """See :meth:`ArtifactStore.read`."""
        info = await self.info(tenant_id=tenant_id, artifact_id=artifact_id)
        data = await asyncio.to_thread(self._get, self._key(tenant_id, artifact_id, "data"), artifact_id)
        return info, data

    async def delete(self, *, tenant_id: str, artifact_id: str) -> bool:
        """See :meth:`ArtifactStore.delete` (S3 deletes of missing keys succeed: always True)."""
        def work() -> None:
            for name in ("meta.json", "data"):
                self.client.delete_object(Bucket=self.bucket, Key=self._key(tenant_id, artifact_id, name))

        try:
            await asyncio.to_thread(work)
        except Exception as exc:
            raise ServiceUnavailableError(f"The artifact bucket {self.bucket!r} is not writable: {exc}") from exc
        return True

    async def older_than(self, cutoff: datetime) -> list[ArtifactInfo]:
        """See :meth:`ArtifactStore.older_than` (lists ``meta.json`` keys; reads those modified before ``cutoff``)."""
        def work() -> list[ArtifactInfo]:
            out = []
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "")
            for page in pages:
                for obj in page.get("Contents") or []:
                    if not obj["Key"].endswith("/meta.json") or obj["LastModified"] >= cutoff:
                        continue
                    try:
                        info = ArtifactInfo.model_validate(json.loads(self._get(obj["Key"], obj["Key"])))
                    except (NotFoundError, ValueError):
                        continue
                    if _created(info) < cutoff:
                        out.append(info)
            return out

        return await asyncio.to_thread(work)


def build_artifact_store(settings: Any) -> ArtifactStore:
    """The store configured in ``settings.artifacts`` (S3 when ``s3_bucket`` is set, else a local directory).

    Args:
        settings: ``agentgraph.settings.Settings``.
    """
    cfg = settings.artifacts
    if cfg.s3_bucket:
        return S3ArtifactStore(bucket=cfg.s3_bucket, prefix=cfg.s3_prefix, endpoint_url=cfg.s3_endpoint_url,
                               region=cfg.s3_region)
    return LocalArtifactStore(cfg.root or Path(settings.data_dir) / "artifacts")


__all__ = ["ArtifactInfo", "ArtifactStore", "LocalArtifactStore", "S3ArtifactStore", "build_artifact_store",
           "is_artifact_id", "new_artifact_id", "sha256_hex"]
