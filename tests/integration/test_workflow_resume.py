"""A redelivered workflow run continues after its last completed step (issue 7, helper V).

Real graph and Redis checkpointer; scripted LLM. The first attempt is cancelled the
way a dying worker's task is (plain ``task.cancel()``: the Execution stays ``running``)
while step 2 waits on the model, after step 1 was checkpointed; the redelivered
attempt (``execution_id=``, ``retries=True`` -> ``resume=True``) must not call step 1's
model again.
"""

from __future__ import annotations

import asyncio

from agentgraph.spec import AgentSpec
from agentgraph.testing import FunctionLLM

SPEC = {
    "name": "Two step flow", "description": "d", "system_prompt": "p", "agent_type": "workflow",
    "workflow": {"steps": [
        {"id": "first", "system_prompt": "STEP-ONE", "prompt": "{{ input }}"},
        {"id": "second", "system_prompt": "STEP-TWO", "prompt": "after: {{ steps.first }}"}],
        "edges": [{"from": "first", "to": "second"}]},
}


class Calls:
    """Counts model calls per step; step 2 hangs on the first attempt until the test cancels it."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"one": 0, "two": 0}
        self.hang = True
        self.at_two = asyncio.Event()

    async def __call__(self, messages, info):
        system = str(messages[0].get("content") or "")
        if "STEP-ONE" in system:
            self.calls["one"] += 1
            return {"content": "first done"}
        self.calls["two"] += 1
        if self.hang:
            self.at_two.set()
            await asyncio.Event().wait()  # the worker "dies" here
        user = str(messages[-1].get("content") or "")
        return {"content": f"second saw [{user}]"}


async def _agent(p) -> str:
    spec = AgentSpec.parse(SPEC)
    aid = f"wf-resume-{id(spec) % 100000}"
    await p.agents.create(tenant_id=p.tenant_id, agent_id=aid, name=spec.name, description=spec.description,
                          agent_type=spec.agent_type.value, spec_yaml=spec.to_yaml(), tool_ids=[],
                          created_by=p.user_id, publish=True)
    return aid


async def _queued(p, aid: str) -> str:
    e = await p.runs.lifecycle.start(tenant_id=p.tenant_id, agent_id=aid, version=1, thread_id=f"thr-{aid}",
                                     input="hello", triggered_by=p.user_id, status="queued")
    return e.id


async def test_redelivered_workflow_skips_completed_steps(platform) -> None:
    calls = Calls()
    platform.runs.runner.llm = FunctionLLM(calls)
    aid = await _agent(platform)
    eid = await _queued(platform, aid)
    first = asyncio.create_task(platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id,
                                                  agent_id=aid, input="hello", execution_id=eid, retries=True))
    await asyncio.wait_for(calls.at_two.wait(), 60)
    saver = platform.runs.runner.checkpointer
    config = {"configurable": {"thread_id": f"workflow:{eid}", "checkpoint_ns": ""}}
    for _ in range(100):  # step 1's checkpoint (written while step 2 starts)
        got = await saver.aget_tuple(config)
        if got and "first" in (got.checkpoint["channel_values"].get("steps") or {}):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("step 1 was never checkpointed")
    first.cancel()
    try:
        await first
    except asyncio.CancelledError:
        pass
    assert (await platform.executions.get(tenant_id=platform.tenant_id, execution_id=eid)).status == "running"
    assert calls.calls == {"one": 1, "two": 1}

    calls.hang = False
    e = await platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id, agent_id=aid,
                                input="hello", execution_id=eid, retries=True)
    assert e.status == "succeeded", e.error
    assert e.attempt == 2
    assert calls.calls == {"one": 1, "two": 2}, "step 1's model was called again on resume"
    assert e.output == "second saw [after: first done]"  # step 2 saw step 1's checkpointed output


async def test_fresh_attempt_starts_over_and_counts_from_zero(platform) -> None:
    """Without resume the run's old checkpoints are dropped: all steps run, bounds count from zero."""
    calls = Calls()
    calls.hang = False
    platform.runs.runner.llm = FunctionLLM(calls)
    aid = await _agent(platform)
    for n in (1, 2):
        e = await platform.runs.run(tenant_id=platform.tenant_id, user_id=platform.user_id, agent_id=aid,
                                    input="hello")
        assert e.status == "succeeded", e.error
        assert calls.calls == {"one": n, "two": n}
        steps = [s["attributes"]["workflow.step"] for s in e.spans if s["name"] == "workflow.step"]
        assert steps == ["first", "second"]
