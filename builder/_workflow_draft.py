"""Builder drafts for workflow and team agents (issue 7).

A routing request ("triage an incoming ticket, then route it to billing or tech")
becomes a ``workflow``: a ``triage`` step that classifies the input as JSON
``{"route": ...}``, one step per route, and conditional edges from the triage step to
each route (the last route is the default). A draft the model typed ``workflow`` or
``team`` without the section the type needs is completed the same way when the
request names routes, else it falls back to ``react`` (a team needs existing member
agents; the user picks them in the YAML editor).
"""

from __future__ import annotations

import re
from typing import Any

#: When to choose the types (added to the builder's type guide, ``builder._types_draft.AGENT_TYPE_GUIDE``).
TYPE_GUIDE = {
    "workflow": "follows fixed steps with branches, e.g. triage a request then route it to one of several handlers",
    "team": "coordinates other existing agents (sequential, parallel or a supervisor handing off to them)",
}

_NAME = r"[a-z][\w-]*(?:\s+(?:team|desk|queue|department|agent))?"
_ROUTE = re.compile(
    r"\b(?:route|send|forward|dispatch|hand)\s+(?:\w+\s+){0,3}?(?:on\s+)?to\s+(?:the\s+)?"
    rf"(?P<routes>{_NAME}(?:\s*(?:,|\bor\b|\band\b|/)\s*(?:the\s+)?{_NAME}){{1,4}})", re.I)
_STOP = {"the", "a", "an", "team", "desk", "queue", "department", "or", "and"}


def routes_in(intent: str) -> list[str]:
    """Route names a routing request lists (``"... route it to billing or tech"`` -> ``["billing", "tech"]``)."""
    m = _ROUTE.search(intent)
    if not m:
        return []
    words = re.split(r"\s*(?:,|\bor\b|\band\b|/)\s*", m.group("routes").lower())
    out: list[str] = []
    for w in words:
        w = re.sub(r"^(the\s+)", "", w.strip())
        w = re.sub(r"[^a-z0-9_-]", "", w.split()[0] if w.split() else "")
        if w and w not in _STOP and w not in out:
            out.append(w[:30])
    return out if len(out) >= 2 else []


def routing_workflow(routes: list[str], subject: str = "request") -> dict[str, Any]:
    """A ``workflow`` section: triage, one step per route, conditional edges (module docstring)."""
    choices = " or ".join(f'"{r}"' for r in routes)
    steps: list[dict[str, Any]] = [{
        "id": "triage",
        "prompt": (f"Classify this {subject} for routing. Answer with JSON only: "
                   f'{{"route": {choices}, "summary": "<one sentence>"}}\n\n{{{{ input }}}}'),
    }]
    edges: list[dict[str, Any]] = []
    for i, r in enumerate(routes):
        steps.append({"id": r, "system_prompt": f"You handle {r} {subject}s. Be precise and brief.",
                      "prompt": (f"Handle this {r} {subject}:\n{{{{ input }}}}\n\n"
                                 "Triage summary: {{ json.summary }}")})
        last = i == len(routes) - 1
        edges.append({"from": "triage", "to": r,
                      **({} if last else {"condition": f'json.route == "{r}" or contains(output, "{r}")'})})
        edges.append({"from": r, "to": "END"})
    return {"steps": steps, "edges": edges}


def apply_multi_agent_draft(raw: dict[str, Any], intent: str) -> dict[str, Any]:
    """The raw draft, completed for ``workflow``/``team`` (module docstring). Returns a new dict."""
    raw = dict(raw)
    kind = str(raw.get("agent_type") or "react")
    routes = routes_in(intent)
    subject = "ticket" if re.search(r"\btickets?\b", intent, re.I) else "request"
    if routes and kind in ("react", "workflow", "team") and not raw.get("workflow") and not raw.get("team"):
        raw["agent_type"] = "workflow"
        raw["workflow"] = routing_workflow(routes, subject)
    elif kind == "workflow" and not raw.get("workflow"):
        raw["agent_type"] = "react"
    elif kind == "team" and not raw.get("team"):
        raw["agent_type"] = "react"
    return raw


__all__ = ["TYPE_GUIDE", "apply_multi_agent_draft", "routes_in", "routing_workflow"]
