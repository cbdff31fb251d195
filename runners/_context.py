"""Keep a thread inside the model's context window: summarise older messages.

Before each LLM call the runner estimates the prompt size (4 characters per token,
OpenAI's rule of thumb for English; a cheap upper-bound-ish estimate that needs no
tokenizer). When it passes ``memory.summarize_at`` of ``memory.context_window_tokens``
(default 75 % of 4096), everything but the last ``memory.keep_recent_messages``
messages is replaced by one summary message written by the LLM. The replacement
is written back to the LangGraph state (so the checkpointed thread shrinks too).
A kept slice never starts with a tool result, so tool calls keep their answers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AnyMessage, RemoveMessage, SystemMessage, ToolMessage, convert_to_openai_messages
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from agentgraph.gateway import ChatModel
from agentgraph.spec import AgentSpec

CHARS_PER_TOKEN = 4
SUMMARY_PREFIX = "Summary of the earlier conversation:"
SUMMARY_PROMPT = (
    "Summarise the conversation below for the assistant that continues it. Keep facts about the user, "
    "decisions, open questions and results of tool calls; drop small talk. At most 8 short bullet points."
)


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    """Rough token count of OpenAI-format messages (characters / 4, plus 4 per message for roles)."""
    chars = 0
    for m in messages:
        chars += len(str(m.get("content") or ""))
        if m.get("tool_calls"):
            chars += len(json.dumps(m["tool_calls"]))
    return chars // CHARS_PER_TOKEN + 4 * len(messages)


@dataclass
class Compaction:
    """Result of :func:`compact_thread`: the messages to send now and the state update that stores them."""

    messages: list[AnyMessage]
    state_update: list[AnyMessage]
    summarised: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


async def compact_thread(llm: ChatModel, spec: AgentSpec, messages: list[AnyMessage]) -> Compaction | None:
    """Summarise older messages when the prompt would pass the threshold; ``None`` when it fits.

    Args:
        llm: the gateway (the agent's own model writes the summary).
        spec: gives ``memory.context_window_tokens``, ``summarize_at``, ``keep_recent_messages``
            and the system prompt (counted in the estimate).
        messages: the thread's messages (LangChain objects, with ids from the state).

    Raises:
        LLMError: the summary call failed (the run fails like any LLM failure).
    """
    mem = spec.memory
    budget = int(mem.context_window_tokens * mem.summarize_at)
    prompt = [{"role": "system", "content": spec.system_prompt}, *convert_to_openai_messages(messages)]
    if estimate_tokens(prompt) <= budget:
        return None
    cut = max(0, len(messages) - mem.keep_recent_messages)
    while cut > 0 and isinstance(messages[cut], ToolMessage):
        cut -= 1  # keep an AI tool call together with its results
    if cut <= 0:
        return None  # nothing old enough to summarise; the recent turns alone are too long
    old, recent = messages[:cut], messages[cut:]
    transcript = "\n".join(f"{m['role']}: {str(m.get('content') or '')[:2000]}"
                           for m in convert_to_openai_messages(old))
    completion = await llm.complete(
        [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": transcript[-24_000:]}],
        model=spec.model.name, temperature=0.0, max_tokens=min(400, spec.model.max_tokens),
        fallbacks=spec.model.fallbacks or None,
    )
    summary = SystemMessage(content=f"{SUMMARY_PREFIX}\n{(completion.content or '').strip()}")
    kept = [summary, *recent]
    return Compaction(messages=kept, state_update=[RemoveMessage(id=REMOVE_ALL_MESSAGES), *kept],
                      summarised=len(old), prompt_tokens=completion.prompt_tokens,
                      completion_tokens=completion.completion_tokens, cost_usd=completion.cost_usd)


async def fit_context(llm: ChatModel, tracer: Any, spec: AgentSpec, messages: list[AnyMessage], usage: Any
                      ) -> tuple[list[AnyMessage], list[AnyMessage]]:
    """Runner hook: the messages to send and the state update that must precede the new answer.

    Adds the summary call's tokens and cost to ``usage`` (a ``RunUsage``) and records a
    ``memory.summarize`` span when a summary was written. Without summarising, returns
    ``(messages, [])``.
    """
    if not spec.memory.short_term:
        return messages, []  # no thread memory: each run starts fresh, nothing accumulates
    started_ns = time.time_ns()
    compaction = await compact_thread(llm, spec, messages)
    if compaction is None:
        return messages, []
    # Span only when a summary was written, so ordinary runs keep a short execution chain.
    tracer.start_span("memory.summarize", start_time=started_ns, attributes={
        "memory.summarised_messages": compaction.summarised, "memory.kept_messages": len(compaction.messages) - 1,
        "llm.usage.prompt_tokens": compaction.prompt_tokens}).end()
    usage.prompt_tokens += compaction.prompt_tokens
    usage.completion_tokens += compaction.completion_tokens
    usage.cost_usd += compaction.cost_usd
    return compaction.messages, compaction.state_update


__all__ = ["fit_context", "compact_thread", "estimate_tokens", "Compaction", "SUMMARY_PREFIX", "SUMMARY_PROMPT"]
