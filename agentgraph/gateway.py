"""LLM gateway v1: one async ``complete`` call in front of every model.

Backends implement the small :class:`ChatModel` protocol:

* :class:`LiteLLMGateway` - a LiteLLM ``Router``: the local llama.cpp server when no
  provider key is set, otherwise the configured providers (see :func:`build_gateway`).
* ``agentgraph.testing.ScriptedLLM`` - deterministic, for tests and demos.

Messages and tool calls use the OpenAI chat format (what LiteLLM speaks).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from agentgraph.errors import ConfigError, LLMError, UserError
from agentgraph.settings import Settings

# Without this litellm downloads its price list from the internet at import
# (DESIGN.md facts). Must be set before the first ``import litellm``.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

DEFAULT_ALIAS = "default"


@dataclass
class Completion:
    """One LLM answer.

    Attributes:
        message: OpenAI-style assistant message ``{"role": "assistant", "content":
            str | None, "tool_calls": [{"id", "type": "function", "function":
            {"name", "arguments": json-str}}]}`` (``tool_calls`` only when present).
        model: the deployment that answered (after fallbacks).
        prompt_tokens / completion_tokens: token counts reported by the provider.
        cost_usd: LiteLLM ``response_cost`` (0.0 for local and scripted models).
        latency_ms: wall time of the call in milliseconds.
    """

    message: dict[str, Any]
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """Text content of the message ('' when the model only called tools)."""
        return self.message.get("content") or ""

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Tool calls in OpenAI format (possibly empty)."""
        return list(self.message.get("tool_calls") or [])


@runtime_checkable
class ChatModel(Protocol):
    """What runners and the builder need from an LLM backend."""

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        fallbacks: list[str] | None = None,
    ) -> Completion:
        """Return one completion; raise ``LLMError`` when no deployment answers."""
        ...

    def describe(self) -> dict[str, Any]:
        """Models served, for health checks and the UI."""
        ...


class LiteLLMGateway:
    """A LiteLLM ``Router`` behind :class:`ChatModel`.

    Args:
        model_list: LiteLLM Router deployments (``[{"model_name", "litellm_params"}]``).
            The first deployment's ``model_name`` is also served as ``"default"``.
        num_retries: Router retries per call (LiteLLM's own backoff).
        timeout_s: per-request timeout in seconds.

    Raises:
        ConfigError: when ``model_list`` is empty.
    """

    def __init__(self, model_list: list[dict[str, Any]], *, num_retries: int = 1, timeout_s: float = 120.0) -> None:
        if not model_list:
            raise ConfigError("The LLM gateway needs at least one model; set a provider key or a model list file.")
        import litellm  # noqa: F401  (import after the env guard above)
        from litellm import Router

        first = model_list[0]
        aliased = list(model_list)
        if not any(d["model_name"] == DEFAULT_ALIAS for d in model_list):
            aliased.append({"model_name": DEFAULT_ALIAS, "litellm_params": dict(first["litellm_params"])})
        self._model_names = sorted({d["model_name"] for d in aliased})
        self._router = Router(model_list=aliased, num_retries=num_retries, timeout=timeout_s)

    def describe(self) -> dict[str, Any]:
        """Model names the router serves."""
        return {"backend": "litellm", "models": self._model_names}

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        fallbacks: list[str] | None = None,
        **extra: Any,
    ) -> Completion:
        """Call the router. ``extra`` passes through (e.g. LiteLLM ``mock_response`` in tests).

        Raises:
            UserError: the model name is not served by this gateway.
            LLMError: every deployment (and fallback) failed.
        """
        import litellm

        name = model or DEFAULT_ALIAS
        if name not in self._model_names:
            raise UserError(
                f"Model {name!r} is not served by the gateway. Served models: {', '.join(self._model_names)}. "
                "Change the agent's model.name or add the model to the gateway's model list."
            )
        kwargs: dict[str, Any] = {"model": name, "messages": messages, **extra}
        if tools:
            kwargs["tools"] = tools
        if response_format:
            kwargs["response_format"] = response_format
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if fallbacks:
            kwargs["fallbacks"] = [f for f in fallbacks if f in self._model_names]
        started = time.perf_counter()
        try:
            resp = await self._router.acompletion(**kwargs)
        except Exception as exc:  # litellm raises many provider-specific types
            raise LLMError(f"LLM call to {name!r} failed: {type(exc).__name__}: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        msg = resp.choices[0].message
        message: dict[str, Any] = {"role": "assistant", "content": msg.content}
        if getattr(msg, "tool_calls", None):
            message["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.function.name, "arguments": tc.function.arguments or "{}"},
                }
                for tc in msg.tool_calls
            ]
        usage = getattr(resp, "usage", None)
        cost = (getattr(resp, "_hidden_params", None) or {}).get("response_cost")
        if cost is None:
            try:
                cost = litellm.completion_cost(completion_response=resp)
            except Exception:  # unknown (local) model: no price
                cost = 0.0
        return Completion(
            message=message,
            model=str(getattr(resp, "model", name)),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            cost_usd=float(cost or 0.0),
            latency_ms=latency_ms,
        )


