"""Child runs and artifacts follow agent sharing (issues 3 and 7, helper V).

Real HTTP against the platform that requires authentication; each user calls with
their own API key. Mia (sales) owns a private member agent and a tenant-visible team
that runs it; Otto (ops) may see the team's run but not its private child run, nor
download an artifact of that child run (404, the body of an unknown id). An admin
deletes the artifact with ``deleteArtifact``; an operator may not.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec

from tests.conftest import TEST_ADMIN_KEY

SAVE = "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }"
SHARE = "mutation($id: String!) { shareAgent(agentId: $id, visibility: \"private\") { visibility } }"
RUN_CHILDREN = "query($id: ID!) { execution(id: $id) { id children { id agentId artifacts { id } } } }"
DELETE = "mutation($id: ID!) { deleteArtifact(id: $id) { id name } }"


def _gql(url: str, key: str, query: str, **variables) -> dict:
    resp = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                      headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return resp.json()


def _get(url: str, key: str, artifact_id: str) -> httpx.Response:
    return httpx.get(f"{url}/api/artifacts/{artifact_id}", headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _code(body: dict) -> str | None:
    return (body.get("errors") or [{}])[0].get("extensions", {}).get("code")


def _graph(services: Settings):
    from graph import GraphClient

    g = services.graph
    return GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                       http_url=f"http://127.0.0.1:{g.http_port}")


@pytest.fixture(scope="module")
def users(services: Settings) -> dict[str, str]:
    """Operators mia (sales) and otto (ops) and their API keys."""
    from graph import ApiKeyRepository, OrgRepository

    s = str(time.time_ns())[-8:]

    async def build() -> dict[str, str]:
        client = _graph(services)
        try:
            o, keys = OrgRepository(client), ApiKeyRepository(client)
            out = {"suffix": s}
            for uid, dep in (("mia", "sales"), ("otto", "ops")):
                await o.create_department(tenant_id="default", department_id=f"{dep}-v{s}", name=dep)
                await o.upsert_user(tenant_id="default", user_id=f"{uid}-{s}", role="operator",
                                    department_id=f"{dep}-v{s}")
                out[uid] = (await keys.create(tenant_id="default", user_id=f"{uid}-{s}", name="t"))[1]
            return out
        finally:
            await client.close()

    return asyncio.run(build())


def _link_artifact(services: Settings, execution_id: str, agent_id: str) -> str:
    """A file in the platform's store, linked on ``execution_id`` (as the create_artifact tool does)."""
    from graph import ExecutionLifecycle, now_iso
    from runners import ArtifactInfo, build_artifact_store, new_artifact_id, sha256_hex

    async def work() -> str:
        client = _graph(services)
        try:
            data = b"# private report\n"
            info = ArtifactInfo(id=new_artifact_id(), tenant_id="default", execution_id=execution_id,
                                agent_id=agent_id, name="private.md", format="md", media_type="text/markdown",
                                bytes=len(data), sha256=sha256_hex(data), created_at=now_iso(), url="")
            info.url = f"/api/artifacts/{info.id}"
            await build_artifact_store(services).put(info, data)
            await ExecutionLifecycle(client).add_artifact(tenant_id="default", execution_id=execution_id,
                                                          artifact=info.public())
            return info.id
        finally:
            await client.close()

    return asyncio.run(work())


def test_private_child_runs_and_their_artifacts_are_hidden(secured_url: str, services: Settings,
                                                           users: dict[str, str]) -> None:
    url, s, mia, otto = secured_url, users["suffix"], users["mia"], users["otto"]
    member = AgentSpec(name=f"secret-helper-{s}", description="private member", system_prompt="helper")
    mid = _gql(url, mia, SAVE, y=member.to_yaml())["data"]["saveAgent"]["id"]
    team = AgentSpec.parse({"name": f"open-team-{s}", "description": "visible team", "system_prompt": "p",
                            "agent_type": "team", "team": {"pattern": "sequential", "members": [mid]}})
    tid = _gql(url, mia, SAVE, y=team.to_yaml())["data"]["saveAgent"]["id"]
    assert _gql(url, mia, SHARE, id=mid)["data"]["shareAgent"]["visibility"] == "private"
    run = _gql(url, mia, "mutation($a: String!) { runAgent(agentId: $a, input: \"hi\") { id status } }", a=tid)
    assert run["data"]["runAgent"]["status"] == "succeeded", run
    rid = run["data"]["runAgent"]["id"]

    [kid] = _gql(url, mia, RUN_CHILDREN, id=rid)["data"]["execution"]["children"]
    assert kid["agentId"] == mid
    assert _gql(url, TEST_ADMIN_KEY, RUN_CHILDREN, id=rid)["data"]["execution"]["children"] == [kid]
    assert _gql(url, otto, RUN_CHILDREN, id=rid)["data"]["execution"]["children"] == []  # hidden, like executions
    assert _code(_gql(url, otto, RUN_CHILDREN, id=kid["id"])) == "NOT_FOUND"  # consistent with the lookup

    art = _link_artifact(services, kid["id"], mid)
    ok = _get(url, mia, art)
    assert ok.status_code == 200 and ok.content == b"# private report\n"
    refused, unknown = _get(url, otto, art), _get(url, otto, "art_" + "0" * 32)
    assert refused.status_code == unknown.status_code == 404
    assert refused.text.replace(art, "ID") == unknown.text.replace("art_" + "0" * 32, "ID")  # no existence oracle

    # deleteArtifact: admins only; afterwards the link is gone and the download answers 404.
    assert _code(_gql(url, mia, DELETE, id=art)) == "FORBIDDEN"
    assert _gql(url, TEST_ADMIN_KEY, DELETE, id=art)["data"]["deleteArtifact"] == {"id": art, "name": "private.md"}
    assert _gql(url, mia, RUN_CHILDREN, id=rid)["data"]["execution"]["children"][0]["artifacts"] == []
    assert _get(url, mia, art).status_code == 404
    assert _code(_gql(url, TEST_ADMIN_KEY, DELETE, id=art)) == "NOT_FOUND"
