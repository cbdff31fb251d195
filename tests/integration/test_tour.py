"""The walking-skeleton tour over GraphQL against the real embedded stack (scripted LLM)."""

from __future__ import annotations

import httpx

from agentgraph.demo import OPENAPI_PATH
from agentgraph.spec import AgentSpec

BUILD = """mutation($intent: String!, $thread: String) { buildAgent(intent: $intent, threadId: $thread) {
  threadId message specYaml spec suggestions { toolId name score reason } attempts } }"""
SAVE = """mutation($y: String!, $id: String, $p: Boolean!) { saveAgent(specYaml: $y, agentId: $id, publish: $p) {
  id name status latestVersion activeVersion versions { version toolIds } } }"""
RUN = """mutation($id: String!, $input: String!, $thread: String) { runAgent(agentId: $id, input: $input, threadId: $thread) {
  id status output error errorCode threadId version latencyMs promptTokens completionTokens costUsd model
  spans { name spanId parentId durationMs status attributes } } }"""


def test_demo_crm_registered_at_start(gql) -> None:
    body = gql("{ tools { id name mcpUrl operations { operationId method path } } }")
    tools = {t["id"]: t for t in body["data"]["tools"]}
    assert "demo-crm" in tools
    ops = {o["operationId"] for o in tools["demo-crm"]["operations"]}
    assert {"searchLeads", "getLead", "createNote", "searchCompanies"} <= ops
    assert tools["demo-crm"]["mcpUrl"].endswith("/tools/demo-crm/mcp")


def test_build_save_run_and_continue_thread(gql) -> None:
    built = gql(BUILD, intent="I need an agent that looks up a lead in our CRM and drafts a follow-up email")
    assert "errors" not in built, built
    b = built["data"]["buildAgent"]
    assert b["suggestions"][0]["toolId"] == "demo-crm"
    assert b["suggestions"][0]["score"] > 0.2
    spec = AgentSpec.from_yaml(b["specYaml"])
    # Other tests register more tools; the CRM must rank first whatever else exists.
    assert spec.tool_ids[0] == "demo-crm"
    assert spec.tools[0].reason

    refined = gql(BUILD, intent="also look at the company", thread=b["threadId"])["data"]["buildAgent"]
    assert refined["threadId"] == b["threadId"]
    assert "company" in AgentSpec.from_yaml(refined["specYaml"]).description.lower()

    saved = gql(SAVE, y=refined["specYaml"], id=None, p=False)["data"]["saveAgent"]
    assert saved["status"] == "draft" and saved["latestVersion"] == 1 and saved["activeVersion"] is None
    assert saved["versions"] == [{"version": 1, "toolIds": AgentSpec.from_yaml(refined["specYaml"]).tool_ids}]
    published = gql("mutation($id: String!) { publishAgent(agentId: $id) { status activeVersion } }", id=saved["id"])
    assert published["data"]["publishAgent"] == {"status": "active", "activeVersion": 1}

    run = gql(RUN, id=saved["id"], input="Find lead Ada Lovelace and draft a follow-up", thread=None)["data"]["runAgent"]
    assert run["status"] == "succeeded", run
    assert "Ada Lovelace" in run["output"] and "ada@engines.example" in run["output"]
    assert run["version"] == 1 and run["latencyMs"] > 0 and run["promptTokens"] > 0
    names = [s["name"] for s in run["spans"]]
    assert names.count("llm.call") == 2 and names.count("tool.call") == 1 and "agent.run" in names
    root = next(s for s in run["spans"] if s["name"] == "agent.run")
    tool_span = next(s for s in run["spans"] if s["name"] == "tool.call")
    assert tool_span["attributes"]["tool.name"] == "searchLeads" and tool_span["parentId"] is not None
    assert root["durationMs"] >= tool_span["durationMs"]

    second = gql(RUN, id=saved["id"], input="What did I ask you before?", thread=run["threadId"])["data"]["runAgent"]
    assert second["status"] == "succeeded"
    assert second["threadId"] == run["threadId"]
    # The checkpointed thread carries the first request into the second run.
    assert "Find lead Ada Lovelace" in second["output"], second["output"]

    fetched = gql("query($id: ID!) { execution(id: $id) { id status spans { name } } }", id=run["id"])
    assert fetched["data"]["execution"]["status"] == "succeeded"
    listed = gql("query($a: String) { executions(agentId: $a) { id } }", a=saved["id"])
    assert {e["id"] for e in listed["data"]["executions"]} == {run["id"], second["id"]}


def test_new_version_is_immutable_and_old_stays(gql) -> None:
    b = gql(BUILD, intent="agent that searches companies in the CRM")["data"]["buildAgent"]
    a = gql(SAVE, y=b["specYaml"], id=None, p=True)["data"]["saveAgent"]
    spec = AgentSpec.from_yaml(b["specYaml"])
    spec.system_prompt = "You are terse."
    a2 = gql(SAVE, y=spec.to_yaml(), id=a["id"], p=False)["data"]["saveAgent"]
    assert a2["latestVersion"] == 2 and a2["activeVersion"] == 1
    versions = gql("query($id: ID!) { agent(id: $id) { versions { version specYaml } } }", id=a["id"])
    v = versions["data"]["agent"]["versions"]
    assert [x["version"] for x in v] == [1, 2]
    assert "You are terse." not in v[0]["specYaml"] and "You are terse." in v[1]["specYaml"]


