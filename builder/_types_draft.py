"""Builder drafts know every agent type, and schedules (issue 7).

* :data:`AGENT_TYPE_GUIDE` - one line per agent type telling the model when to choose
  it; rendered into the builder's system prompt by :func:`agent_type_guide`. Add a
  line here when a type is added to ``AgentType`` (its value goes into the draft
  schema's enum automatically; a type without a line is offered without guidance).
* :func:`schedule_trigger` - the draft's ``schedule`` (a 5-field cron) as a
  ``calendar`` trigger; an invalid cron is dropped, not an error.
* :func:`apply_type_draft` - deterministic touches after the model's draft, so a small
  local model (or none) still lands on the right shape: a recurring request ("every
  morning", "each Monday"...) gets a schedule trigger when the model gave none, and
  a request for a document/export ("into a report", "as a PDF", "CSV export") drafted
  as ``react`` becomes a ``producer``.
"""

from __future__ import annotations

import re
from typing import Any

from agentgraph.spec import AgentSpec, AgentType
from agentgraph.triggers import CalendarTrigger

#: When to choose each type (shown to the model, in this order).
AGENT_TYPE_GUIDE: dict[str, str] = {
    "react": "uses tools to look things up or act (the default)",
    "qa": "answers questions from the company's notebooks (knowledge bases), stateless, citing sources",
    "conversational": "chats with a user over many turns and remembers the conversation",
    "producer": "creates files: reports, summaries, PDF/HTML documents, JSON or CSV exports",
    # workflow, team: builder._workflow_draft (issue 7, helper W)
    "workflow": "follows fixed steps with branches, e.g. triage a request then route it to one of several handlers",
    "team": "coordinates other existing agents (sequential, parallel or a supervisor handing off to them)",
}

# Recurring phrases -> cron (minute hour dom month dow), UTC. 08:00 for "morning": a common start of the
# working day; 18:00 for "evening".
_SCHEDULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bevery\s+hour\b|\bhourly\b", re.I), "0 * * * *"),
    (re.compile(r"\bevery\s+(weekday|working day)\b", re.I), "0 8 * * 1-5"),
    (re.compile(r"\bevery\s+monday\b|\bweekly\b|\bevery\s+week\b", re.I), "0 8 * * 1"),
    (re.compile(r"\bevery\s+friday\b", re.I), "0 8 * * 5"),
    (re.compile(r"\b(every|each)\s+(evening|night)\b|\bnightly\b", re.I), "0 18 * * *"),
    (re.compile(r"\b(every|each)\s+(morning|day)\b|\bdaily\b", re.I), "0 8 * * *"),
    (re.compile(r"\b(every|each)\s+month\b|\bmonthly\b", re.I), "0 8 1 * *"),
]
_PRODUCE = re.compile(r"\b(reports?|pdfs?|csv|spreadsheets?|exports?|documents?|html pages?|json files?|"
                      r"newsletters?|digests?)\b", re.I)


def agent_type_guide() -> str:
    """The ``agent_type`` line of the builder's system prompt, listing every ``AgentType`` value."""
    parts = [f'"{t.value}" {AGENT_TYPE_GUIDE[t.value]}' if t.value in AGENT_TYPE_GUIDE else f'"{t.value}"'
             for t in AgentType]
    return "- agent_type: one of " + "; ".join(parts)


#: The draft schema's ``schedule`` property (bounded, so small models finish it).
SCHEDULE_PROPERTY: dict[str, Any] = {
    "type": "string", "maxLength": 40,
    "description": "5-field cron (UTC) when the agent should run by itself regularly, e.g. '0 8 * * *' "
                   "for every morning; empty otherwise.",
}
SCHEDULE_PROMPT = ("- schedule: when the request says the agent runs regularly (every morning, weekly...), a 5-field "
                   "cron in UTC such as \"0 8 * * *\"; otherwise an empty string")


def schedule_trigger(cron: Any, run_input: str) -> CalendarTrigger | None:
    """A ``calendar`` trigger named ``schedule`` for ``cron``, or None when it is empty or not a valid cron."""
    text = re.sub(r"\s+", " ", str(cron or "")).strip()
    if not text or not run_input.strip():
        return None
    try:
        return CalendarTrigger(name="schedule", schedule=text, input=run_input.strip()[:2000])
    except ValueError:
        return None


def cron_from_intent(intent: str) -> str | None:
    """Cron for the first recurring phrase in ``intent`` (table above), else None."""
    for pattern, cron in _SCHEDULES:
        if pattern.search(intent):
            return cron
    return None


def apply_type_draft(spec: AgentSpec, intent: str, first_message: str) -> AgentSpec:
    """The draft with a schedule for recurring requests and ``producer`` for document requests (module docstring).

    Args:
        intent: every user message of the builder thread, joined.
        first_message: the thread's first request, used as the scheduled run's input.
    """
    data = spec.model_dump(mode="json")
    changed = False
    if not spec.triggers:
        trigger = schedule_trigger(cron_from_intent(intent), first_message)
        if trigger is not None:
            data["triggers"] = [trigger.model_dump(mode="json")]
            changed = True
    if spec.agent_type == AgentType.react and _PRODUCE.search(intent):
        data["agent_type"] = AgentType.producer.value
        changed = True
    return AgentSpec.model_validate(data) if changed else spec


__all__ = ["AGENT_TYPE_GUIDE", "SCHEDULE_PROMPT", "SCHEDULE_PROPERTY", "agent_type_guide", "apply_type_draft",
           "cron_from_intent", "schedule_trigger"]
