"""LiteLLM Router behaviour through the gateway: fallbacks, cooldown, dead port, streaming.

The fake provider (``agentgraph.testing.register_fake_provider``, a LiteLLM
``CustomLLM``) and a deployment on a closed 127.0.0.1 port stand in for providers.
"""

from __future__ import annotations

import asyncio

import pytest

from agentgraph.errors import ConfigError, LLMError
from agentgraph.gateway import LiteLLMGateway, RouterConfig, astream
from agentgraph.supervisor import free_port
from agentgraph.testing import ScriptedLLM, register_fake_provider

PRICE = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
MSG = [{"role": "user", "content": "hello gateway"}]


def fake(name: str, group: str, **extra) -> dict:
    return {"model_name": group, "litellm_params": {"model": f"agentgraph-fake/{name}", **PRICE, **extra},
            "model_info": {"id": f"dep-{name}"}}


def dead(group: str) -> dict:
    # A closed loopback port: connection refused at once. max_retries=0 stops the OpenAI
    # client's own retries so only the Router's policy is under test.
    return {"model_name": group, "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-dead",
                                                    "api_base": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 0},
            "model_info": {"id": "dep-dead"}}


@pytest.fixture
def provider():
    p = register_fake_provider()
    p.calls.clear()
    return p


async def test_fallback_chain_primary_then_dead_port_then_fake(provider) -> None:
    gw = LiteLLMGateway([fake("fail-primary", "primary"), dead("fallback-1"), fake("ok-2", "fallback-2")],
                        config=RouterConfig(num_retries=1, allowed_fails=1, cooldown_time_s=60))
    c = await gw.complete(MSG, model="primary", fallbacks=["fallback-1", "fallback-2"])
    assert c.content.startswith("ok-2 says: hello gateway")
    assert provider.calls[0] == "fail-primary" and provider.calls[-1] == "ok-2"
    assert c.cost_usd == pytest.approx(c.prompt_tokens * 1e-6 + c.completion_tokens * 2e-6)
    # The failed primary and the dead port are cooled down (circuit open): the next call skips them.
    cooled = await gw.cooldowns()
    assert "dep-fail-primary" in cooled and "dep-dead" in cooled
    provider.calls.clear()
    c2 = await gw.complete(MSG, model="primary", fallbacks=["fallback-1", "fallback-2"])
    assert c2.content.startswith("ok-2") and provider.calls == ["ok-2"]


async def test_without_fallbacks_the_failure_is_an_llm_error(provider) -> None:
    gw = LiteLLMGateway([fake("fail-solo", "solo")], config=RouterConfig(num_retries=2, allowed_fails=5))
    with pytest.raises(LLMError, match="solo"):
        await gw.complete(MSG, model="solo")
    assert provider.calls.count("fail-solo") == 3  # first try + 2 retries (LiteLLM's backoff)


async def test_cooldown_takes_a_failing_deployment_out_of_its_group(provider) -> None:
    gw = LiteLLMGateway([fake("fail-a", "group"), fake("ok-b", "group")],
                        config=RouterConfig(num_retries=2, allowed_fails=1, cooldown_time_s=60))
    for _ in range(12):
        assert (await gw.complete(MSG, model="group")).content.startswith("ok-b")
        # LiteLLM records failures/cooldowns in callbacks scheduled on the loop: let them run
        # (without this the test flaked on a loaded machine).
        await asyncio.sleep(0.05)
    # simple-shuffle picks at random; once cooled down the failing deployment gets no traffic.
    assert provider.calls.count("fail-a") <= 2
    assert "dep-fail-a" in await gw.cooldowns()


@pytest.mark.parametrize("strategy", ["least-busy", "latency-based-routing"])
async def test_routing_strategies_are_configurable(provider, strategy) -> None:
    gw = LiteLLMGateway([fake("ok-x", "g"), fake("ok-y", "g")], config=RouterConfig(routing_strategy=strategy))
    assert gw.describe()["routing_strategy"] == strategy
    assert "says" in (await gw.complete(MSG, model="g")).content


def test_unknown_routing_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="least-busy"):
        LiteLLMGateway([fake("ok-x", "g")], config=RouterConfig(routing_strategy="round-robin-ish"))


async def test_stream_yields_deltas_then_completion_with_ttft_and_cost(provider) -> None:
    gw = LiteLLMGateway([fake("ok-stream", "s")])
    deltas, final = [], None
    async for ev in gw.stream(MSG, model="s"):
        if ev.completion:
            final = ev.completion
        else:
            deltas.append(ev.delta)
    assert len(deltas) >= 3 and "".join(deltas) == final.content
    assert 0 < final.extra["ttft_ms"] <= final.latency_ms
    assert final.completion_tokens == len(deltas) and final.cost_usd > 0


async def test_default_stream_for_models_without_streaming() -> None:
    events = [ev async for ev in astream(ScriptedLLM(), MSG)]
    assert events[-1].completion is not None
    assert "".join(e.delta for e in events[:-1]) == events[-1].completion.content
