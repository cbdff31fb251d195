"""Platform memory as agent tools: notebook search, remember/recall, thread summaries.

* :func:`notebook_tools` - for each notebook in ``spec.notebooks`` a ``search_<name>``
  tool returning numbered passages with their citation (document, chunk, score), and
  a system-prompt addition telling the agent to cite them (stricter for ``qa`` agents:
  answer only from the passages).
* :func:`memory_tools` - ``remember`` / ``recall`` over the long-term store when
  ``memory.long_term`` is on (``recall`` only with strategy ``summary``).
* :func:`thread_summary_listener` - after each run of an agent with strategy
  ``summary``/``both``, the thread is summarised by the LLM and stored as the memory
  ``thread:<thread_id>`` (overwritten as the thread grows), so later threads recall it.
"""

from __future__ import annotations

import re
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agentgraph.errors import AgentGraphError, ToolError
from agentgraph.gateway import ChatModel
from agentgraph.spec import AgentType, MemoryStrategy
from graph import NotebookRepository
from memory import LongTermMemory, NotebookService, SearchHit, memory_namespace

from runners._context import SUMMARY_PROMPT
from runners._local_tools import LocalTool, RunContext, ToolProvider
from runners._runner import RunOutcome

_NAME = re.compile(r"[^a-z0-9]+")
PASSAGE_CHARS = 700  # per passage shown to the model: 5 passages stay under ~1k tokens

CITE_HINT = ("When you use notebook passages, cite each one as [document, chunk N] (e.g. [policy.md, chunk 2]). "
             "If the passages do not contain the answer, say so.")
QA_HINT = ("Answer only from the passages returned by the notebook search tools, and cite each as "
           "[document, chunk N]. If they do not contain the answer, say you could not find it in the notebooks.")


def search_tool_name(notebook_name: str) -> str:
    """``search_<name>`` as a function name (``^[a-z0-9_]{1,64}$``), e.g. ``search_product_manuals``."""
    return ("search_" + _NAME.sub("_", notebook_name.lower()).strip("_"))[:64].rstrip("_") or "search_notebook"


def format_hits(notebook_name: str, query: str, hits: list[SearchHit]) -> str:
    """Passages with citations as the tool answers them (numbered, best first)."""
    if not hits:
        return f"No passage in notebook '{notebook_name}' matches {query!r}."
    lines = [f"Passages from notebook '{notebook_name}' for {query!r} (cite as [document, chunk N]):"]
    for i, h in enumerate(hits, start=1):
        text = " ".join(h.text.split())[:PASSAGE_CHARS]
        lines.append(f"[{i}] [{h.filename}, chunk {h.chunk_index}] score {h.score:.4f}, similarity {h.similarity:.2f}\n"
                     f"{text}")
    return "\n\n".join(lines)


def notebook_tools(notebooks: NotebookService, repo: NotebookRepository) -> ToolProvider:
    """Tool provider: one search tool per notebook referenced by the run's spec."""

    async def provide(ctx: RunContext) -> list[LocalTool]:
        out: list[LocalTool] = []
        hint = QA_HINT if ctx.spec.agent_type == AgentType.qa else CITE_HINT
        for ref in ctx.spec.notebooks:
            try:
                nb = await repo.get(tenant_id=ctx.tenant_id, notebook_id=ref.notebook_id)
            except AgentGraphError as exc:
                raise ToolError(f"Notebook {ref.notebook_id!r} of this agent is not available ({exc.message}). "
                                "Remove it from the agent's notebooks or restore it.") from exc

            async def search(args: dict[str, Any], _nb=nb, _ref=ref) -> str:
                query = str(args.get("query") or "").strip()
                if not query:
                    return "Give a non-empty 'query' to search the notebook."
                hits = await notebooks.search(tenant_id=ctx.tenant_id, notebook_id=_nb.id, query=query,
                                              top_k=_ref.top_k, min_similarity=_ref.min_similarity)
                return format_hits(_nb.name, query, hits)

            name = search_tool_name(nb.name)
            if any(t.name == name for t in out):
                name = search_tool_name(f"{nb.name}_{nb.id[-6:]}")
            out.append(LocalTool(
                name=name, kind="notebook", fn=search,
                description=(f"Search the notebook '{nb.name}' (knowledge base): {nb.description or nb.name}. "
                             "Returns passages with their document and chunk number to cite."),
                parameters={"type": "object", "properties": {"query": {"type": "string", "description":
                            "What to look for, in a few words or a question."}}, "required": ["query"]},
                attributes={"notebook.id": nb.id, "system_prompt": hint},
            ))
        return out

    return provide


