"""LLM gateway v1 with LiteLLM ``mock_response`` (no model server) and resolution rules."""

from __future__ import annotations

import pytest

from agentgraph.errors import ConfigError, LLMError, UserError
from agentgraph.gateway import LiteLLMGateway, build_gateway, provider_model_list, uses_local_llm
from agentgraph.settings import Settings
from agentgraph.testing import ScriptedLLM

MODELS = [{"model_name": "openai/gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "sk-test"}}]


async def test_litellm_router_mock_response_counts_tokens_and_cost() -> None:
    gw = LiteLLMGateway(MODELS)
    c = await gw.complete([{"role": "user", "content": "hello there"}], mock_response="Hi! How can I help?")
    assert c.content == "Hi! How can I help?"
    assert c.prompt_tokens > 0 and c.completion_tokens > 0
    assert c.cost_usd > 0  # priced from LiteLLM's local cost map
    assert c.latency_ms >= 0
    assert "default" in gw.describe()["models"]


async def test_unknown_model_is_a_user_error() -> None:
    gw = LiteLLMGateway(MODELS)
    with pytest.raises(UserError, match="not served"):
        await gw.complete([{"role": "user", "content": "x"}], model="nope", mock_response="x")


async def test_provider_failure_is_llm_error() -> None:
    gw = LiteLLMGateway(MODELS, num_retries=0)
    with pytest.raises(LLMError, match="failed"):
        await gw.complete([{"role": "user", "content": "x"}], mock_response=Exception("boom"))


def test_resolution_order(tmp_path) -> None:
    s = Settings()
    assert provider_model_list(s, env={}) == []
    assert uses_local_llm(s, env={})
    assert [d["model_name"] for d in provider_model_list(s, env={"OPENAI_API_KEY": "k"})] == ["openai/gpt-4o-mini"]
    f = tmp_path / "models.yaml"
    f.write_text("model_list:\n  - model_name: fast\n    litellm_params: {model: openai/gpt-4o-mini}\n")
    s2 = Settings(llm={"model_list_file": f})
    assert [d["model_name"] for d in provider_model_list(s2, env={})] == ["fast"]
    f.write_text("- nope\n")
    with pytest.raises(ConfigError, match="model_list"):
        provider_model_list(s2, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        provider_model_list(Settings(llm={"model_list_file": tmp_path / "missing.yaml"}), env={})
    assert isinstance(build_gateway(Settings(llm={"scripted": True})), ScriptedLLM)
