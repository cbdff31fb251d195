"""Deterministic LLMs shipped in the package, for tests and demos without a model.

Like pydantic-ai's ``TestModel``/``FunctionModel``: tests never call a real model
unless they ask for it. Two flavours implement ``agentgraph.gateway.ChatModel``:

* :class:`ScriptedLLM` - a rule-based policy, good enough to drive the whole tour:
  summary requests (a system prompt starting with "Summarise") get an extractive
  summary of the user turns; structured-output requests get a document filled from the JSON schema (enum
  choices taken from the schema, text taken from the conversation); tool-enabled
  turns call the best-matching tool once, then answer from its result; plain turns
  answer and mention the earlier turns of the thread (so thread memory is visible).
* :class:`FunctionLLM` - wraps a user function ``(messages, info) -> message dict``.
* :class:`FakeProvider` - a LiteLLM ``CustomLLM`` provider (``agentgraph-fake/<name>``)
  for exercising the real LiteLLM Router (fallbacks, cooldowns, streaming, cost) without
  a network: names containing ``fail`` raise a 503, others answer (and stream) a
  deterministic text after ``latency_s``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agentgraph.gateway import Completion, StreamEvent, StreamFromComplete

_WORD = re.compile(r"[a-z0-9]+")
_PROPER = re.compile(r"\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)\b")
_QUOTED = re.compile(r"[\"“']([^\"”']{2,80})[\"”']")
_STOP = {
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "that", "our", "we", "i",
    "need", "agent", "an", "up", "it", "is", "with", "me", "my", "please", "find", "also",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _stem(w: str) -> str:
    return w[:-1] if w.endswith("s") and len(w) > 3 else w


def _json_type(schema: dict[str, Any]) -> str:
    """JSON type of a property schema, looking through ``anyOf`` (e.g. ``string | null``)."""
    if "type" in schema:
        return schema["type"]
    for alt in schema.get("anyOf") or schema.get("oneOf") or []:
        if isinstance(alt, dict) and alt.get("type") not in (None, "null"):
            return alt["type"]
    return "string"


def _count_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(str(m.get("content") or "").split()) + 4 for m in messages)


def _last(messages: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    for m in reversed(messages):
        if m.get("role") == role:
            return m
    return None


def _text(m: dict[str, Any] | None) -> str:
    if not m:
        return ""
    c = m.get("content")
    if isinstance(c, list):  # OpenAI content parts
        return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return str(c or "")


class ScriptedLLM(StreamFromComplete):
    """Rule-based deterministic model (see module docstring).

    Args:
        latency_s: artificial latency per call in seconds (benchmarks use 0).
    """

    def __init__(self, latency_s: float = 0.0) -> None:
        self.latency_s = latency_s
        self.calls: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        """Model names served: the scripted model answers for any name."""
        return {"backend": "scripted", "models": ["scripted"]}

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
        **_: Any,
    ) -> Completion:
        """Answer deterministically; see module docstring for the policy."""
        import asyncio

        started = time.perf_counter()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        self.calls.append({"messages": messages, "tools": tools, "response_format": response_format})
        if messages and messages[0].get("role") == "system" and _text(messages[0]).startswith("Summarise"):
            message = self._summarise(messages)  # thread summaries (runners._context, long-term memory)
        elif response_format and response_format.get("schema"):
            content = json.dumps(self._fill_schema(response_format["schema"], messages))
            message: dict[str, Any] = {"role": "assistant", "content": content}
        elif tools and messages and messages[-1].get("role") == "user":
            message = self._call_tool(messages, tools)  # may answer directly when no tool fits
        elif messages and messages[-1].get("role") == "tool":
            message = self._answer_from_tool(messages)
        else:
            message = self._answer(messages)
        prompt = _count_tokens(messages)
        completion = len(str(message.get("content") or "").split()) + 8 * len(message.get("tool_calls", []))
        return Completion(
            message=message,
            model="scripted",
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def stream(self, messages: list[dict[str, Any]], **kwargs: Any):
        """Word-by-word deltas of :meth:`complete`'s answer, then the completion (with ``ttft_ms``)."""
        import asyncio

        started = time.perf_counter()
        c = await self.complete(messages, **kwargs)
        words = re.findall(r"\S+\s*", c.content)
        for i, w in enumerate(words):
            if i == 0:
                c.extra["ttft_ms"] = (time.perf_counter() - started) * 1000
            yield StreamEvent(delta=w)
            await asyncio.sleep(0)
        c.extra.setdefault("ttft_ms", c.latency_ms)
        c.latency_ms = (time.perf_counter() - started) * 1000
        yield StreamEvent(completion=c)

    # --- policies ----------------------------------------------------------
    @staticmethod
    def _summarise(messages: list[dict[str, Any]]) -> dict[str, Any]:
        """Extractive summary: the first line of each of the transcript's first user turns."""
        transcript = _text(_last(messages, "user"))
        asks = [ln.split(":", 1)[1].strip()[:160] for ln in transcript.splitlines()
                if ln.lower().startswith(("user:", "human:")) and ":" in ln]
        body = "\n".join(f"- The user asked: {a}" for a in asks[:8]) or f"- {transcript[:300]}"
        return {"role": "assistant", "content": body}

    def _call_tool(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        user = _text(_last(messages, "user"))
        want = {_stem(w) for w in _words(user)}

        def score(t: dict[str, Any]) -> tuple[int, int]:
            fn = t.get("function", {})
            name_words = {_stem(w) for w in _words(re.sub(r"[_\-]", " ", fn.get("name", "")))}
            desc_words = {_stem(w) for w in _words(fn.get("description", ""))}
            return (len(want & name_words), len(want & desc_words))

        best = max(tools, key=score)
        if score(best) == (0, 0):
            return self._answer(messages)  # nothing relevant to call: answer from the thread
        fn = best["function"]
        params = fn.get("parameters") or {}
        props: dict[str, Any] = params.get("properties") or {}
        required = list(params.get("required") or [])
        subject = self._subject(user)
        args: dict[str, Any] = {}
        for key in required or [k for k in props if _json_type(props[k]) == "string"][:1]:
            ptype = _json_type(props.get(key) or {})
            if ptype == "string":
                args[key] = subject
            elif ptype in ("integer", "number"):
                args[key] = 1
            elif ptype == "boolean":
                args[key] = True
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{len(self.calls)}",
                    "type": "function",
                    "function": {"name": fn["name"], "arguments": json.dumps(args)},
                }
            ],
        }

    @staticmethod
    def _subject(text: str) -> str:
        m = _QUOTED.search(text) or _PROPER.search(text)
        if m:
            return m.group(1)
        words = [w for w in re.findall(r"[A-Za-z0-9]+", text) if w.lower() not in _STOP]
        return " ".join(words[:3]) or text[:40]

    def _answer_from_tool(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        results = []
        for m in reversed(messages):
            if m.get("role") != "tool":
                break
            results.append(_text(m)[:600])
        user = _text(_last(messages, "user"))
        body = "\n".join(reversed(results))
        return {
            "role": "assistant",
            "content": f"Here is what I found for \"{user[:120]}\":\n{body}\n\nDraft follow-up: "
            "Hi, thanks for your interest; could we schedule a call next week?",
        }

    def _answer(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        users = [_text(m) for m in messages if m.get("role") == "user"]
        current = users[-1] if users else ""
        if len(users) > 1:
            content = f"Earlier you said: \"{users[-2][:200]}\". Now you ask: \"{current[:200]}\"."
        else:
            content = f"You asked: \"{current[:200]}\"."
        return {"role": "assistant", "content": content}

    # --- structured output -------------------------------------------------
    def _fill_schema(self, schema: dict[str, Any], messages: list[dict[str, Any]]) -> Any:
        defs = schema.get("$defs", {})
        users = [_text(m) for m in messages if m.get("role") == "user"]
        intent = " ".join(users)
        return self._fill(schema, defs, "", intent)

    def _fill(self, node: dict[str, Any], defs: dict[str, Any], key: str, intent: str) -> Any:
        if "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        if "anyOf" in node:
            node = next((n for n in node["anyOf"] if n.get("type") != "null"), node["anyOf"][0])
        if "enum" in node:
            return node["enum"][0]
        if "default" in node and key not in ("name", "description", "system_prompt"):
            return node["default"]
        t = node.get("type")
        if t == "object":
            props = node.get("properties", {})
            return {k: self._fill(v, defs, k, intent) for k, v in props.items()}
        if t == "array":
            items = node.get("items", {})
            if "$ref" in items:
                items = defs[items["$ref"].split("/")[-1]]
            enum_src = items.get("properties", {}).get("tool_id", {}).get("enum") or items.get("enum")
            limit = node.get("maxItems", 2)
            if enum_src:
                picked = enum_src[: min(limit, 2, len(enum_src))]
                if "enum" in items:
                    return picked
                return [
                    {k: (tid if k == "tool_id" else self._fill(v, defs, k, intent))
                     for k, v in items.get("properties", {}).items()}
                    for tid in picked
                ]
            return []
        if t in ("integer", "number"):
            return node.get("minimum", 1)
        if t == "boolean":
            return True
        return self._text_for(key, intent, node.get("maxLength", 200))

    @staticmethod
    def _text_for(key: str, intent: str, max_len: int) -> str:
        words = [w for w in re.findall(r"[A-Za-z]+", intent) if w.lower() not in _STOP]
        if key == "name":
            out = " ".join(w.capitalize() for w in words[:4]) or "Assistant"
        elif key == "system_prompt":
            out = f"You are a helpful agent. Your job: {intent.strip()} Use the available tools; be concise."
        elif key == "reason":
            out = "Matches the request."
        else:
            out = intent.strip() or "An agent."
        return out[:max_len]


class FunctionLLM(StreamFromComplete):
    """A model whose answers come from ``fn(messages, info)``.

    ``fn`` returns an assistant message dict (sync or async); ``info`` holds
    ``tools``, ``response_format`` and ``model``.
    """

    def __init__(self, fn: Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]):
        self.fn = fn

    def describe(self) -> dict[str, Any]:
        """Model names served: any."""
        return {"backend": "function", "models": ["function"]}

    async def complete(self, messages: list[dict[str, Any]], **kw: Any) -> Completion:
        """Call ``fn``; token counts are word counts."""
        import inspect

        out = self.fn(messages, kw)
        if inspect.isawaitable(out):
            out = await out
        out.setdefault("role", "assistant")
        return Completion(
            message=out,
            model="function",
            prompt_tokens=_count_tokens(messages),
            completion_tokens=len(str(out.get("content") or "").split()),
        )


FAKE_PROVIDER = "agentgraph-fake"


def _make_fake_provider() -> Any:
    import asyncio

    import litellm
    from litellm import CustomLLM

    class FakeProvider(CustomLLM):
        """LiteLLM custom provider ``agentgraph-fake`` (see module docstring).

        Attributes:
            calls: model names called, in order (failures included).
            latency_s: per-name artificial latency before the first token, seconds.
            replies: per-name fixed reply text (default: ``"<name> says: <last user text>"``).
        """

        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []
            self.latency_s: dict[str, float] = {}
            self.replies: dict[str, str] = {}

        def _reply(self, model: str, messages: list[dict[str, Any]]) -> str:
            self.calls.append(model)
            if "fail" in model:
                raise litellm.ServiceUnavailableError(message=f"fake deployment {model} is down",
                                                      llm_provider=FAKE_PROVIDER, model=model)
            return self.replies.get(model) or f"{model} says: {_text(_last(messages, 'user'))[:200]}"

        def _words(self, model: str, messages: list[dict[str, Any]], kwargs: dict[str, Any]) -> list[str]:
            words = re.findall(r"\S+\s*", self._reply(model, messages))
            limit = (kwargs.get("optional_params") or {}).get("max_tokens")
            return words[:limit] if limit else words  # honour max_tokens like a real provider (1 word = 1 token)

        async def acompletion(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(self.latency_s.get(model, 0.0))
            words = self._words(model, messages, kwargs)
            resp = litellm.mock_completion(model=f"{FAKE_PROVIDER}/{model}", messages=messages,
                                           mock_response="".join(words))
            prompt = _count_tokens(messages)
            resp.usage = litellm.Usage(prompt_tokens=prompt, completion_tokens=len(words),
                                       total_tokens=prompt + len(words))
            return resp

        async def astreaming(self, model: str, messages: list[dict[str, Any]], *args: Any, **kwargs: Any):
            await asyncio.sleep(self.latency_s.get(model, 0.0))
            words = self._words(model, messages, kwargs)
            prompt = _count_tokens(messages)
            for i, w in enumerate(words):
                last = i == len(words) - 1
                yield {"text": w, "is_finished": last, "finish_reason": "stop" if last else "", "index": 0,
                       "tool_use": None, "usage": {"prompt_tokens": prompt, "completion_tokens": len(words),
                                                   "total_tokens": prompt + len(words)} if last else None}
                await asyncio.sleep(0.002)

    return FakeProvider()


_FAKE: Any = None


def register_fake_provider() -> Any:
    """Install the ``agentgraph-fake`` LiteLLM provider once per process; return it (see FakeProvider)."""
    import litellm

    global _FAKE
    if _FAKE is None:
        _FAKE = _make_fake_provider()
    if not any(p.get("provider") == FAKE_PROVIDER for p in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map,
                                       {"provider": FAKE_PROVIDER, "custom_handler": _FAKE}]
        from litellm.utils import custom_llm_setup

        custom_llm_setup()
    return _FAKE


__all__ = ["ScriptedLLM", "FunctionLLM", "FAKE_PROVIDER", "register_fake_provider"]
