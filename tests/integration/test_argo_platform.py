"""AGENTGRAPH_EXECUTOR=argo against the Argo Server stand-in over real HTTP, with the real graph:
runAgent stores a queued Execution, submits a Workflow the official schema accepts (with the
bearer token), and workflow phases are synced into the stored Execution."""

from __future__ import annotations

import pytest

from agentgraph.errors import AgentGraphError
from agentgraph.settings import ArgoSettings
from agentgraph.spec import AgentSpec
from agentgraph.supervisor import free_port
from argo import ArgoAPIError, ArgoExecutor, schema_dir
from tests.argo_stub import ArgoStub
from tests.conftest import _ThreadedServer

NS = "agentgraph"


@pytest.fixture(scope="module")
def stub_url():
    stub = ArgoStub(schema_dir(), token="tok-123")
    port = free_port()
    server = _ThreadedServer(stub.app, port)
    server.start(timeout_s=30)
    try:
        yield stub, f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
async def argo_platform(services, stub_url):
    from api._platform import Platform

    _, url = stub_url
    settings = services.model_copy(update={
        "executor": "argo", "argo": ArgoSettings(server_url=url, token="tok-123", namespace=NS, sync_interval_s=0)})
    p = await Platform.start(settings)
    try:
        yield p
    finally:
        await p.close()


async def _agent(p, name: str) -> str:
    spec = AgentSpec(name=name, description="d", system_prompt="p")
    a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=f"{name}-{id(spec)}", name=name, description="d",
                                 agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return a.id


async def test_run_is_submitted_as_a_workflow_and_synced(argo_platform, stub_url) -> None:
    stub, _ = stub_url
    p = argo_platform
    assert isinstance(p.runs.executor, ArgoExecutor)
    aid = await _agent(p, "argo-sync")
    e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="Find Ada")
    assert e.status == "queued" and e.workflow_name == f"agent-run-{e.id.lower().replace('_', '-')}"
    wf = stub.workflows[(NS, e.workflow_name)]
    args = {x["name"]: x["value"] for x in wf["spec"]["arguments"]["parameters"]}
    assert (args["agent-id"], args["execution-id"], args["input"]) == (aid, e.id, "Find Ada")
    assert stub.requests[-1]["authorization"] == "Bearer tok-123"
    stored = await p.executions.get(tenant_id=p.tenant_id, execution_id=e.id)
    assert (stored.status, stored.workflow_name) == ("queued", e.workflow_name)

    ex: ArgoExecutor = p.runs.executor
    stub.set_phase(NS, e.workflow_name, "Running")
    assert await ex.sync_active(p.tenant_id) >= 1
    assert (await p.executions.get(tenant_id=p.tenant_id, execution_id=e.id)).status == "running"
    stub.set_phase(NS, e.workflow_name, "Failed", "OOMKilled (exit code 137)")
    await ex.sync_active(p.tenant_id)
    done = await p.executions.get(tenant_id=p.tenant_id, execution_id=e.id)
    assert (done.status, done.error_code, done.error) == ("failed", "ARGO_WORKFLOW_FAILED", "OOMKilled (exit code 137)")
    assert done.ended_at


async def test_refused_submission_is_an_error_and_a_failed_execution(argo_platform, stub_url) -> None:
    stub, _ = stub_url
    p = argo_platform
    aid = await _agent(p, "argo-refused")
    stub.templates[NS].discard("agent-run")  # the template is not installed
    try:
        with pytest.raises(ArgoAPIError) as err:
            await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="hi")
    finally:
        stub.templates[NS].add("agent-run")
    assert isinstance(err.value, AgentGraphError) and err.value.status == 404
    assert "kubectl apply -f deploy/argo/workflowtemplate-agent-run.yaml" in err.value.message
    [e] = await p.executions.list(tenant_id=p.tenant_id, agent_id=aid)
    assert e.status == "failed" and e.error_code == "ARGO_API_ERROR"
