"""LLM gateway: one async ``complete`` (and ``stream``) call in front of every model.

Backends implement the small :class:`ChatModel` protocol:

* :class:`LiteLLMGateway` - a LiteLLM ``Router`` with per-call fallback chains
  (primary -> fallback 1 -> fallback 2), retries with LiteLLM's exponential backoff,
  cooldown of failing deployments (a circuit breaker: ``allowed_fails`` failures in a
  minute take a deployment out for ``cooldown_time_s``) and a configurable routing
  strategy (see :class:`RouterConfig`).
* ``agentgraph.testing.ScriptedLLM`` / ``FunctionLLM`` - deterministic, for tests.
* ``agentgraph.metering.MeteredGateway`` - wraps the above with tenant routing
  (BYOK), virtual keys, budgets and usage counters.

Messages and tool calls use the OpenAI chat format (what LiteLLM speaks).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
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
#: LiteLLM Router strategies we expose (``AGENTGRAPH_LLM__ROUTING_STRATEGY``).
ROUTING_STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing")

log = logging.getLogger("agentgraph.gateway")


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
        extra: backend details, e.g. ``ttft_ms`` (time to first token) for streams.
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


@dataclass
class StreamEvent:
    """One item of :meth:`ChatModel.stream`: a text ``delta``, or the final ``completion``."""

    delta: str = ""
    completion: Completion | None = None


@runtime_checkable
class ChatModel(Protocol):
    """What runners, the builder and the comparison need from an LLM backend."""

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


class StreamFromComplete:
    """Mixin: the default ``stream`` - one delta with the whole answer, then the completion."""

    async def stream(self, messages: list[dict[str, Any]], **kwargs: Any) -> AsyncIterator[StreamEvent]:
        """Yield ``StreamEvent(delta=text)`` then ``StreamEvent(completion=...)``."""
        c = await self.complete(messages, **kwargs)  # type: ignore[attr-defined]
        c.extra.setdefault("ttft_ms", c.latency_ms)
        if c.content:
            yield StreamEvent(delta=c.content)
        yield StreamEvent(completion=c)


async def astream(llm: ChatModel, messages: list[dict[str, Any]], **kwargs: Any) -> AsyncIterator[StreamEvent]:
    """Stream from any ChatModel: its ``stream`` method, else the whole completion at once."""
    if hasattr(llm, "stream"):
        async for ev in llm.stream(messages, **kwargs):  # type: ignore[attr-defined]
            yield ev
        return
    async for ev in StreamFromComplete.stream(llm, messages, **kwargs):  # type: ignore[arg-type]
        yield ev


@dataclass(frozen=True)
class RouterConfig:
    """LiteLLM Router behaviour (from ``LLMSettings``).

    Attributes:
        routing_strategy: one of :data:`ROUTING_STRATEGIES` (LiteLLM names).
        num_retries: retries per deployment group; LiteLLM waits with exponential
            backoff and jitter between them (or the provider's Retry-After).
        retry_after_s: minimum wait before a retry, seconds.
        allowed_fails: failures per minute before a deployment is cooled down.
        cooldown_time_s: how long a cooled-down deployment receives no traffic, seconds.
        timeout_s: per-request timeout, seconds.
    """

    routing_strategy: str = "simple-shuffle"
    num_retries: int = 1
    retry_after_s: float = 0.0
    allowed_fails: int = 3
    cooldown_time_s: float = 30.0
    timeout_s: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "RouterConfig":
        """Read the ``AGENTGRAPH_LLM__*`` router knobs."""
        s = settings.llm
        return cls(routing_strategy=s.routing_strategy, num_retries=s.num_retries, retry_after_s=s.retry_after_s,
                   allowed_fails=s.allowed_fails, cooldown_time_s=s.cooldown_time_s, timeout_s=s.request_timeout_s)


class LiteLLMGateway(StreamFromComplete):
    """A LiteLLM ``Router`` behind :class:`ChatModel`.

    Args:
        model_list: LiteLLM Router deployments (``[{"model_name", "litellm_params",
            "model_info"?}]``). The first deployment's ``model_name`` is also served as
            ``"default"``.
        config: router behaviour; ``num_retries`` / ``timeout_s`` override its fields.
        allow_empty: accept an empty list (deployments arrive later via :meth:`set_extra`).

    Raises:
        ConfigError: ``model_list`` is empty (and not allowed) or the strategy is unknown.
    """

    def __init__(self, model_list: list[dict[str, Any]], *, config: RouterConfig | None = None,
                 num_retries: int | None = None, timeout_s: float | None = None, allow_empty: bool = False) -> None:
        if not model_list and not allow_empty:
            raise ConfigError("The LLM gateway needs at least one model; set a provider key or a model list file.")
        cfg = config or RouterConfig()
        if num_retries is not None or timeout_s is not None:
            cfg = RouterConfig(**{**cfg.__dict__, **({"num_retries": num_retries} if num_retries is not None else {}),
                                  **({"timeout_s": timeout_s} if timeout_s is not None else {})})
        if cfg.routing_strategy not in ROUTING_STRATEGIES:
            raise ConfigError(f"Unknown routing strategy {cfg.routing_strategy!r}; set AGENTGRAPH_LLM__ROUTING_STRATEGY "
                              f"to one of {', '.join(ROUTING_STRATEGIES)}.")
        self.config = cfg
        self._base = list(model_list)
        self._extra: list[dict[str, Any]] = []
        self._build()

    def _build(self) -> None:
        import litellm  # noqa: F401  (import after the env guard above)
        from litellm import Router

        deployments = [*self._base, *self._extra]
        if self._base and not any(d["model_name"] == DEFAULT_ALIAS for d in deployments):
            deployments.append({"model_name": DEFAULT_ALIAS, "litellm_params": dict(self._base[0]["litellm_params"])})
        self._deployments = deployments
        self._model_names = sorted({d["model_name"] for d in deployments})
        c = self.config
        self._router = Router(
            model_list=deployments, routing_strategy=c.routing_strategy, num_retries=c.num_retries,
            retry_after=int(c.retry_after_s), allowed_fails=c.allowed_fails, cooldown_time=c.cooldown_time_s,
            timeout=c.timeout_s,
        )

    def set_extra(self, deployments: list[dict[str, Any]]) -> None:
        """Replace the deployments added at run time (admin defaults, BYOK) and rebuild the router.

        Rebuilding resets LiteLLM's in-memory cooldowns and latency statistics. A deployment
        whose provider LiteLLM cannot resolve in this process (e.g. a custom provider that is
        only registered in another process) is skipped with a warning.
        """
        import litellm

        usable = []
        for d in deployments:
            params = d.get("litellm_params") or {}
            try:  # a deployment of a provider this process cannot load must not stop the gateway (or a worker)
                litellm.get_llm_provider(model=params.get("model", ""),
                                         custom_llm_provider=params.get("custom_llm_provider"),
                                         api_base=params.get("api_base"))
            except Exception as exc:
                log.warning("skipping LLM deployment %r (%s): %s", d.get("model_name"), params.get("model"), exc)
                continue
            usable.append(d)
        self._extra = usable
        self._build()

    def serves(self, name: str) -> bool:
        """True when ``name`` is a model group of this router."""
        return name in self._model_names

    def deployments(self, name: str) -> list[dict[str, Any]]:
        """Deployments of a model group (``litellm_params`` include keys: never log them)."""
        return [d for d in self._deployments if d["model_name"] == name]

    def describe(self) -> dict[str, Any]:
        """Model names the router serves and its routing strategy."""
        return {"backend": "litellm", "models": self._model_names, "routing_strategy": self.config.routing_strategy}

    async def cooldowns(self) -> list[str]:
        """Ids of deployments currently cooled down (LiteLLM ``model_info.id``)."""
        from litellm.router_utils.cooldown_handlers import async_get_cooldown_deployments

        return list(await async_get_cooldown_deployments(self._router, parent_otel_span=None))

    def _kwargs(self, messages: list[dict[str, Any]], model: str | None, tools: list[dict[str, Any]] | None,
                response_format: dict[str, Any] | None, temperature: float | None, max_tokens: int | None,
                fallbacks: list[str] | None, extra: dict[str, Any]) -> dict[str, Any]:
        name = model or DEFAULT_ALIAS
        if name not in self._model_names:
            raise UserError(
                f"Model {name!r} is not served by the gateway. Served models: {', '.join(self._model_names) or '(none)'}. "
                "Change the agent's model.name or add the model (addLlmDeployment / the model list file)."
            )
        kwargs: dict[str, Any] = {"model": name, "messages": messages, **extra}
        for key, val in (("tools", tools), ("response_format", response_format)):
            if val:
                kwargs[key] = val
        if temperature is not None:
            kwargs["temperature"] = temperature
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if fallbacks:
            # Per-call chain: LiteLLM tries each group in order after the primary's retries fail.
            kwargs["fallbacks"] = [f for f in fallbacks if f in self._model_names and f != name]
        return kwargs

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
        kwargs = self._kwargs(messages, model, tools, response_format, temperature, max_tokens, fallbacks, extra)
        started = time.perf_counter()
        try:
            resp = await self._router.acompletion(**kwargs)
        except Exception as exc:  # litellm raises many provider-specific types
            raise LLMError(f"LLM call to {kwargs['model']!r} failed: {type(exc).__name__}: {_short(exc)}") from exc
        return _to_completion(resp, kwargs["model"], (time.perf_counter() - started) * 1000)

    async def stream(
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
    ) -> AsyncIterator[StreamEvent]:
        """Stream text deltas (LiteLLM ``stream=True``), then the assembled completion.

        The final completion's ``extra["ttft_ms"]`` is the time to the first text delta.

        Raises:
            UserError / LLMError: as :meth:`complete` (fallbacks apply to opening the stream).
        """
        import litellm

        kwargs = self._kwargs(messages, model, tools, response_format, temperature, max_tokens, fallbacks, extra)
        started = time.perf_counter()
        ttft_ms: float | None = None
        chunks: list[Any] = []
        try:
            resp = await self._router.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
            async for chunk in resp:
                chunks.append(chunk)
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta:
                    if ttft_ms is None:
                        ttft_ms = (time.perf_counter() - started) * 1000
                    yield StreamEvent(delta=delta)
            full = litellm.stream_chunk_builder(chunks, messages=messages)
        except Exception as exc:
            raise LLMError(f"LLM stream from {kwargs['model']!r} failed: {type(exc).__name__}: {_short(exc)}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        completion = _to_completion(full, kwargs["model"], latency_ms)
        completion.extra["ttft_ms"] = ttft_ms if ttft_ms is not None else latency_ms
        yield StreamEvent(completion=completion)


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else ""


def _to_completion(resp: Any, name: str, latency_ms: float) -> Completion:
    """LiteLLM ``ModelResponse`` -> :class:`Completion` (cost: ``response_cost``, else ``completion_cost``)."""
    import litellm

    msg = resp.choices[0].message
    message: dict[str, Any] = {"role": "assistant", "content": msg.content}
    if getattr(msg, "tool_calls", None):
        message["tool_calls"] = [
            {"id": tc.id, "type": "function",
             "function": {"name": tc.function.name, "arguments": tc.function.arguments or "{}"}}
            for tc in msg.tool_calls
        ]
    usage = getattr(resp, "usage", None)
    hidden = getattr(resp, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if cost is None:
        cost = getattr(usage, "cost", None)
    if cost is None:
        try:
            cost = litellm.completion_cost(completion_response=resp)
        except Exception:  # unknown (local) model: no price
            cost = 0.0
    return Completion(
        message=message,
        model=str(getattr(resp, "model", None) or name),
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cost_usd=float(cost or 0.0),
        latency_ms=latency_ms,
        extra={"deployment_id": (hidden.get("model_id") or "")},
    )


def local_model_list(settings: Settings) -> list[dict[str, Any]]:
    """Deployment for the local llama.cpp OpenAI-compatible server."""
    return [
        {
            "model_name": settings.llm.local_model_alias,
            "litellm_params": {"model": "openai/local", "api_base": settings.local_llm_url, "api_key": "sk-local"},
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
        out.append({"model_name": "anthropic/claude-3-5-haiku-latest",
                    "litellm_params": {"model": "anthropic/claude-3-5-haiku-latest"}})
    return out


def uses_local_llm(settings: Settings, env: dict[str, str] | None = None) -> bool:
    """True when the gateway will route to the local llama.cpp server."""
    return not settings.llm.scripted and not provider_model_list(settings, env)


def build_gateway(settings: Settings) -> ChatModel:
    """Build the base backend the settings ask for (see ``LLMSettings`` resolution order).

    The platform wraps it in ``agentgraph.metering.MeteredGateway`` (budgets, BYOK, usage).
    """
    if settings.llm.scripted:
        from agentgraph.testing import ScriptedLLM

        return ScriptedLLM()
    models = provider_model_list(settings) or local_model_list(settings)
    if settings.llm.default_model:
        models = sorted(models, key=lambda d: d["model_name"] != settings.llm.default_model)
    return LiteLLMGateway(models, config=RouterConfig.from_settings(settings))


__all__ = [
    "ChatModel",
    "Completion",
    "StreamEvent",
    "StreamFromComplete",
    "LiteLLMGateway",
    "RouterConfig",
    "ROUTING_STRATEGIES",
    "DEFAULT_ALIAS",
    "astream",
    "build_gateway",
    "local_model_list",
    "provider_model_list",
    "uses_local_llm",
]
