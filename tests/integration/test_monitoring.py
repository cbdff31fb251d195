"""Monitoring data over GraphQL: runStats from the graph's Executions, analyzeRun with the scripted LLM."""

from __future__ import annotations

from graph import Execution


SPEC = """name: Monitored agent
description: Used for run statistics.
system_prompt: Answer briefly.
"""


def test_run_stats_and_analyze_run(gql) -> None:
    aid = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=SPEC)["data"]["saveAgent"]["id"]
    runs = [gql("mutation($a: String!) { runAgent(agentId: $a, input: \"hi\") { id status latencyMs } }",
                a=aid)["data"]["runAgent"] for _ in range(3)]
    assert all(r["status"] == "succeeded" for r in runs)
    q = """query { runStats(sinceHours: 2, bucketMinutes: 5) { since bucketMinutes totalRuns byStatus costUsd
      p50Ms p95Ms buckets { start counts costUsd p50Ms p95Ms } topAgents { agentId runs costUsd } } }"""
    body = gql(q)
    assert "errors" not in body, body
    s = body["data"]["runStats"]
    assert s["bucketMinutes"] == 5 and s["totalRuns"] >= 3 and s["byStatus"]["succeeded"] >= 3
    assert 24 <= len(s["buckets"]) <= 26  # 2 h of 5-min buckets, aligned
    assert sum(sum(b["counts"].values()) for b in s["buckets"]) == s["totalRuns"]
    assert s["p50Ms"] is not None and s["p50Ms"] <= s["p95Ms"]
    top = s["topAgents"]  # by cost, then runs (scripted runs cost 0; other tests' agents may rank higher)
    assert top and [(-t["costUsd"], -t["runs"]) for t in top] == sorted((-t["costUsd"], -t["runs"]) for t in top)
    a = gql("mutation($id: ID!) { analyzeRun(id: $id) { runId status notes model } }", id=runs[0]["id"])
    assert "errors" not in a, a
    out = a["data"]["analyzeRun"]
    assert out["runId"] == runs[0]["id"] and out["status"] == "succeeded" and out["notes"].strip()
    missing = gql("mutation { analyzeRun(id: \"run_nope\") { notes } }")
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_chain_summary_carries_spans_and_errors() -> None:
    import json

    from api._schema_events import MAX_SPANS, chain_summary

    spans = [{"name": f"tool.call.{i}", "span_id": str(i), "parent_id": None, "duration_ms": 12.5, "status": "ERROR",
              "attributes": {"tool.name": "crm"}} for i in range(MAX_SPANS + 5)]

    e = Execution(id="run_1", tenant_id="t", agent_id="a", version=1, thread_id="th", status="failed", input="q",
                  error="tool crm timed out", error_code="TOOL_FAILED", started_at="2026-01-01T00:00:00+00:00",
                  spans_json=json.dumps(spans))
    text = chain_summary(e)
    assert "tool crm timed out" in text and "TOOL_FAILED" in text and "tool.call.0" in text
    assert f"tool.call.{MAX_SPANS}" not in text and "5 more spans" in text
