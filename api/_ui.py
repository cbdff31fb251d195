"""The Gradio UI mounted at ``/ui``: build an agent by chatting, save/publish it, test-run it, manage tools.

The UI is a GraphQL client of the same server (:class:`api._ui_client.PlatformClient`
posting to ``{settings.api.base_url}/graphql``); it never imports services. Every
handler is async and guarded: a failed call shows its message and error code in
the tab's notice line, never a traceback.

Tabs: **Builder** (chat -> agent card + editable YAML, Save / Save & publish),
**Test run** (run an agent, output, status, execution chain, child runs, recent runs, sandbox, external agents'
"Test connection"),
**Tools** (registered tools, register an OpenAPI document), **Agents** (list,
versions, publish a version), **Monitoring** (api/_ui_monitoring.py).
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
import pandas as pd
import yaml

from agentgraph.settings import Settings

from api._ui_artifacts import artifacts_box, artifacts_markdown
from api._ui_client import PlatformClient, UIError
from api._ui_external import build_external_section, children_box, children_frame
from api._ui_llm import build_llm_tabs
from api._ui_memory import build_memory_tabs
from api._ui_notice import guarded, notice
from api._ui_monitoring import build_monitoring_tab
from api._ui_marketplace import build_marketplace_tabs
from api._ui_tools import build_tools_tab
from api._ui_sandbox import build_sandbox_section, run_agent as sandbox_run, sandbox_checkbox

log = logging.getLogger("agentgraph.ui")

RUN_COLUMNS = ["run id", "status", "version", "thread", "started", "latency ms", "input"]
CHAIN_COLUMNS = ["span", "duration ms", "status", "details"]
AGENT_COLUMNS = ["id", "name", "type", "status", "latest", "active", "updated"]
VERSION_COLUMNS = ["version", "active", "created", "by", "tools"]
# Span attributes worth a glance in the chain table (the rest stay in the stored execution).
_KEY_ATTRS = [("tool.name", "tool"), ("tool.id", "tool id"), ("tool.arguments", "args"),
              ("tool.result_chars", "result chars"), ("llm.model", "model"), ("llm.step", "step"),
              ("llm.usage.prompt_tokens", "prompt tok"), ("llm.usage.completion_tokens", "completion tok"),
              ("llm.tool_calls", "tool calls"), ("agent.version", "version"),
              # workflows, teams and child runs (issue 7): a child's agent.run shows its agent and run id
              ("workflow.step", "step"), ("workflow.iteration", "iteration"), ("workflow.next", "next"),
              ("team.member", "member"), ("agent.id", "agent"), ("run.id", "run")]
_SPAN_STATUS = {"UNSET": "ok", "OK": "ok", "ERROR": "error"}  # OpenTelemetry status codes


# --- pure formatting -------------------------------------------------------------------------------------
def suggestions_markdown(suggestions: list[dict[str, Any]]) -> str:
    """Builder tool suggestions as a Markdown list: name, id, score and reason."""
    if not suggestions:
        return "_No registered tool matches this intent yet; register one in the Tools tab._"
    lines = ["**Tool suggestions**"]
    for s in suggestions:
        lines.append(f"- **{s['name']}** (`{s['toolId']}`, score {s['score']:.2f}): {s['reason']}")
    return "\n".join(lines)


def card_markdown(spec_yaml: str) -> str:
    """A readable agent card from spec YAML: name, type, model, description, system prompt, tools with reasons."""
    if not spec_yaml.strip():
        return "_No draft yet. Describe the agent you need in the chat._"
    try:
        spec = yaml.safe_load(spec_yaml)
    except yaml.YAMLError as exc:
        return f"**The YAML does not parse:** {exc}"
    if not isinstance(spec, dict):
        return "**The YAML is not a mapping of AgentSpec fields.**"
    model = spec.get("model") or {}
    prompt = str(spec.get("system_prompt", "")).strip().replace("\n", "\n> ")
    lines = [f"### {spec.get('name', '(unnamed)')}",
             f"**Type:** `{spec.get('agent_type', 'react')}` &nbsp; **Model:** `{model.get('name', 'default')}`"
             f" (temperature {model.get('temperature', '-')}, max tokens {model.get('max_tokens', '-')})",
             "", f"**Description:** {spec.get('description', '')}", "", "**System prompt:**", f"> {prompt}", "",
             "**Tools:**"]
    tools = spec.get("tools") or []
    for t in tools:
        ops = ", ".join(t.get("operations") or []) or "all operations"
        lines.append(f"- `{t.get('tool_id')}` ({ops}): {t.get('reason') or '_no reason given_'}")
    if not tools:
        lines.append("- _none_")
    return "\n".join(lines)


def chain_frame(spans: list[dict[str, Any]]) -> pd.DataFrame:
    """Spans as a table in tree order, names indented by depth (from ``parentId``), with key attributes."""
    ids = {s["spanId"] for s in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in spans:
        parent = s.get("parentId") if s.get("parentId") in ids else None
        children.setdefault(parent, []).append(s)
    rows: list[list[Any]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            attrs = s.get("attributes") or {}
            details = "; ".join(f"{label}={attrs[k]}" for k, label in _KEY_ATTRS if k in attrs)
            prefix = "\u00a0\u00a0\u00a0\u00a0" * depth + ("\u2514 " if depth else "")
            status = _SPAN_STATUS.get(s["status"], s["status"].lower())
            rows.append([prefix + s["name"], round(float(s["durationMs"]), 1), status, details])
            walk(s["spanId"], depth + 1)

    walk(None, 0)
    return pd.DataFrame(rows, columns=CHAIN_COLUMNS)


def run_status(run: dict[str, Any]) -> str:
    """One status line: status, version, latency, tokens, cost, model, run id."""
    latency = f"{run['latencyMs']:.0f} ms" if run.get("latencyMs") is not None else "-"
    return (f"**{run['status']}** · version {run['version']} · {latency} · tokens {run['promptTokens']} prompt / "
            f"{run['completionTokens']} completion · ${run['costUsd']:.6f} · model `{run.get('model') or '-'}` · "
            f"run `{run['id']}` · thread `{run['threadId']}`" + (" · **sandbox**" if run.get("sandbox") else ""))


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Recent runs table (newest first)."""
    rows = [[r["id"], r["status"], r["version"], r["threadId"], r["startedAt"][:19].replace("T", " "),
             None if r.get("latencyMs") is None else round(r["latencyMs"]), r["input"][:80]] for r in runs]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def agents_frame(agents: list[dict[str, Any]]) -> pd.DataFrame:
    """Agents table."""
    rows = [[a["id"], a["name"], a["agentType"], a["status"], a["latestVersion"], a["activeVersion"] or "-",
             a["updatedAt"][:19].replace("T", " ")] for a in agents]
    return pd.DataFrame(rows, columns=AGENT_COLUMNS)


