"""GraphQL of artifact administration (issue 7): ``deleteArtifact`` (admins; ``api._access``).

Expired artifacts are deleted by the retention sweep (``artifacts.retention_days``,
``runners._artifact_retention``); this mutation deletes one now, the same way: its link
on the run first, then the file, so no dangling link can be downloaded.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError

from api._schema import Artifact


@strawberry.type
class ArtifactMutation:
    @strawberry.mutation(description="Delete an artifact (admins): it leaves its run's artifact list, then the "
                                     "store; later downloads answer 404. Returns the deleted artifact.")
    async def delete_artifact(self, info: Info, id: strawberry.ID) -> Artifact:
        p = info.context["platform"]
        if p.artifact_retention is None:
            raise ServiceUnavailableError("The artifact store is not initialised in this process; restart the "
                                          "platform.")
        a = await p.artifact_retention.delete(tenant_id=p.tenant_id, artifact_id=str(id))
        return Artifact(id=strawberry.ID(a.id), name=a.name, format=a.format, media_type=a.media_type, bytes=a.bytes,
                        sha256=a.sha256, url=a.url, created_at=a.created_at)


__all__ = ["ArtifactMutation"]
