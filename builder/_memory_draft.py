"""Builder drafts cover notebooks and memory.

* Notebooks are suggested like tools: cosine similarity between the intent and each
  Notebook's name+description embedding (all-MiniLM-L6-v2); those at or above
  ``min_score`` (0.3: unrelated notebooks score below 0.2 on our fixtures) are added
  to the draft's ``notebooks`` with a one-line reason, and a draft with notebooks but
  no tools becomes a ``qa`` agent (grounded answers with citations).
* Memory: long-term memory is switched on when the intent asks for it (remember,
  preferences, "last time"...), with the ``both`` strategy (remember/recall tools and
  thread summaries); otherwise the defaults (thread memory only) stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentgraph.spec import AgentSpec, AgentType, MemoryConfig, MemoryStrategy, NotebookRef
from graph import NotebookRepository
from memory import Embedder, cosine

_LONG_TERM = re.compile(r"\b(remember|remembers|memor(y|ies|ise|ize)|preferences?|last time|earlier conversations?|"
                        r"recall|get to know)\b", re.I)


@dataclass
class NotebookSuggestion:
    """A notebook ranked for an intent; ``score`` is cosine similarity in [-1, 1]."""

    notebook_id: str
    name: str
    score: float
    reason: str


async def suggest_notebooks(repo: NotebookRepository, embedder: Embedder, *, tenant_id: str, intent: str,
                            limit: int = 3, min_score: float = 0.3) -> list[NotebookSuggestion]:
    """Notebooks of the tenant ranked by similarity to ``intent``, best first (at most ``limit``)."""
    notebooks = [n for n in await repo.list(tenant_id=tenant_id) if n.embedding]
    if not notebooks or not intent.strip():
        return []
    [q] = await embedder.embed([intent])
    ranked = sorted(((cosine(q, n.embedding or []), n) for n in notebooks), key=lambda p: p[0], reverse=True)
    return [NotebookSuggestion(notebook_id=n.id, name=n.name, score=round(s, 4),
                               reason=f"{int(round(s * 100))}% similar to your request; {n.chunk_count} chunks "
                                      f"from {n.document_count} documents")
            for s, n in ranked[:limit] if s >= min_score]


def apply_memory_draft(spec: AgentSpec, intent: str, notebooks: list[NotebookSuggestion]) -> AgentSpec:
    """The draft with suggested notebooks and a memory section fitted to the intent."""
    data = spec.model_dump(mode="json")
    data["notebooks"] = [NotebookRef(notebook_id=s.notebook_id, reason=s.reason[:200]).model_dump(mode="json")
                         for s in notebooks]
    if notebooks and not spec.tools and spec.agent_type in (AgentType.react, AgentType.qa):
        # qa is stateless (issue 7): a request that wants memory gets a conversational agent instead.
        data["agent_type"] = (AgentType.conversational if _LONG_TERM.search(intent) else AgentType.qa).value
    if _LONG_TERM.search(intent):
        data["memory"] = MemoryConfig(long_term=True, strategy=MemoryStrategy.both).model_dump(mode="json")
    return AgentSpec.model_validate(data)


__all__ = ["NotebookSuggestion", "suggest_notebooks", "apply_memory_draft"]
