"""ArgoExecutor and ArgoServerClient against the Argo Server stand-in (tests/argo_stub.py):
valid submissions accepted, invalid ones refused in Argo's {code, message} form and
surfaced as ArgoAPIError, auth header sent, phases mapped. Executions are kept in an
in-memory repository here; tests/integration/test_argo_platform.py uses the real graph."""

from __future__ import annotations

import httpx
import pytest

from agentgraph.settings import ArgoSettings
from argo import ArgoAPIError, ArgoExecutor, ArgoServerClient, build_workflow, schema_dir
from graph import Execution, now_iso
from tests.argo_stub import ArgoStub

NS = "agentgraph"


class MemoryExecutions:
    """The two ExecutionRepository methods the executor uses, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, Execution] = {}

    def add(self, eid: str, status: str = "queued") -> Execution:
        e = Execution(id=eid, tenant_id="default", agent_id="crm", version=1, thread_id="thr_1", status=status,
                      input="Find Ada", started_at=now_iso())
        self.rows[eid] = e
        return e

    async def get(self, *, tenant_id: str, execution_id: str) -> Execution:
        return self.rows[execution_id]

    async def update(self, *, tenant_id: str, execution_id: str, status: str, workflow_name: str | None = None,
                     error: str | None = None, error_code: str | None = None, ended_at: str | None = None) -> Execution:
        old = self.rows[execution_id]
        new = old.model_copy(update={k: v for k, v in {"status": status, "workflow_name": workflow_name,
                                                         "error": error, "error_code": error_code,
                                                         "ended_at": ended_at}.items() if v is not None})
        self.rows[execution_id] = new
        return new

    async def list(self, *, tenant_id: str, limit: int = 50) -> list[Execution]:
        return list(self.rows.values())[:limit]


@pytest.fixture()
def stub() -> ArgoStub:
    return ArgoStub(schema_dir(), token="s3cret")


def _client(stub: ArgoStub, token: str | None = "s3cret") -> ArgoServerClient:
    return ArgoServerClient("http://argo.test", token=token, namespace=NS, transport=httpx.ASGITransport(stub.app))


async def test_submit_creates_a_valid_workflow_and_stores_its_name(stub: ArgoStub) -> None:
    repo = MemoryExecutions()
    ex = ArgoExecutor(client=_client(stub), executions=repo, settings=ArgoSettings())  # type: ignore[arg-type]
    e = await ex.submit(repo.add("run_A1"))
    assert (e.status, e.workflow_name) == ("queued", "agent-run-run-a1")
    wf = stub.workflows[(NS, "agent-run-run-a1")]
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params["execution-id"] == "run_A1" and params["thread-id"] == "thr_1" and params["version"] == "1"
    assert stub.requests[0]["authorization"] == "Bearer s3cret"
    # A repeated submit (e.g. a retried request) adopts the existing workflow instead of failing.
    again = await ex.submit(repo.rows["run_A1"])
    assert again.workflow_name == "agent-run-run-a1" and len(stub.workflows) == 1


async def test_invalid_bodies_are_refused_in_argos_error_form(stub: ArgoStub) -> None:
    client = _client(stub)
    wf = build_workflow(ArgoSettings(), agent_id="crm", input="x", execution_id="run_1")
    no_name = {**wf, "spec": {**wf["spec"], "workflowTemplateRef": {}}}
    with pytest.raises(ArgoAPIError) as err:
        await client.create_workflow(no_name)
    assert (err.value.status, err.value.grpc_code) == (400, 3)
    assert "workflowTemplateRef.name is required" in err.value.message and "InvalidArgument" in err.value.message
    wrong_type = {**wf, "spec": {**wf["spec"], "arguments": {"parameters": "agent-id=crm"}}}
    with pytest.raises(ArgoAPIError, match="spec.arguments.parameters") as err:
        await client.create_workflow(wrong_type)
    assert err.value.status == 400
    raw = await httpx.AsyncClient(transport=httpx.ASGITransport(stub.app), base_url="http://a").post(
        f"/api/v1/workflows/{NS}", json={"workflow": wrong_type}, headers={"Authorization": "Bearer s3cret"})
    assert raw.status_code == 400 and set(raw.json()) == {"code", "message"} and raw.json()["code"] == 3
    assert stub.workflows == {}


async def test_auth_unknown_template_and_duplicates(stub: ArgoStub) -> None:
    wf = build_workflow(ArgoSettings(), agent_id="crm", input="x", execution_id="run_1")
    with pytest.raises(ArgoAPIError, match="AGENTGRAPH_ARGO__TOKEN") as err:
        await _client(stub, token=None).create_workflow(wf)
    assert (err.value.status, err.value.grpc_code) == (401, 16)
    other = build_workflow(ArgoSettings(template_name="nope"), agent_id="crm", input="x", execution_id="run_2")
    with pytest.raises(ArgoAPIError, match="workflowtemplate") as err:
        await _client(stub).create_workflow(other)
    assert (err.value.status, err.value.grpc_code) == (404, 5)
    await _client(stub).create_workflow(wf)
    with pytest.raises(ArgoAPIError) as err:
        await _client(stub).create_workflow(wf)
    assert (err.value.status, err.value.grpc_code) == (409, 6)


async def test_refused_submission_fails_the_execution(stub: ArgoStub) -> None:
    repo = MemoryExecutions()
    ex = ArgoExecutor(client=_client(stub), executions=repo,  # type: ignore[arg-type]
                      settings=ArgoSettings(template_name="missing"))
    with pytest.raises(ArgoAPIError):
        await ex.submit(repo.add("run_B"))
    e = repo.rows["run_B"]
    assert e.status == "failed" and e.error_code == "ARGO_API_ERROR" and "not found" in e.error and e.ended_at


async def test_unreachable_server_is_a_clear_error() -> None:
    from agentgraph.errors import ServiceUnavailableError

    client = ArgoServerClient("http://127.0.0.1:9", token="t", namespace=NS, timeout_s=2)
    with pytest.raises(ServiceUnavailableError, match="AGENTGRAPH_ARGO__SERVER_URL"):
        await client.get_workflow("x")
    await client.aclose()


@pytest.mark.parametrize("phases, status, code", [
    (["Pending"], "queued", None),
    (["Pending", "Running"], "running", None),
    (["Running", "Succeeded"], "succeeded", None),
    (["Running", "Failed"], "failed", "ARGO_WORKFLOW_FAILED"),
    (["Error"], "failed", "ARGO_WORKFLOW_ERROR"),
])
async def test_sync_maps_phases(stub: ArgoStub, phases: list[str], status: str, code: str | None) -> None:
    repo = MemoryExecutions()
    ex = ArgoExecutor(client=_client(stub), executions=repo, settings=ArgoSettings())  # type: ignore[arg-type]
    e = await ex.submit(repo.add("run_C"))
    for phase in phases:
        stub.set_phase(NS, e.workflow_name, phase, message="pod deleted" if phase in ("Failed", "Error") else None)
        e = await ex.sync(e)
    assert (e.status, e.error_code) == (status, code)
    if code:
        assert e.error == "pod deleted"


async def test_sync_keeps_an_outcome_the_runner_wrote_and_fails_lost_workflows(stub: ArgoStub) -> None:
    repo = MemoryExecutions()
    ex = ArgoExecutor(client=_client(stub), executions=repo, settings=ArgoSettings())  # type: ignore[arg-type]
    e = await ex.submit(repo.add("run_D"))
    await repo.update(tenant_id="default", execution_id="run_D", status="succeeded")  # written by the pod
    stub.set_phase(NS, e.workflow_name, "Failed", "retry exhausted later")  # e.g. artifact upload failed
    assert (await ex.sync(e)).status == "succeeded"
    lost = await ex.submit(repo.add("run_E"))
    del stub.workflows[(NS, lost.workflow_name)]
    after = await ex.sync(lost)
    assert (after.status, after.error_code) == ("failed", "ARGO_WORKFLOW_LOST")
    assert await ex.sync_active("default") == 0  # nothing active left
