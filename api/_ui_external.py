"""Test run tab extras for issue 7: child runs of a run, and "Test connection" for external agents.

* **Child runs** (``#run-children``): the runs a team, a delegating agent or a workflow's agent
  step started, listed under the execution chain with agent, status and latency (two levels:
  a child's own children are indented). Selecting a row shows that child run.
* **External agent** accordion (``#external-section``): "Test connection" calls
  ``testExternalAgent`` (probes the remote platform now and stores the outcome), then shows the
  probe's ok / latency / detail and the health stored on the agent (``externalAgentHealth``).

Everything goes through the GraphQL client (:class:`api._ui_client.PlatformClient`); no service import.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from api._ui_client import PlatformClient, UIError
from api._ui_notice import guarded, notice

CHILD_COLUMNS = ["run id", "agent", "status", "latency ms", "output"]
_HEALTH_FIELDS = "agentId ok status latencyMs checkedAt detail"
TEST_CONNECTION = f"mutation($id: ID!) {{ testExternalAgent(agentId: $id) {{ {_HEALTH_FIELDS} }} }}"
STORED_HEALTH = f"query($id: ID!) {{ externalAgentHealth(agentId: $id) {{ {_HEALTH_FIELDS} }} }}"


# --- child runs ------------------------------------------------------------------------------------------
def children_frame(children: list[dict[str, Any]]) -> pd.DataFrame:
    """Child runs as a table, oldest first; grandchildren (``children`` of a child) indented under their parent.

    Args:
        children: ``Execution.children`` items with ``id agentId status latencyMs output`` (and optionally
            their own ``children``).
    """
    rows: list[list[Any]] = []

    def walk(items: list[dict[str, Any]], depth: int) -> None:
        for c in items:
            prefix = "\u00a0\u00a0\u00a0\u00a0" * depth + ("\u2514 " if depth else "")
            latency = None if c.get("latencyMs") is None else round(float(c["latencyMs"]))
            rows.append([c["id"], prefix + str(c.get("agentId") or "-"), c.get("status") or "-", latency,
                         (c.get("output") or c.get("error") or "")[:80]])
            walk(c.get("children") or [], depth + 1)

    walk(children, 0)
    return pd.DataFrame(rows, columns=CHILD_COLUMNS)


def children_box() -> gr.Dataframe:
    """The (initially empty) child-runs table placed under the execution chain."""
    return gr.Dataframe(value=pd.DataFrame(columns=CHILD_COLUMNS), interactive=False, wrap=True,
                        label="Child runs (team members, delegates, workflow agent steps; select one to show it)",
                        elem_id="run-children")


# --- external agents: Test connection ----------------------------------------------------------------------
def health_markdown(probe: dict[str, Any] | None, stored: dict[str, Any] | None) -> str:
    """The connection test's outcome and the health stored on the agent, as Markdown."""
    def line(h: dict[str, Any]) -> str:
        state = {True: "**up**", False: "**down**"}.get(h.get("ok"), "_never checked_")
        latency = f"{h['latencyMs']:.0f} ms" if h.get("latencyMs") is not None else "-"
        return f"{state} · {latency} · checked {h.get('checkedAt') or '-'} · {h.get('detail') or ''}".rstrip(" ·")

    parts = []
    if probe is not None:
        parts.append(f"**Test connection:** {'ok' if probe.get('ok') else 'failed'} — {line(probe)}")
    if stored is not None:
        parts.append(f"**Stored health:** {line(stored)}")
    return "\n\n".join(parts)


def build_external_section(api: PlatformClient, agent: gr.Dropdown) -> None:
    """The "External agent: test connection" accordion acting on the Test run tab's ``agent`` dropdown."""
    with gr.Accordion("External agent: test connection", open=False, elem_id="external-section"):
        gr.Markdown("For agents of type `external` (docs/external-agents.md): probe the remote platform now "
                    "(its health path, else a harmless request) and store the outcome as the agent's health.")
        with gr.Row():
            test_btn = gr.Button("Test connection", variant="primary", scale=1, elem_id="ext-test-btn")
            show_btn = gr.Button("Show stored health", scale=1, elem_id="ext-health-btn")
        ext_notice = gr.HTML(elem_id="ext-notice")
        health = gr.Markdown(elem_id="ext-health")

    def need(agent_id: str | None) -> str:
        if not agent_id:
            raise UIError("Choose an agent first (Refresh loads the list).", "INPUT")
        return agent_id

    @guarded(ext_notice)
    async def on_test(agent_id: str | None) -> dict:
        aid = need(agent_id)
        probe = (await api.call(TEST_CONNECTION, id=aid))["testExternalAgent"]
        stored = (await api.call(STORED_HEALTH, id=aid))["externalAgentHealth"]
        kind = "ok" if probe.get("ok") else "error"
        return {health: health_markdown(probe, stored),
                ext_notice: notice(f"Connection to {aid}'s platform: {'ok' if probe.get('ok') else 'failed'}.",
                                   kind)}

    @guarded(ext_notice)
    async def on_show(agent_id: str | None) -> dict:
        stored = (await api.call(STORED_HEALTH, id=need(agent_id)))["externalAgentHealth"]
        return {health: health_markdown(None, stored), ext_notice: ""}

    test_btn.click(on_test, [agent], [health, ext_notice])
    show_btn.click(on_show, [agent], [health, ext_notice])
    agent.change(lambda _a: ("", ""), [agent], [health, ext_notice])  # stale health of another agent


__all__ = ["build_external_section", "children_box", "children_frame", "health_markdown"]
