"""Run lifecycle rules without services: retry policy, retry decisions, job payloads, settings (issue 6)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec, RetryPolicy
from argo import Job
from graph import Execution, now_iso
from runners import RETRYABLE_CODES, RunService, cancel_key, is_retryable
from runners._runner import RunUsage


def test_retry_policy_defaults_and_backoff() -> None:
    p = RetryPolicy()
    assert (p.attempts, p.backoff_s, p.backoff_multiplier) == (3, 1.0, 2.0)
    assert [p.delay_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert RetryPolicy(backoff_s=300, backoff_multiplier=10).delay_s(9) == 3600.0  # capped


@pytest.mark.parametrize("bad", [{"attempts": 0}, {"attempts": 11}, {"backoff_s": -1}, {"backoff_multiplier": 0.5},
                                 {"unknown": 1}])
def test_retry_policy_is_bounded(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**bad)


def test_spec_carries_the_retry_policy_through_yaml() -> None:
    spec = AgentSpec(name="a", description="d", system_prompt="p", limits={"retry": {"attempts": 5}})
    again = AgentSpec.from_yaml(spec.to_yaml())
    assert again.limits.retry.attempts == 5 and again.limits.retry.backoff_s == 1.0


def test_retryable_codes_are_transient_failures_only() -> None:
    assert RETRYABLE_CODES == {"LLM_FAILED", "TOOL_FAILED", "SERVICE_UNAVAILABLE", "WORKER_LOST"}
    assert is_retryable("LLM_FAILED") and not is_retryable("RUN_TIMEOUT") and not is_retryable("BAD_USER_INPUT")
    assert not is_retryable(None)
    assert cancel_key("run_1") == "agentgraph:run-cancel:run_1"


def test_job_payload_round_trip() -> None:
    job = Job(execution_id="run_1", tenant_id="t", agent_id="a", input="héllo", user_id=None,
              traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    assert Job.loads(job.dumps()) == job
    with pytest.raises(ValueError):
        Job.loads(b"not json")


def test_executor_setting_accepts_legacy_local_and_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().executor == "local"
    monkeypatch.setenv("AGENTGRAPH_EXECUTOR", "queue")
    monkeypatch.setenv("AGENTGRAPH_WORKERS__CONCURRENCY", "3")
    s = Settings()
    assert (s.executor, s.workers.concurrency, s.workers.count) == ("queue", 3, 1)
    monkeypatch.setenv("AGENTGRAPH_EXECUTOR", "threads")
    with pytest.raises(ValidationError):
        Settings()


class _Lifecycle:
    """In-memory stand-in for graph.ExecutionLifecycle.finish (compare-and-set on 'running')."""

    def __init__(self, e: Execution) -> None:
        self.e = e

    async def finish(self, *, from_statuses=("running",), spans=(), **kw: Any) -> Execution | None:
        if self.e.status not in from_statuses:
            return None
        kw.pop("tenant_id"), kw.pop("execution_id")
        self.e = self.e.model_copy(update={"status": kw["status"], "error": kw["error"],
                                           "error_code": kw["error_code"], "ended_at": kw["ended_at"]})
        return self.e


def _service(e: Execution) -> RunService:
    svc = RunService.__new__(RunService)  # only _record is exercised: no graph, runner or tracer needed
    svc.lifecycle, svc.events, svc.metrics = _Lifecycle(e), None, None
    return svc


def _execution(attempt: int) -> Execution:
    return Execution(id="run_1", tenant_id="t", agent_id="a", version=1, thread_id="th", status="running",
                     input="hi", started_at=now_iso(), attempt=attempt)


async def _record(attempt: int, code: str, *, retries: bool = True, attempts: int = 3) -> Execution:
    e = _execution(attempt)
    spec = AgentSpec(name="a", description="d", system_prompt="p", limits={"retry": {"attempts": attempts}})
    return await _service(e)._record(e, spec, "failed", None, "boom", code, RunUsage(), 1.0, [], retries=retries)


async def test_transient_failure_with_attempts_left_goes_back_to_queued() -> None:
    e = await _record(1, "LLM_FAILED")
    assert (e.status, e.error_code, e.ended_at) == ("queued", "LLM_FAILED", None)


async def test_transient_failure_on_the_last_attempt_exhausts_retries() -> None:
    e = await _record(3, "TOOL_FAILED")
    assert (e.status, e.error_code) == ("failed", "RETRIES_EXHAUSTED")
    assert "3 attempt(s)" in e.error and "TOOL_FAILED" in e.error and e.ended_at


async def test_permanent_failures_and_inline_runs_are_not_retried() -> None:
    assert (await _record(1, "BUDGET_EXCEEDED")).status == "failed"
    assert (await _record(1, "LLM_FAILED", retries=False)).status == "failed"
    assert (await _record(1, "LLM_FAILED", attempts=1)).error_code == "RETRIES_EXHAUSTED"


async def test_an_outcome_recorded_elsewhere_is_not_overwritten() -> None:
    e = _execution(1).model_copy(update={"status": "cancelled"})
    svc = _service(e)

    class _Executions:
        async def get(self, **kw: Any) -> Execution:
            return svc.lifecycle.e

    svc.executions = _Executions()
    spec = AgentSpec(name="a", description="d", system_prompt="p")
    out = await svc._record(e, spec, "succeeded", "late", None, None, RunUsage(), 1.0, [], retries=True)
    assert out.status == "cancelled"


def test_spans_are_exported_over_otlp_http_when_configured() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from runners import make_tracer

    received: list[tuple[str, str, int]] = []

    class Collector(BaseHTTPRequestHandler):  # a stand-in OTLP/HTTP collector on 127.0.0.1
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], len(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tracer, collector = make_tracer("t", otlp_endpoint=f"http://127.0.0.1:{server.server_port}/v1/traces")
        with tracer.start_as_current_span("agent.run") as span:
            trace_id = span.get_span_context().trace_id
        assert tracer.span_processor.force_flush(10_000)
        assert [(p, ct) for p, ct, _ in received] == [("/v1/traces", "application/x-protobuf")]
        assert received[0][2] > 0
        assert [s["name"] for s in collector.pop(trace_id)] == ["agent.run"]  # still kept for the Execution
    finally:
        server.shutdown()