def test_errors_have_codes_and_store_nothing(gql, platform_url) -> None:
    body = gql("query { agent(id: \"nope\") { id } }")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    body = gql(RUN, id="nope", input="hi", thread=None)
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    before = len(gql("{ tools { id } }")["data"]["tools"])
    bad = gql("mutation($o: String!, $u: String!) { registerTool(openapi: $o, baseUrl: $u) { id } }",
              o="openapi: 3.0.0\ninfo: {title: x}\n", u="http://127.0.0.1:9")
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_SPEC"
    unreachable = gql("mutation($o: String!, $u: String!) { registerTool(openapi: $o, baseUrl: $u, name: \"Other CRM\") { id } }",
                      o=OPENAPI_PATH.read_text(), u="http://127.0.0.1:9")
    assert unreachable["errors"][0]["extensions"]["code"] == "BASE_URL_UNREACHABLE"
    assert len(gql("{ tools { id } }")["data"]["tools"]) == before
    bad_spec = gql(SAVE, y="name: x\n", id=None, p=False)
    assert bad_spec["errors"][0]["extensions"]["code"] == "INVALID_SPEC"
    assert "description" in bad_spec["errors"][0]["message"]
    assert httpx.get(f"{platform_url}/healthz").json()["status"] == "ok"


def test_failed_tool_run_is_stored_as_failed(gql, services) -> None:
    # A second CRM registration pointing at the same live service, then made unreachable by
    # registering without the reachability check is not possible via GraphQL; instead use an
    # agent whose spec references the tool but whose run input makes the CRM answer 404.
    spec = AgentSpec(
        name="Lead getter", description="Gets a lead by id", system_prompt="Use getLead.",
        tools=[{"tool_id": "demo-crm", "operations": ["getLead"]}],
    )
    a = gql(SAVE, y=spec.to_yaml(), id=None, p=True)["data"]["saveAgent"]
    run = gql(RUN, id=a["id"], input="get lead 'ld-404'", thread=None)["data"]["runAgent"]
    assert run["status"] == "failed"
    assert run["errorCode"] == "TOOL_FAILED" and "404" in run["error"]
    stored = gql("query($id: ID!) { execution(id: $id) { status error } }", id=run["id"])["data"]["execution"]
    assert stored["status"] == "failed" and "404" in stored["error"]


def test_agent_mode_comparison_runs_the_whole_agent_per_model(gql) -> None:
    spec = AgentSpec(name="Compare me", description="Looks up leads", system_prompt="Use the CRM.",
                     tools=[{"tool_id": "demo-crm", "operations": ["searchLeads"]}])
    a = gql(SAVE, y=spec.to_yaml(), id=None, p=True)["data"]["saveAgent"]
    body = gql("""mutation($i: CompareInput!) { compareModels(input: $i) { id columns { model output error
               checks executionId } summary { line } } }""",
               i={"models": ["model-a", "model-b"], "input": "Find lead Ada Lovelace", "agentId": a["id"],
                  "useJudge": False, "expectedKeywords": ["Ada Lovelace"]})
    assert "errors" not in body, body
    cols = body["data"]["compareModels"]["columns"]
    assert [c["model"] for c in cols] == ["model-a", "model-b"]
    for c in cols:
        assert c["error"] is None and "ada@engines.example" in c["output"]  # the CRM tool was called
        assert c["checks"]["keywords"] == 1.0
        run = gql("query($id: ID!) { execution(id: $id) { status spans { name } } }", id=c["executionId"])
        assert run["data"]["execution"]["status"] == "succeeded"
        assert "tool.call" in [s["name"] for s in run["data"]["execution"]["spans"]]


def test_metrics_count_runs_tokens_and_tool_calls(gql, platform_url) -> None:
    def value(text: str, name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))

    before = httpx.get(f"{platform_url}/metrics").text
    spec = AgentSpec(name="Metered", description="Looks up leads", system_prompt="Use the CRM.",
                     tools=[{"tool_id": "demo-crm", "operations": ["searchLeads"]}])
    a = gql(SAVE, y=spec.to_yaml(), id=None, p=True)["data"]["saveAgent"]
    run = gql(RUN, id=a["id"], input="Find lead Ada Lovelace", thread=None)["data"]["runAgent"]
    resp = httpx.get(f"{platform_url}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    after = resp.text
    assert value(after, 'agentgraph_runs_total{status="succeeded"}') == value(before, 'agentgraph_runs_total{status="succeeded"}') + 1
    assert value(after, 'agentgraph_tool_calls_total{outcome="ok",tool_id="demo-crm"}') >= 1
    assert value(after, 'agentgraph_llm_tokens_total{kind="prompt"}') >= run["promptTokens"]
    assert "agentgraph_run_latency_seconds_bucket" in after and "agentgraph_tool_call_latency_seconds_count" in after
