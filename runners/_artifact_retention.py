"""Artifact retention and deletion (issue 7): expired files leave the store and their runs.

``artifacts.retention_days`` (default 30; 0 keeps artifacts forever) bounds how long a
producer agent's file is kept. :class:`ArtifactRetention` sweeps the store every
``interval_s`` (a :class:`runners._periodic.Periodic` loop) and deletes each artifact
created before ``now - retention_days``; ``deleteArtifact(id)`` (admins) deletes one.

Order of a deletion, and why: **the link on the Execution goes first, the file second.**
The download route (``api._artifact_routes``) serves a file only while its run still
links it, so once the link is gone nothing can be downloaded, whatever happens next. If
the process dies between the two steps, the file is left without a link: harmless (not
downloadable, not listed) and found again by the next sweep, because the sweep lists
expired artifacts from the store itself, not from the links; unlinking is idempotent.
The other order (file first) would leave, after a crash, a link listed on the run whose
download fails - a dangling link the user can see and click.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from agentgraph.errors import NotFoundError

from runners._artifacts import ArtifactInfo, ArtifactStore
from runners._periodic import Periodic

log = logging.getLogger("agentgraph.runs")

#: Seconds between two sweeps (hourly: expiry is counted in days, an hour late is fine).
DEFAULT_SWEEP_INTERVAL_S = 3600.0


class ArtifactRetention:
    """Deletes expired artifacts (periodically) and single artifacts (admin mutation).

    Args:
        store: the artifact store.
        lifecycle: ``graph.ExecutionLifecycle`` (``remove_artifact`` unlinks a file from its run).
        retention_days: keep artifacts this many days; 0 keeps them forever (no sweep runs).
        interval_s: seconds between sweeps.
    """

    def __init__(self, store: ArtifactStore, lifecycle: Any, *, retention_days: float,
                 interval_s: float = DEFAULT_SWEEP_INTERVAL_S) -> None:
        self.store, self.lifecycle = store, lifecycle
        self.retention_days = retention_days
        self._loop = Periodic(self.sweep, interval_s, name="artifact-retention", first_delay_s=0)

    def start(self) -> None:
        """Start the periodic sweep (nothing to do when ``retention_days`` is 0)."""
        if self.retention_days > 0:
            self._loop.start()

    async def stop(self) -> None:
        """Stop the periodic sweep."""
        await self._loop.stop()

    async def _remove(self, info: ArtifactInfo) -> None:
        # Link first, file second (module docstring): no downloadable dangling link at any moment.
        await self.lifecycle.remove_artifact(tenant_id=info.tenant_id, execution_id=info.execution_id,
                                             artifact_id=info.id)
        await self.store.delete(tenant_id=info.tenant_id, artifact_id=info.id)

    async def sweep(self, now: datetime | None = None) -> int:
        """Delete every artifact created before ``now - retention_days`` (all tenants).

        Args:
            now: the current time (aware); default ``datetime.now(UTC)``.

        Returns:
            How many artifacts were deleted (0 when retention is off).
        """
        if self.retention_days <= 0:
            return 0
        cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=self.retention_days)
        done = 0
        for info in await self.store.older_than(cutoff):
            try:
                await self._remove(info)
                done += 1
            except Exception:  # one bad artifact must not stop the sweep; it is retried next time
                log.warning("could not delete expired artifact %s", info.id, exc_info=True)
        if done:
            log.info("artifact retention: deleted %d artifact(s) older than %s", done, cutoff.isoformat())
        return done

    async def delete(self, *, tenant_id: str, artifact_id: str) -> ArtifactInfo:
        """Delete one artifact of the tenant (link, then file).

        Returns:
            The deleted artifact's metadata.

        Raises:
            NotFoundError: no such artifact in the tenant.
        """
        info = await self.store.info(tenant_id=tenant_id, artifact_id=artifact_id)
        if info.tenant_id != tenant_id:  # stores already check; kept as the rule of this method
            raise NotFoundError(f"Artifact {artifact_id!r} does not exist.")
        await self._remove(info)
        return info


__all__ = ["ArtifactRetention", "DEFAULT_SWEEP_INTERVAL_S"]
