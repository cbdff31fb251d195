"""Sandbox pieces of the Test run tab (issue 7, docs/guardrails.md).

* a **Sandbox** checkbox next to Run: the run calls no real tool (recorded or
  schema-generated answers) and does not count in statistics;
* a **Compare versions (sandbox)** section: generate test inputs from the agent's
  description, run two versions on them in the sandbox, show the outputs side by side
  and their unified diff.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import pandas as pd

from api._ui_notice import guarded
from api._ui_client import _ARTIFACT_FIELDS, _CHILD_FIELDS, _RUN_FIELDS, _SPAN_FIELDS, PlatformClient, UIError

log = logging.getLogger("agentgraph.ui")
SANDBOX_RUN = f"""mutation($id: String!, $input: String!, $thread: String) {{
  runAgent(agentId: $id, input: $input, threadId: $thread, sandbox: true) {{
    {_RUN_FIELDS} {_SPAN_FIELDS} {_ARTIFACT_FIELDS} {_CHILD_FIELDS} sandbox }} }}"""
GENERATE = "mutation($id: String!, $n: Int!) { generateTestInputs(agentId: $id, count: $n) }"
COMPARE = """mutation($id: String!, $a: Int!, $b: Int!, $inputs: [String!]!) {
  compareVersions(agentId: $id, versionA: $a, versionB: $b, inputs: $inputs) {
    input diff a { status output error errorCode } b { status output error errorCode } } }"""
COMPARE_COLUMNS = ["input", "version A", "version B"]


def sandbox_checkbox() -> gr.Checkbox:
    """The Test run tab's checkbox: run with no real tool call."""
    return gr.Checkbox(label="Sandbox (no real tool calls)", value=False, scale=1, elem_id="run-sandbox")


async def run_agent(api: PlatformClient, agent_id: str, text: str, thread_id: str | None,
                    sandbox: bool) -> dict[str, Any]:
    """Run an agent from the UI, in the sandbox when ``sandbox`` (else exactly ``api.run``)."""
    if not sandbox:
        return await api.run(agent_id, text, thread_id)
    return (await api.call(SANDBOX_RUN, id=agent_id, input=text, thread=thread_id))["runAgent"]


def _answer(e: dict[str, Any]) -> str:
    return e.get("output") or f"[{e.get('status')}: {e.get('errorCode') or ''}] {e.get('error') or ''}".strip()


def compare_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Side-by-side table of a ``compareVersions`` answer."""
    return pd.DataFrame([[r["input"], _answer(r["a"]), _answer(r["b"])] for r in rows], columns=COMPARE_COLUMNS)


def diff_text(rows: list[dict[str, Any]]) -> str:
    """All diffs of a ``compareVersions`` answer, one block per input (``(same output)`` when equal)."""
    return "\n\n".join(f"# input: {r['input']}\n{r['diff'] or '(same output)'}" for r in rows)


def build_sandbox_section(api: PlatformClient, agent: gr.Dropdown) -> None:
    """The "Compare versions (sandbox)" accordion, acting on the Test run tab's ``agent`` dropdown."""
    with gr.Accordion("Compare versions (sandbox)", open=False, elem_id="sandbox-compare"):
        with gr.Row():
            count = gr.Number(label="Test inputs", value=3, minimum=1, maximum=10, precision=0, scale=1,
                              elem_id="sandbox-count")
            gen_btn = gr.Button("Generate test inputs", scale=1, elem_id="sandbox-generate")
            version_a = gr.Number(label="Version A", value=1, minimum=1, precision=0, scale=1, elem_id="sandbox-a")
            version_b = gr.Number(label="Version B", value=2, minimum=1, precision=0, scale=1, elem_id="sandbox-b")
            cmp_btn = gr.Button("Compare", variant="primary", scale=1, elem_id="sandbox-compare-btn")
        inputs = gr.Textbox(label="Inputs (one per line)", lines=4, elem_id="sandbox-inputs")
        notice = gr.HTML(elem_id="sandbox-notice")
        table = gr.Dataframe(value=pd.DataFrame(columns=COMPARE_COLUMNS), interactive=False, wrap=True,
                             label="Outputs side by side", elem_id="sandbox-table")
        diff = gr.Code(language=None, label="Unified diff (A -> B)", interactive=False, lines=10,
                       elem_id="sandbox-diff")

    @guarded(notice)
    async def on_generate(agent_id: str | None, n: float | None) -> dict:
        if not agent_id:
            raise UIError("Choose an agent first (Refresh loads the list).", "INPUT")
        got = (await api.call(GENERATE, id=agent_id, n=int(n or 3)))["generateTestInputs"]
        return {inputs: "\n".join(got), notice: ""}

    @guarded(notice)
    async def on_compare(agent_id: str | None, text: str, a: float | None, b: float | None) -> dict:
        if not agent_id:
            raise UIError("Choose an agent first (Refresh loads the list).", "INPUT")
        lines = [x.strip() for x in (text or "").splitlines() if x.strip()]
        if not lines:
            raise UIError("Type or generate at least one input (one per line).", "INPUT")
        rows = (await api.call(COMPARE, id=agent_id, a=int(a or 1), b=int(b or 2), inputs=lines))["compareVersions"]
        return {table: compare_frame(rows), diff: diff_text(rows), notice: ""}

    gen_btn.click(on_generate, [agent, count], [inputs, notice])
    cmp_btn.click(on_compare, [agent, inputs, version_a, version_b], [table, diff, notice])


__all__ = ["build_sandbox_section", "compare_frame", "diff_text", "run_agent", "sandbox_checkbox"]