def agent_choices(agents: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Dropdown choices ``("name (id)", id)``."""
    return [(f"{a['name']} ({a['id']})", a["id"]) for a in agents]


def _row_value(evt: gr.SelectData) -> Any:
    """First cell of the selected table row (the id column)."""
    row = getattr(evt, "row_value", None)
    return row[0] if row else None


# --- the app ---------------------------------------------------------------------------------------------
def build_ui(settings: Settings, client: PlatformClient | None = None) -> gr.Blocks:
    """Build the Gradio app mounted at ``/ui`` (see the module docstring for the tabs).

    Args:
        settings: platform settings; the UI calls ``{settings.api.base_url}/graphql``.
        client: GraphQL client override (tests); default a :class:`PlatformClient` on that URL.

    Returns:
        The ``gr.Blocks`` app (not launched; ``api.app.create_app`` mounts it).
    """
    api = client or PlatformClient(settings.api.base_url)

    with gr.Blocks(title="agentgraph") as demo:
        gr.Markdown("# agentgraph\nBuild an agent by chatting, test it, share it.", elem_id="title")
        with gr.Tabs(elem_id="tabs"):
            # ---------------------------------------------------------------- Builder
            with gr.Tab("Builder", id="builder", elem_id="tab-builder"):
                thread = gr.State(None)     # the builder thread id
                history = gr.State([])      # chat messages [{role, content}] (plain strings)
                draft_agent = gr.State(None)  # agent id once this draft has been saved
                with gr.Row():
                    with gr.Column(scale=5):
                        chat = gr.Chatbot(label="Builder", height=600, elem_id="builder-chat",
                                          placeholder="Describe the agent you need, e.g. *an agent that looks up "
                                                      "a lead in our CRM and drafts a follow-up email*.")
                        with gr.Row():
                            msg = gr.Textbox(show_label=False, placeholder="Describe or refine your agent...",
                                             scale=5, elem_id="builder-input")
                            send = gr.Button("Send", variant="primary", scale=1, elem_id="builder-send")
                        with gr.Row():
                            new_btn = gr.Button("New draft", size="sm", elem_id="new-draft-btn")
                            save_btn = gr.Button("Save", size="sm", elem_id="save-btn")
                            publish_save_btn = gr.Button("Save & publish", size="sm", variant="primary",
                                                         elem_id="save-publish-btn")
                        builder_notice = gr.HTML(elem_id="builder-notice")
                    with gr.Column(scale=4):
                        card = gr.Markdown(card_markdown(""), elem_id="agent-card", container=True, padding=True)
                        spec_code = gr.Code(language="yaml", label="AgentSpec (YAML, editable)", lines=18,
                                            max_lines=40, interactive=True, wrap_lines=True, elem_id="spec-yaml")
            # ---------------------------------------------------------------- Test run
            with gr.Tab("Test run", id="test", elem_id="tab-test"):
                with gr.Row():
                    run_agent = gr.Dropdown(label="Agent", choices=[], value=None, scale=4, elem_id="run-agent")
                    run_refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="run-refresh")
                run_input = gr.Textbox(label="Input", lines=2, elem_id="run-input")
                with gr.Row():
                    run_thread = gr.Textbox(label="Thread id (empty = new thread; filled after a run to continue "
                                                  "it)", scale=4, elem_id="run-thread")
                    run_sandbox = sandbox_checkbox()  # no real tool calls (api/_ui_sandbox.py, issue 7)
                    run_btn = gr.Button("Run", variant="primary", scale=1, elem_id="run-btn")
                run_notice = gr.HTML(elem_id="run-notice")
                run_status_md = gr.Markdown(elem_id="run-status")
                run_output = gr.Markdown(label="Output", elem_id="run-output", container=True, padding=True)
                run_artifacts = artifacts_box()  # producer agents' files (api/_ui_artifacts.py)
                chain = gr.Dataframe(value=pd.DataFrame(columns=CHAIN_COLUMNS), label="Execution chain",
                                     interactive=False, wrap=True, elem_id="chain-table",
                                     column_widths=["22%", "12%", "10%", "56%"])
                run_children = children_box()  # child runs of teams/delegation/workflow steps (api/_ui_external.py)
                recent = gr.Dataframe(value=pd.DataFrame(columns=RUN_COLUMNS), interactive=False,
                                      label="Recent runs of this agent (select a row to show it)",
                                      elem_id="recent-runs")
                build_sandbox_section(api, run_agent)  # test inputs, versions compared in the sandbox
                build_external_section(api, run_agent)  # "Test connection" of external agents
            # ---------------------------------------------------------------- Tools
            with gr.Tab("Tools", id="tools", elem_id="tab-tools"):
                tools_load = build_tools_tab(api)  # tool hub: upload, allow/deny, auth, health (api/_ui_tools.py)
            # ---------------------------------------------------------------- Agents
            with gr.Tab("Agents", id="agents", elem_id="tab-agents"):
                agents_table = gr.Dataframe(value=pd.DataFrame(columns=AGENT_COLUMNS), interactive=False,
                                            label="Agents (select a row for details)", elem_id="agents-table")
                with gr.Row():
                    agents_pick = gr.Dropdown(label="Agent", choices=[], value=None, scale=4, elem_id="agents-agent")
                    agents_refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="agents-refresh")
                agent_info = gr.Markdown(elem_id="agent-details")
                versions_table = gr.Dataframe(value=pd.DataFrame(columns=VERSION_COLUMNS), interactive=False,
                                              label="Versions", elem_id="versions-table")
                with gr.Row():
                    version_pick = gr.Dropdown(label="Version", choices=[], value=None, scale=2,
                                               elem_id="agents-version")
                    publish_btn = gr.Button("Publish this version", variant="primary", scale=1,
                                            elem_id="publish-btn")
                agents_notice = gr.HTML(elem_id="agents-notice")
                agent_yaml = gr.Code(language="yaml", label="Spec of the selected version", interactive=False,
                                     lines=12, elem_id="agent-yaml")
            build_llm_tabs(api)  # Compare, Models & budgets (api/_ui_llm.py, issue 4)
            build_memory_tabs(api)  # Notebooks, Threads (api/_ui_memory.py, issue 5)
            build_monitoring_tab(api)  # runs, cost, latency, costly agents, Analyze with LLM (issue 6)
            build_marketplace_tabs(api)  # Marketplace, My agents (api/_ui_marketplace.py, issue 3)

        # ============================================================== handlers: Builder
        @guarded(builder_notice)
        async def on_send(text: str, hist: list, thread_id: str | None) -> dict:
            text = (text or "").strip()
            if not text:
                raise UIError("Type what the agent should do first.", "INPUT")
            r = await api.build(text, thread_id)
            answer = f"{r['message']}\n\n{suggestions_markdown(r['suggestions'])}"
            if r.get("similarAgents"):  # colleagues' similar agents (issue 3 recommendations)
                answer += "\n\n**Similar agents**\n" + "\n".join(f"- {h['message']}" for h in r["similarAgents"])
            hist = [*hist, {"role": "user", "content": text}, {"role": "assistant", "content": answer}]
            verb = "Refined" if thread_id else "Drafted"
            return {history: hist, chat: hist, msg: "", thread: r["threadId"], spec_code: r["specYaml"],
                    card: card_markdown(r["specYaml"]),
                    builder_notice: notice(f"{verb} in thread {r['threadId']} ({r['attempts']} attempt(s)). "
                                           "Edit the YAML if you like, then Save.", "info")}

        async def on_new() -> dict:
            return {thread: None, history: [], chat: [], draft_agent: None, spec_code: "", card: card_markdown(""),
                    builder_notice: notice("New draft: describe the agent you need.", "info"), msg: ""}

        async def save(spec_yaml: str, agent_id: str | None, publish: bool) -> dict:
            if not (spec_yaml or "").strip():
                raise UIError("Nothing to save: describe the agent in the chat first, or paste a spec into the "
                              "YAML editor.", "INPUT")
            a = await api.save(spec_yaml, agent_id, publish)
            agents = await api.agents()
            choices = agent_choices(agents)
            # An unchanged spec is a no-op save (same version); say what the version really is.
            state = "published" if a["activeVersion"] == a["latestVersion"] else "draft"
            return {draft_agent: a["id"], card: card_markdown(spec_yaml),
                    builder_notice: notice(f"Saved agent {a['id']} (version {a['latestVersion']}, {state})."),
                    run_agent: gr.Dropdown(choices=choices, value=a["id"]), run_thread: "",
                    agents_pick: gr.Dropdown(choices=choices, value=a["id"]), agents_table: agents_frame(agents)}

        @guarded(builder_notice)
        async def on_save(spec_yaml: str, agent_id: str | None) -> dict:
            return await save(spec_yaml, agent_id, False)

        @guarded(builder_notice)
        async def on_save_publish(spec_yaml: str, agent_id: str | None) -> dict:
            return await save(spec_yaml, agent_id, True)

        @guarded(builder_notice)
        async def on_yaml_blur(spec_yaml: str) -> dict:
            return {card: card_markdown(spec_yaml or "")}

        send_outputs = [history, chat, msg, thread, spec_code, card, builder_notice]
        send.click(on_send, [msg, history, thread], send_outputs)
        msg.submit(on_send, [msg, history, thread], send_outputs)
        new_btn.click(on_new, None, [thread, history, chat, draft_agent, spec_code, card, builder_notice, msg])
        save_outputs = [draft_agent, card, builder_notice, run_agent, run_thread, agents_pick, agents_table]
        save_btn.click(on_save, [spec_code, draft_agent], save_outputs)
        publish_save_btn.click(on_save_publish, [spec_code, draft_agent], save_outputs)
        spec_code.blur(on_yaml_blur, [spec_code], [card, builder_notice])

        # ============================================================== handlers: Test run
        def show_run(run: dict[str, Any]) -> dict:
            out = {run_output: run.get("output") or "_(no output)_", run_status_md: run_status(run),
                   chain: chain_frame(run.get("spans") or []), run_thread: run["threadId"],
                   run_artifacts: artifacts_markdown(run.get("artifacts") or []),
                   run_children: children_frame(run.get("children") or [])}
            if run["status"] == "failed":
                out[run_notice] = notice(f"Run failed ({run.get('errorCode') or 'ERROR'}): {run.get('error')}",
                                         "error")
            else:
                out[run_notice] = ""
            return out

        @guarded(run_notice)
        async def on_run(agent_id: str | None, text: str, thread_id: str, sandbox: bool = False) -> dict:
            if not agent_id:
                raise UIError("Choose an agent first (Refresh loads the list).", "INPUT")
            if not (text or "").strip():
                raise UIError("Type an input for the agent.", "INPUT")
            run = await sandbox_run(api, agent_id, text.strip(), (thread_id or "").strip() or None, sandbox)
            return {**show_run(run), recent: runs_frame(await api.executions(agent_id))}

        @guarded(run_notice)
        async def on_run_refresh(current: str | None) -> dict:
            choices = agent_choices(await api.agents())
            value = current if current in {c[1] for c in choices} else None
            return {run_agent: gr.Dropdown(choices=choices, value=value), run_notice: ""}

        @guarded(run_notice)
        async def on_run_agent_change(agent_id: str | None) -> dict:
            runs = await api.executions(agent_id) if agent_id else []
            return {recent: runs_frame(runs)}

        @guarded(run_notice)
        async def on_recent_select(evt: gr.SelectData) -> dict:
            run_id = _row_value(evt)
            return show_run(await api.execution(run_id)) if run_id else {}

        run_outputs = [run_output, run_status_md, chain, run_thread, run_notice, recent, run_artifacts, run_children]
        run_btn.click(on_run, [run_agent, run_input, run_thread, run_sandbox], run_outputs)
        run_input.submit(on_run, [run_agent, run_input, run_thread, run_sandbox], run_outputs)
        run_refresh.click(on_run_refresh, [run_agent], [run_agent, run_notice])
        run_agent.change(on_run_agent_change, [run_agent], [recent, run_notice])
        recent.select(on_recent_select, None, run_outputs)
        run_children.select(on_recent_select, None, run_outputs)  # show a child run (its own chain)

        # ============================================================== handlers: Agents
        @guarded(agents_notice)
        async def on_agents_refresh(current: str | None) -> dict:
            agents = await api.agents()
            choices = agent_choices(agents)
            value = current if current in {c[1] for c in choices} else None
            return {agents_table: agents_frame(agents), agents_pick: gr.Dropdown(choices=choices, value=value)}

        async def details(agent_id: str | None) -> dict:
            if not agent_id:
                return {agent_info: "", versions_table: pd.DataFrame(columns=VERSION_COLUMNS), agent_yaml: "",
                        version_pick: gr.Dropdown(choices=[], value=None)}
            a = await api.agent(agent_id)
            rows = [[v["version"], "\u2713" if v["version"] == a["activeVersion"] else "",
                     v["createdAt"][:19].replace("T", " "), v["createdBy"] or "-", ", ".join(v["toolIds"])]
                    for v in a["versions"]]
            info = (f"### {a['name']} (`{a['id']}`)\n{a['description']}\n\n**Status:** {a['status']} · **latest "
                    f"version:** {a['latestVersion']} · **active version:** {a['activeVersion'] or 'none'}")
            shown = a["activeVersion"] or a["latestVersion"]
            return {agent_info: info, versions_table: pd.DataFrame(rows, columns=VERSION_COLUMNS),
                    agent_yaml: a["specYaml"],
                    version_pick: gr.Dropdown(choices=[v["version"] for v in a["versions"]], value=shown)}

        @guarded(agents_notice)
        async def on_agent_pick(agent_id: str | None) -> dict:
            return {**await details(agent_id), agents_notice: ""}

        @guarded(agents_notice)
        async def on_agents_select(evt: gr.SelectData) -> dict:
            agent_id = _row_value(evt)
            return {agents_pick: agent_id} if agent_id else {}

        @guarded(agents_notice)
        async def on_version_pick(agent_id: str | None, version: int | None) -> dict:
            if not agent_id or version is None:
                return {}
            return {agent_yaml: await api.version_yaml(agent_id, int(version))}

        @guarded(agents_notice)
        async def on_publish(agent_id: str | None, version: int | None) -> dict:
            if not agent_id:
                raise UIError("Choose an agent first.", "INPUT")
            a = await api.publish(agent_id, None if version is None else int(version))
            agents = await api.agents()
            return {**await details(agent_id), agents_table: agents_frame(agents),
                    agents_notice: notice(f"Published {a['id']} version {a['activeVersion']} (status {a['status']}).")}

        detail_outputs = [agent_info, versions_table, agent_yaml, version_pick, agents_notice]
        agents_refresh.click(on_agents_refresh, [agents_pick], [agents_table, agents_pick, agents_notice])
        agents_pick.change(on_agent_pick, [agents_pick], detail_outputs)
        agents_table.select(on_agents_select, None, [agents_pick, agents_notice])
        version_pick.input(on_version_pick, [agents_pick, version_pick], [agent_yaml, agents_notice])
        publish_btn.click(on_publish, [agents_pick, version_pick], [*detail_outputs, agents_table])

        # ============================================================== initial load
        @guarded(builder_notice)
        async def on_load() -> dict:
            agents = await api.agents()
            choices = agent_choices(agents)
            return {run_agent: gr.Dropdown(choices=choices, value=None), agents_table: agents_frame(agents),
                    agents_pick: gr.Dropdown(choices=choices, value=None)}

        demo.load(on_load, None, [run_agent, agents_table, agents_pick, builder_notice])
        demo.load(tools_load[0], None, tools_load[1])
    # Handlers only wait on the API, so let several users' events run at once (Gradio's default is 1 per event).
    demo.queue(default_concurrency_limit=8)
    return demo


__all__ = ["build_ui"]