def memory_tools(memory: LongTermMemory) -> ToolProvider:
    """Tool provider: ``remember``/``recall`` per the spec's memory section (nothing when long_term is off)."""

    async def provide(ctx: RunContext) -> list[LocalTool]:
        mem = ctx.spec.memory
        if not mem.long_term:
            return []
        ns = memory_namespace(ctx.tenant_id, ctx.user_id, ctx.agent_id)

        async def remember(args: dict[str, Any]) -> str:
            text = str(args.get("text") or "").strip()
            try:
                key = await memory.remember(ns, text, source=f"thread:{ctx.thread_id}")
            except AgentGraphError as exc:
                return f"Not remembered: {exc.message}"
            return f"Remembered ({key}): {text}"

        async def recall(args: dict[str, Any]) -> str:
            query = str(args.get("query") or "").strip()
            items = await memory.recall(ns, query, limit=mem.recall_k)
            if not items:
                return "No memories yet for this user and agent."
            lines = [f"- {it.value.get('text', '')}" + (f" (similarity {it.score:.2f})" if it.score is not None else "")
                     for it in items]
            return "Memories (most relevant first):\n" + "\n".join(lines)

        tools = [LocalTool(
            name="recall", kind="memory", fn=recall,
            description="Recall long-term memories about this user (facts, preferences, earlier conversations).",
            parameters={"type": "object", "properties": {"query": {"type": "string", "description":
                        "What to recall, e.g. 'preferred language'."}}, "required": ["query"]},
            attributes={"system_prompt": "You have a long-term memory: use `recall` when earlier facts may help."},
        )]
        if mem.strategy in (MemoryStrategy.tools, MemoryStrategy.both):
            tools.insert(0, LocalTool(
                name="remember", kind="memory", fn=remember,
                description="Remember a durable fact or preference about the user for future conversations.",
                parameters={"type": "object", "properties": {"text": {"type": "string", "description":
                            "The fact to remember, one sentence."}}, "required": ["text"]},
                attributes={"system_prompt": "Use `remember` to keep durable facts the user tells you."},
            ))
        return tools

    return provide


def thread_summary_listener(memory: LongTermMemory, llm: ChatModel, checkpointer: BaseCheckpointSaver,
                            thread_key: Any):
    """Run listener storing an LLM summary of the thread (strategy ``summary``/``both``).

    Args:
        thread_key: ``(tenant_id, agent_id, thread_id) -> checkpointer thread id`` (``RunService.thread_key``).
    """

    async def listener(ctx: RunContext, outcome: RunOutcome) -> None:
        mem = ctx.spec.memory
        if not (mem.long_term and mem.short_term and mem.strategy in (MemoryStrategy.summary, MemoryStrategy.both)):
            return
        cfg = {"configurable": {"thread_id": thread_key(ctx.tenant_id, ctx.agent_id, ctx.thread_id)}}
        tup = await checkpointer.aget_tuple(cfg)
        messages = (tup.checkpoint.get("channel_values", {}).get("messages", []) if tup else []) or []
        transcript = "\n".join(f"{getattr(m, 'type', 'message')}: {str(getattr(m, 'content', ''))[:1500]}"
                               for m in messages)
        if not transcript.strip():
            return
        completion = await llm.complete(
            [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": transcript[-16_000:]}],
            model=ctx.spec.model.name, temperature=0.0, max_tokens=min(300, ctx.spec.model.max_tokens))
        summary = (completion.content or "").strip()
        if summary:
            await memory.remember(memory_namespace(ctx.tenant_id, ctx.user_id, ctx.agent_id), summary[:3900],
                                  kind="thread_summary", key=f"thread:{ctx.thread_id}", source=f"thread:{ctx.thread_id}")

    return listener


def thread_ttl_listener(checkpointer: Any, thread_key: Any):
    """Run listener applying ``memory.thread_ttl_min`` to the thread's checkpoint keys.

    The checkpointer's own TTL is platform-wide (``RedisSettings.checkpoint_ttl_min``); an
    agent may ask for a shorter (or longer) one. Keys follow ``AsyncValkeySaver``'s layout
    (``checkpoint:{thread}:...``, ``writes:{thread}:...``, ``thread:{thread}:...``).
    """

    async def listener(ctx: RunContext, outcome: RunOutcome) -> None:
        ttl_min = ctx.spec.memory.thread_ttl_min
        client = getattr(checkpointer, "client", None)
        if not ttl_min or not ctx.spec.memory.short_term or client is None:
            return
        tid = thread_key(ctx.tenant_id, ctx.agent_id, ctx.thread_id)
        escaped = re.sub(r"([*?\[\]\\])", r"\\\1", tid)
        for prefix in ("checkpoint", "writes", "thread"):
            async for key in client.scan_iter(match=f"{prefix}:{{{escaped}}}:*", count=500):
                await client.expire(key, int(ttl_min * 60))

    return listener


__all__ = ["notebook_tools", "memory_tools", "thread_summary_listener", "thread_ttl_listener", "search_tool_name", "format_hits",
           "CITE_HINT", "QA_HINT"]
