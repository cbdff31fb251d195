"""``python -m runners.entrypoint`` as the Argo pod runs it: a subprocess against the real
graph and Redis (session fixture ``services``) with the scripted LLM; result JSON on stdout
and in the artifact file; exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentgraph.cli._up import settings_env
from agentgraph.spec import AgentSpec

REPO = Path(__file__).resolve().parents[2]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture()
async def platform(services):
    from api._platform import Platform

    p = await Platform.start(services)
    try:
        yield p
    finally:
        await p.close()


def entrypoint(services, tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict | None]:
    result = tmp_path / "result.json"
    result.unlink(missing_ok=True)
    env = {**os.environ, **settings_env(services), "AGENTGRAPH_LLM__SCRIPTED": "true"}
    proc = subprocess.run([sys.executable, "-m", "runners.entrypoint", *args, "--result-path", str(result)],
                          capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    return proc, (json.loads(result.read_text()) if result.exists() else None)


async def _agent(p, name: str, tools: list | None = None) -> str:
    spec = AgentSpec(name=name, description="d", system_prompt="You are helpful.", tools=tools or [])
    a, _ = await p.agents.create(tenant_id=p.tenant_id, agent_id=f"{name}-{id(spec)}", name=name, description="d",
                                 agent_type="react", spec_yaml=spec.to_yaml(), tool_ids=[], created_by=p.user_id)
    return a.id


async def test_runs_a_queued_execution_in_the_callers_trace(platform, services, tmp_path: Path) -> None:
    aid = await _agent(platform, "pod-run")
    queued = await platform.executions.start(tenant_id=platform.tenant_id, agent_id=aid, version=1,
                                             thread_id="thr_pod", input="Say hello", triggered_by=None,
                                             status="queued")
    proc, artifact = entrypoint(services, tmp_path, "--agent-id", aid, "--input", "Say hello", "--version", "",
                                "--thread-id", "thr_pod", "--execution-id", queued.id,
                                "--traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == artifact
    assert (out["status"], out["execution_id"], out["thread_id"]) == ("succeeded", queued.id, "thr_pod")
    assert out["output"] and out["trace_id"] == TRACE_ID
    stored = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=queued.id)
    assert stored.status == "succeeded" and stored.output == out["output"]
    assert all(s["trace_id"] == TRACE_ID for s in stored.spans)


async def test_failed_run_exits_1_and_is_stored(platform, services, tmp_path: Path) -> None:
    # A fail-closed tool nobody serves: the run fails (tool error) and is recorded as failed.
    aid = await _agent(platform, "pod-broken-tool", tools=[{"tool_id": "no-such-tool"}])
    proc, artifact = entrypoint(services, tmp_path, "--agent-id", aid, "--input", "hi")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert artifact["status"] == "failed" and artifact["error"], artifact
    stored = await platform.executions.get(tenant_id=platform.tenant_id, execution_id=artifact["execution_id"])
    assert stored.status == "failed"


def test_bad_input_exits_2(services, tmp_path: Path) -> None:
    proc, artifact = entrypoint(services, tmp_path, "--agent-id", "no-such-agent", "--input", "hi")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert artifact["status"] == "rejected" and artifact["error_code"] == "NOT_FOUND"
    proc, artifact = entrypoint(services, tmp_path, "--agent-id", "a", "--input", "hi", "--version", "two")
    assert proc.returncode == 2 and "--version" in artifact["error"]
    proc, artifact = entrypoint(services, tmp_path, "--input", "hi")
    assert proc.returncode == 2 and "--agent-id" in artifact["error"] and "Traceback" not in proc.stderr
