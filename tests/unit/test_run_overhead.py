"""Per-run overhead cuts without services (issue 6, figure 1): the shared compiled ReAct graph, the
Execution create overlapped with the run, the parsed-spec cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentgraph.errors import NotFoundError
from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM
from graph import AgentVersion, Execution, now_iso
from runners import AgentRunner, RunService, make_tracer
from runners._service import _PendingCreate


async def test_concurrent_runs_share_one_compiled_graph_but_not_their_state() -> None:
    async def echo(messages: list[dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)  # both runs are inside the graph at once
        return {"content": messages[0]["content"]}

    tracer, _ = make_tracer("test")
    runner = AgentRunner(FunctionLLM(echo), None, tracer)  # type: ignore[arg-type] - no checkpoints used

    def spec(prompt: str) -> AgentSpec:
        return AgentSpec(name="a", description="d", system_prompt=prompt, memory={"short_term": False})

    a, b = await asyncio.gather(runner.run(spec("I am A."), "hi", thread_key="t1", tool_urls={}),
                                runner.run(spec("I am B."), "hi", thread_key="t2", tool_urls={}))
    assert (a.output, b.output) == ("I am A.", "I am B.")
    assert a.usage is not b.usage and a.usage.llm_calls == b.usage.llm_calls == 1
    assert len(runner._graphs) == 1  # compiled once, reused
    runner.llm = FunctionLLM(lambda m, i: {"content": "swapped"})  # a new model applies to the next run
    assert (await runner.run(spec("x"), "hi", thread_key="t3", tool_urls={})).output == "swapped"


async def test_a_failed_create_cancels_the_run_and_surfaces_its_error() -> None:
    async def create() -> Execution:
        await asyncio.sleep(0.01)
        raise NotFoundError("Agent 'a' has no version 1.")

    async def run() -> None:
        pending = _PendingCreate(create(), asyncio.current_task())
        try:
            await asyncio.sleep(5)  # the graph run, cancelled when the create fails
        except asyncio.CancelledError:
            assert pending.failed
            asyncio.current_task().uncancel()
            raise pending.error() from None

    with pytest.raises(NotFoundError):
        await asyncio.wait_for(run(), timeout=2)


async def test_a_create_failing_after_the_run_raises_when_the_outcome_is_recorded() -> None:
    gate = asyncio.Event()

    async def create() -> Execution:
        await gate.wait()
        raise NotFoundError("gone")

    pending = _PendingCreate(create(), asyncio.current_task())
    waiting = asyncio.ensure_future(pending.result())  # the run ended first: it waits for the create
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(NotFoundError):
        await waiting
    assert not asyncio.current_task().cancelling()  # nothing was cancelled: the error is raised instead


def test_specs_are_parsed_once_per_text_and_copied_per_run() -> None:
    svc = RunService.__new__(RunService)
    from cachetools import LRUCache

    svc._specs = LRUCache(maxsize=4)
    yaml = AgentSpec(name="a", description="d", system_prompt="p").to_yaml()
    av = AgentVersion(id="a:v1", tenant_id="t", agent_id="a", version=1, spec_yaml=yaml, spec_hash="h",
                      created_at=now_iso())
    one, two = svc._spec_of(av), svc._spec_of(av)
    assert one == two and one is not two and len(svc._specs) == 1
    one.model.name = "other"  # a comparison run overrides its copy only
    assert svc._spec_of(av).model.name == two.model.name != "other"


async def test_a_create_that_outlives_its_run_logs_its_failure(caplog) -> None:
    gate = asyncio.Event()

    async def create() -> Execution:
        await gate.wait()
        raise NotFoundError("the version went away")

    pending = _PendingCreate(create(), None)
    pending.disarm()  # the run was stopped (shutdown) while its create was still writing
    with caplog.at_level("WARNING", logger="agentgraph.runs"):
        gate.set()
        with pytest.raises(NotFoundError):
            await asyncio.shield(pending.task)
        await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert any("left no record" in r.getMessage() and "went away" in r.getMessage() for r in caplog.records)
