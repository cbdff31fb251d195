"""Built-in agent types qa, conversational and producer end to end (issue 7), from docs/examples.

Real graph, Redis, DeepLake notebooks, the demo CRM over MCP and the served platform's
REST/GraphQL; only the LLM is scripted (``ScriptedLLM`` recorded through ``FunctionLLM``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path

import httpx
import redis

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM, ScriptedLLM
from memory import Upload
from tests.conftest import ADMIN_HEADERS

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
POLICY = ("# Refund policy\n\nCustomers may return a product within 45 days of delivery for a full refund. "
          "Refunds are paid to the original payment method within 5 business days.\n\n"
          "# Warranty\n\nHardware carries a two-year warranty against manufacturing defects.")


def _example(name: str) -> AgentSpec:
    return AgentSpec.from_yaml((EXAMPLES / name).read_text())


async def _save(p, spec: AgentSpec) -> str:
    aid = f"{spec.slug}-{uuid.uuid4().hex[:8]}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=spec.tool_ids,
                          created_by=p.user_id)
    return aid


def _recording(p) -> list[list[dict]]:
    """Route the platform's LLM through the ScriptedLLM, keeping every request's messages."""
    scripted, calls = ScriptedLLM(), []

    async def fn(messages, info):
        calls.append({"messages": messages, "tools": info.get("tools")})
        return (await scripted.complete(messages, **info)).message

    p.runs.runner.llm = FunctionLLM(fn)
    return calls


def _checkpoint_keys(services, p, aid: str, thread: str) -> list[bytes]:
    rds = redis.Redis.from_url(services.redis_url)
    try:
        return list(rds.scan_iter(match=f"checkpoint:{{{p.tenant_id}:{aid}:{thread}}}:*"))
    finally:
        rds.close()


async def test_qa_example_is_stateless_and_cites_notebook_chunks(platform, services) -> None:
    p = platform
    nb = await p.memory.notebooks.create(tenant_id=p.tenant_id, user_id=p.user_id, name="Company policies",
                                         description="Refunds, returns and warranty rules")
    await p.memory.notebooks.add_documents(tenant_id=p.tenant_id, notebook_id=nb.id,
                                           uploads=[Upload(filename="policy.md", data=POLICY.encode())])
    await p.memory.notebooks.wait_idle(nb.id)
    spec = _example("qa-policy-helper.yaml")
    assert spec.agent_type.value == "qa" and spec.memory.short_term  # the default: ignored by qa
    spec.notebooks[0].notebook_id = nb.id
    aid = await _save(p, spec)
    calls = _recording(p)

    first = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, thread_id="qa-thread",
                             input="What is the refund policy for returning a product?")
    assert first.status == "succeeded", first.error
    assert "[policy.md, chunk" in first.output and "45 days" in first.output
    assert "Answer only from the passages" in calls[0]["messages"][0]["content"]  # grounded: QA_HINT
    assert any(s["name"] == "tool.call" and s["attributes"]["tool.name"] == "search_company_policies"
               for s in first.spans)

    calls.clear()
    second = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, thread_id="qa-thread",
                              input="How long is the hardware warranty?")
    assert second.status == "succeeded", second.error
    seen = [m["content"] for m in calls[0]["messages"] if m["role"] == "user"]
    assert seen == ["How long is the hardware warranty?"]  # nothing of the first run: stateless
    assert "two-year warranty" in second.output and "[policy.md, chunk" in second.output
    assert _checkpoint_keys(services, p, aid, "qa-thread") == []

    # Without notebooks a qa agent answers plainly: no tools, no grounding instruction.
    plain = AgentSpec.parse({**spec.model_dump(mode="json"), "name": "Plain QA", "notebooks": []})
    calls.clear()
    run = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=await _save(p, plain),
                           input="What is a good name for a cat?")
    assert run.status == "succeeded" and run.output.startswith("You asked")
    assert calls[0]["tools"] is None and "Answer only from" not in calls[0]["messages"][0]["content"]


async def test_conversational_example_remembers_the_thread(platform, services) -> None:
    p = platform
    spec = _example("conversational-onboarding-buddy.yaml")
    assert spec.agent_type.value == "conversational" and spec.memory.long_term
    # Thread memory is part of the type: even `short_term: false` keeps the thread.
    spec.memory.short_term = False
    aid = await _save(p, spec)
    calls = _recording(p)
    first = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, thread_id="conv-1",
                             input="Hello, I am Grace Hopper from the compiler team")
    assert first.status == "succeeded", first.error
    second = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, thread_id="conv-1",
                              input="Which team did I say I am from?")
    assert second.status == "succeeded", second.error
    assert "Grace Hopper from the compiler team" in second.output
    assert _checkpoint_keys(services, p, aid, "conv-1")
    other = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, thread_id="conv-2",
                             input="Which team did I say I am from?")
    assert "Grace Hopper" not in other.output  # another thread starts fresh
    # Long-term memory stays as configured: the model was offered remember/recall.
    assert {"remember", "recall"} <= {t["function"]["name"] for t in calls[0]["tools"] or []}


def _producer_llm(report_calls: list[dict]) -> FunctionLLM:
    """Search the CRM's leads, then create a PDF report and a CSV export in one turn, then answer."""

    def fn(messages, info):
        tool_msgs = [m for m in messages if m["role"] == "tool"]
        created = any(tc["function"]["name"] == "create_artifact" for m in messages if m["role"] == "assistant"
                      for tc in m.get("tool_calls") or [])
        if not tool_msgs:
            return {"content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "searchLeads", "arguments": "{}"}}]}
        if not created:
            leads = json.loads(re.search(r"\[.*\]", tool_msgs[-1]["content"], re.S).group(0))
            rows = [{"name": lead["name"], "status": lead["status"], "interest": lead["interest"]} for lead in leads]
            table = "\n".join(f"| {r['name']} | {r['status']} | {r['interest']} |" for r in rows)
            report = (f"# Morning pipeline report\n\n{len(rows)} leads in the pipeline.\n\n"
                      f"| Name | Status | Interest |\n|---|---|---|\n{table}\n")
            args = [{"name": "pipeline-report", "content": report},  # default format: pdf
                    {"name": "leads.csv", "content": json.dumps(rows)}]
            report_calls.extend(args)
            return {"content": None, "tool_calls": [
                {"id": f"a{i}", "type": "function", "function": {"name": "create_artifact", "arguments": json.dumps(a)}}
                for i, a in enumerate(args)]}
        return {"content": "Created pipeline-report.pdf and leads.csv."}

    return FunctionLLM(fn)


async def test_producer_example_artifacts_downloadable_and_tenant_checked(platform, platform_url, gql) -> None:
    p = platform
    spec = _example("producer-pipeline-report.yaml")
    assert spec.agent_type.value == "producer" and spec.triggers[0].schedule == "0 8 * * 1-5"
    aid = await _save(p, spec)
    made: list[dict] = []
    p.runs.runner.llm = _producer_llm(made)
    e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input=spec.triggers[0].input)
    assert e.status == "succeeded", e.error
    arts = {a["name"]: a for a in e.artifacts}
    assert set(arts) == {"pipeline-report.pdf", "leads.csv"}
    assert arts["pipeline-report.pdf"]["media_type"] == "application/pdf"

    client = httpx.Client(base_url=platform_url, headers=ADMIN_HEADERS, timeout=60)
    try:
        pdf = client.get(arts["pipeline-report.pdf"]["url"])
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-") and len(pdf.content) == arts["pipeline-report.pdf"]["bytes"]
        assert hashlib.sha256(pdf.content).hexdigest() == arts["pipeline-report.pdf"]["sha256"]
        assert "attachment" in pdf.headers["content-disposition"] and pdf.headers["x-content-type-options"] == "nosniff"
        from pypdf import PdfReader

        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Morning pipeline report" in text and "Ada Lovelace" in text and "Marie Curie" in text
        csv_resp = client.get(arts["leads.csv"]["url"])
        assert csv_resp.status_code == 200 and csv_resp.headers["content-type"].startswith("text/csv")
        lines = csv_resp.text.splitlines()
        assert lines[0] == "name,status,interest" and any(line.startswith("Ada Lovelace,new,") for line in lines)

        # Listed on the Execution in GraphQL.
        q = "query($id: ID!) { execution(id: $id) { artifacts { id name format bytes sha256 url mediaType } } }"
        listed = gql(q, id=e.id)["data"]["execution"]["artifacts"]
        assert {(a["name"], a["sha256"], a["bytes"]) for a in listed} == \
            {(a["name"], a["sha256"], a["bytes"]) for a in arts.values()}

        # Another tenant: 404 exactly like an id that never existed (no hint), GraphQL NOT_FOUND too.
        await p.tenants.ensure_default(tenant_id="acme-artifacts", user_id="acme-artifacts-admin")
        _, secret = await p.api_keys.create(tenant_id="acme-artifacts", user_id="acme-artifacts-admin", name="t")
        other = {"Authorization": f"Bearer {secret}"}
        theirs = client.get(arts["leads.csv"]["url"], headers=other)
        unknown_id = f"art_{uuid.uuid4().hex}"
        unknown = client.get(f"/api/artifacts/{unknown_id}")
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["code"] == unknown.json()["code"] == "NOT_FOUND"
        assert theirs.json()["error"].replace(arts["leads.csv"]["id"], "X") == unknown.json()["error"].replace(
            unknown_id, "X")
        assert client.get("/api/artifacts/..%2F..%2Fetc%2Fpasswd").status_code == 404
        resp = client.post("/graphql", headers=other, json={"query": q, "variables": {"id": e.id}}).json()
        assert resp["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    finally:
        client.close()


async def test_producer_scripted_model_and_bad_calls(platform) -> None:
    p = platform
    # The ScriptedLLM (the UI's test model) fills name and content from the input: a PDF by default.
    spec = AgentSpec.parse({**_example("producer-pipeline-report.yaml").model_dump(mode="json"), "tools": [],
                            "triggers": [], "name": "Scripted producer"})
    aid = await _save(p, spec)
    _recording(p)
    e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid,
                         input='Create the weekly report "Sales Summary"')
    assert e.status == "succeeded", e.error
    [art] = e.artifacts
    assert art["name"] == "Sales-Summary.pdf" and art["format"] == "pdf"
    info, data = await p.artifacts.read(tenant_id=p.tenant_id, artifact_id=art["id"])
    assert data.startswith(b"%PDF-") and info.execution_id == e.id and info.sha256 == art["sha256"]

    # Bad calls are told to the model (it can fix them); the run still succeeds, nothing is stored.
    answers: list[str] = []

    def fn(messages, info):
        if messages[-1]["role"] == "tool":
            answers.extend(m["content"] for m in messages if m["role"] == "tool")
            return {"content": "Could not create the files."}
        bad = [{"name": "rows", "format": "csv", "content": "[1, 2]"},
               {"name": "virus", "format": "exe", "content": "x"}]
        return {"content": None, "tool_calls": [
            {"id": f"b{i}", "type": "function", "function": {"name": "create_artifact", "arguments": json.dumps(a)}}
            for i, a in enumerate(bad)]}

    p.runs.runner.llm = FunctionLLM(fn)
    e = await p.runs.run(tenant_id=p.tenant_id, user_id=p.user_id, agent_id=aid, input="Make the files")
    assert e.status == "succeeded" and e.artifacts == []
    assert "array of objects" in answers[0] and "not available" in answers[1] and "pdf, csv, md" in answers[1]