def local_model_list(settings: Settings) -> list[dict[str, Any]]:
    """Deployment for the local llama.cpp OpenAI-compatible server."""
    return [
        {
            "model_name": settings.llm.local_model_alias,
            "litellm_params": {
                "model": "openai/local",
                "api_base": settings.local_llm_url,
                "api_key": "sk-local",
            },
        }
    ]


def provider_model_list(settings: Settings, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Deployments from a model-list YAML or provider keys; empty when neither is set.

    The YAML is LiteLLM's ``model_list`` format (a list, or a mapping with a
    ``model_list`` key). Keys: ``OPENAI_API_KEY`` -> ``openai/gpt-4o-mini``,
    ``ANTHROPIC_API_KEY`` -> ``anthropic/claude-3-5-haiku-latest``.

    Raises:
        ConfigError: when the YAML file is missing or malformed.
    """
    env = os.environ if env is None else env
    path = settings.llm.model_list_file
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"LLM model list file {p} does not exist; fix AGENTGRAPH_LLM__MODEL_LIST_FILE.")
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"LLM model list file {p} is not valid YAML: {exc}") from exc
        items = data.get("model_list") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(
            isinstance(d, dict) and "model_name" in d and "litellm_params" in d for d in items
        ):
            raise ConfigError(
                f"LLM model list file {p} must be a list of {{model_name, litellm_params}} entries "
                "(LiteLLM's model_list format)."
            )
        return items
    out: list[dict[str, Any]] = []
    if env.get("OPENAI_API_KEY"):
        out.append({"model_name": "openai/gpt-4o-mini", "litellm_params": {"model": "openai/gpt-4o-mini"}})
    if env.get("ANTHROPIC_API_KEY"):
        out.append(
            {
                "model_name": "anthropic/claude-3-5-haiku-latest",
                "litellm_params": {"model": "anthropic/claude-3-5-haiku-latest"},
            }
        )
    return out


def uses_local_llm(settings: Settings, env: dict[str, str] | None = None) -> bool:
    """True when the gateway will route to the local llama.cpp server."""
    return not settings.llm.scripted and not provider_model_list(settings, env)


def build_gateway(settings: Settings) -> ChatModel:
    """Build the gateway the settings ask for (see ``LLMSettings`` resolution order)."""
    if settings.llm.scripted:
        from agentgraph.testing import ScriptedLLM

        return ScriptedLLM()
    models = provider_model_list(settings) or local_model_list(settings)
    if settings.llm.default_model:
        models = sorted(models, key=lambda d: d["model_name"] != settings.llm.default_model)
    return LiteLLMGateway(models, num_retries=settings.llm.num_retries, timeout_s=settings.llm.request_timeout_s)


__all__ = [
    "ChatModel",
    "Completion",
    "LiteLLMGateway",
    "DEFAULT_ALIAS",
    "build_gateway",
    "local_model_list",
    "provider_model_list",
    "uses_local_llm",
]
