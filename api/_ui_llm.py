"""Gradio tabs for the LLM gateway: **Compare** and **Models & budgets**.

Like the rest of the UI these are GraphQL clients of the platform
(:class:`api._ui_client.PlatformClient`); the Compare tab streams through the
``compareModelsStream`` subscription over graphql-transport-ws (``websockets``).
Call :func:`build_llm_tabs` inside the app's ``gr.Tabs()`` block.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr
import pandas as pd

from api._ui_client import PlatformClient, UIError

MAX_COLUMNS = 4
_COL = "model output error latencyMs ttftMs promptTokens completionTokens costUsd judgeScore judgeReason checkScore checks score"
COMPARE_SUB = f"""subscription($in: CompareInput!) {{ compareModelsStream(input: $in) {{ type index model text
  column {{ {_COL} }} summary {{ fastest cheapest best line }} comparison {{ id }} }} }}"""
CHOICES = "{ llmGateway { models } agents { id name } }"
HISTORY = "{ comparisons(limit: 20) { id createdAt mode models summary { fastest cheapest best } } }"
OVERVIEW = """{ llmModels { name owner provider litellmModel contextWindow inputCostPerToken outputCostPerToken enabled }
  llmDeployments { id name owner litellmModel apiBase hasKey }
  budgets { id name scope scopeId period limitUsd spentUsd ratio status periodEnd }
  budgetEvents(limit: 20) { createdAt budgetName kind spentUsd limitUsd webhookStatus }
  virtualKeys { id name prefix teamId userId models status createdAt }
  llmGateway { routingStrategy cooldowns } }"""
USAGE = "query($d: String!) { llmUsage(dimension: $d, days: 30) { day key costUsd promptTokens completionTokens calls } }"
SET_ENABLED = "mutation($n: String!, $e: Boolean!) { setModelEnabled(name: $n, enabled: $e) { name enabled } }"
ADD_DEP = """mutation($n: String!, $m: String!, $b: String, $k: String, $s: String!) {
  addLlmDeployment(modelName: $n, litellmModel: $m, apiBase: $b, apiKey: $k, scope: $s) { id name } }"""
CREATE_BUDGET = """mutation($s: String!, $sid: String, $p: String!, $l: Float!, $n: String, $w: String) {
  createBudget(scope: $s, scopeId: $sid, period: $p, limitUsd: $l, name: $n, webhookUrl: $w) }"""
CREATE_KEY = """mutation($n: String!, $t: String, $u: String, $m: [String!]) {
  createVirtualKey(name: $n, teamId: $t, userId: $u, models: $m) { secret key { id prefix } } }"""
REVOKE_KEY = "mutation($id: ID!) { revokeVirtualKey(id: $id) { id status } }"


def _notice(text: str, kind: str = "ok") -> str:
    fg = {"ok": "#166534", "info": "#374151", "error": "#b91c1c", "warn": "#92400e"}[kind]
    return (f'<div class="ag-notice ag-{kind}" style="color:{fg};border:1px solid {fg};border-radius:6px;'
            f'padding:6px 10px;white-space:pre-wrap">{html.escape(text)}</div>') if text else ""


def _err(exc: Exception) -> str:
    if isinstance(exc, UIError):
        return _notice(f"Error {exc.code}: {exc.message}", "error")
    return _notice(f"Unexpected UI error ({type(exc).__name__}): {exc}", "error")


def column_markdown(model: str, text: str, result: dict[str, Any] | None) -> str:
    """One comparison column: the (streaming) answer, then its figures once scored."""
    out = [f"### {model}", text or "_waiting for the first token..._"]
    if result:
        if result.get("error"):
            out.append(f"**Failed:** {result['error']}")
        else:
            score = "n/a" if result.get("score") is None else f"{result['score']:.2f}"
            out.append(f"latency **{result['latencyMs']:.0f} ms** · TTFT {result['ttftMs'] or 0:.0f} ms · tokens "
                       f"{result['promptTokens']}/{result['completionTokens']} · cost ${result['costUsd']:.6f} · "
                       f"score **{score}**")
            if result.get("judgeReason"):
                out.append(f"_judge: {result['judgeReason']}_")
    return "\n\n".join(out)


def budget_banner(budgets: list[dict[str, Any]]) -> str:
    """Warning banner for budgets at or past 80 % (empty when all are fine)."""
    hot = [b for b in budgets if b["status"] != "ok"]
    if not hot:
        return ""
    lines = [f"{b['name']}: {b['ratio']:.0%} of ${b['limitUsd']:.2f} ({b['status']}; resets {b['periodEnd'][:10]})"
             for b in hot]
    return _notice("Budget warning - " + "; ".join(lines) + ". Calls stop at 110 %.", "warn")


async def subscribe(api: PlatformClient, query: str, variables: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Yield ``data`` payloads of a GraphQL subscription (graphql-transport-ws).

    Raises:
        UIError: the server reported an error or the socket failed.
    """
    import websockets

    url = api.url.replace("http", "ws", 1)
    try:
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            await ws.recv()
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}))
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "complete":
                    return
                if msg["type"] == "error" or msg["payload"].get("errors"):
                    errs = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
                    first = errs[0] if errs else {}
                    raise UIError(first.get("message", "subscription failed"),
                                  (first.get("extensions") or {}).get("code", "ERROR"))
                yield msg["payload"]["data"]
    except OSError as exc:
        raise UIError(f"Cannot open the GraphQL websocket at {url}: {exc}", "UNREACHABLE") from exc


def build_llm_tabs(api: PlatformClient) -> None:
    """Add the Compare and Models & budgets tabs (call inside ``with gr.Tabs():``)."""
    # ------------------------------------------------------------------------------ Compare
    with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_tab:
        with gr.Row():
            models = gr.Dropdown(label="Models (2-4)", multiselect=True, allow_custom_value=True, choices=[],
                                 elem_id="compare-models", scale=3)
            agent = gr.Dropdown(label="Agent (optional: its system prompt and settings)", choices=[], value=None,
                                allow_custom_value=False, elem_id="compare-agent", scale=2)
        system = gr.Textbox(label="System prompt (bare prompt mode)", lines=2, elem_id="compare-system")
        prompt = gr.Textbox(label="Input (same for every model)", lines=3, elem_id="compare-input")
        with gr.Row():
            keywords = gr.Textbox(label="Expected keywords (comma separated, optional)", elem_id="compare-keywords")
            judge = gr.Textbox(label="Judge model (empty: platform default)", elem_id="compare-judge")
            use_judge = gr.Checkbox(label="LLM judge", value=True)
        run = gr.Button("Compare", variant="primary", elem_id="compare-run")
        c_notice = gr.HTML(elem_id="compare-notice")
        with gr.Row():
            cols = [gr.Markdown(elem_id=f"compare-col-{i}") for i in range(MAX_COLUMNS)]
        summary = gr.Markdown(elem_id="compare-summary")
        history = gr.Dataframe(label="History", interactive=False, elem_id="compare-history")

    async def load_compare() -> dict:
        try:
            data = await api.call(CHOICES)
            hist = (await api.call(HISTORY))["comparisons"]
        except Exception as exc:
            return {c_notice: _err(exc)}
        return {models: gr.update(choices=data["llmGateway"]["models"]),
                agent: gr.update(choices=[("(none)", "")] + [(f"{a['name']} ({a['id']})", a["id"]) for a in data["agents"]]),
                history: pd.DataFrame([{"id": h["id"], "when": h["createdAt"][:19], "mode": h["mode"],
                                        "models": ", ".join(h["models"]), "fastest": h["summary"]["fastest"],
                                        "cheapest": h["summary"]["cheapest"], "best": h["summary"]["best"]}
                                       for h in hist])}

    async def on_compare(picked: list[str], agent_id: str | None, sys_prompt: str, text: str, kw: str,
                         judge_model: str, judged: bool):
        picked = list(picked or [])
        if not 2 <= len(picked) <= MAX_COLUMNS:
            yield {c_notice: _notice(f"Pick 2 to {MAX_COLUMNS} models.", "error")}
            return
        texts, results = [""] * len(picked), [None] * len(picked)
        blank = {cols[i]: "" for i in range(len(picked), MAX_COLUMNS)}
        yield {c_notice: _notice("Comparing...", "info"), summary: "", **blank,
               **{cols[i]: column_markdown(m, "", None) for i, m in enumerate(picked)}}
        inp = {"models": picked, "input": text, "agentId": agent_id or None, "systemPrompt": sys_prompt or None,
               "judgeModel": judge_model or None, "useJudge": judged,
               "expectedKeywords": [k.strip() for k in (kw or "").split(",") if k.strip()] or None}
        try:
            async for data in subscribe(api, COMPARE_SUB, {"in": inp}):
                ev = data["compareModelsStream"]
                i = ev.get("index")
                if ev["type"] == "delta":
                    texts[i] += ev["text"]
                elif ev["type"] == "column":
                    results[i] = ev["column"]
                    texts[i] = ev["column"]["output"] or texts[i]
                elif ev["type"] == "summary":
                    yield {summary: f"**{ev['summary']['line']}**"}
                    continue
                elif ev["type"] == "done":
                    yield {c_notice: _notice(f"Stored as {ev['comparison']['id']}."), **(await load_compare())}
                    continue
                yield {cols[i]: column_markdown(picked[i], texts[i], results[i])}
        except Exception as exc:
            yield {c_notice: _err(exc)}

    compare_tab.select(load_compare, None, [models, agent, history, c_notice])
    run.click(on_compare, [models, agent, system, prompt, keywords, judge, use_judge],
              [c_notice, summary, *cols, models, agent, history])

    # ------------------------------------------------------------------------------ Models & budgets
    with gr.Tab("Models & budgets", id="models", elem_id="tab-models") as models_tab:
        banner = gr.HTML(elem_id="budget-banner")
        m_notice = gr.HTML(elem_id="models-notice")
        refresh = gr.Button("Refresh", size="sm")
        gateway_md = gr.Markdown()
        catalogue = gr.Dataframe(label="Model catalogue", interactive=False, elem_id="models-catalogue")
        with gr.Row():
            m_name = gr.Textbox(label="Model name", scale=3)
            enable = gr.Button("Enable")
            disable = gr.Button("Disable")
        with gr.Accordion("Add a provider deployment", open=False):
            with gr.Row():
                d_name = gr.Textbox(label="Model name (served as)")
                d_model = gr.Textbox(label="LiteLLM model id", placeholder="openai/gpt-4o-mini")
                d_base = gr.Textbox(label="API base (optional)")
                d_key = gr.Textbox(label="API key (stored encrypted, never shown)", type="password")
                d_scope = gr.Radio(["tenant", "platform"], value="tenant", label="Scope (tenant = BYOK)")
            add_dep = gr.Button("Add deployment")
        deployments = gr.Dataframe(label="Deployments", interactive=False)
        budgets = gr.Dataframe(label="Budgets (warn 80 %, block 110 %)", interactive=False, elem_id="models-budgets")
        with gr.Accordion("New budget", open=False):
            with gr.Row():
                b_scope = gr.Dropdown(["tenant", "team", "user", "agent"], value="tenant", label="Scope")
                b_sid = gr.Textbox(label="Scope id (empty for your tenant)")
                b_period = gr.Dropdown(["day", "week", "month"], value="month", label="Period")
                b_limit = gr.Number(label="Limit (USD)", value=10.0)
                b_name = gr.Textbox(label="Name")
                b_hook = gr.Textbox(label="Webhook URL (optional)")
            add_budget = gr.Button("Create budget")
        events = gr.Dataframe(label="Budget events", interactive=False)
        with gr.Row():
            dim = gr.Dropdown(["tenant", "team", "user", "agent", "vkey", "model"], value="agent", label="Usage by")
        usage = gr.Dataframe(label="Usage, last 30 days (USD)", interactive=False)
        keys = gr.Dataframe(label="Virtual keys", interactive=False)
        with gr.Accordion("Virtual keys", open=False):
            with gr.Row():
                k_name = gr.Textbox(label="Name")
                k_team = gr.Textbox(label="Team id")
                k_user = gr.Textbox(label="User id")
                k_models = gr.Textbox(label="Allowed models (comma separated, empty = all)")
                create_key = gr.Button("Create key")
            with gr.Row():
                k_id = gr.Textbox(label="Key id to revoke")
                revoke = gr.Button("Revoke", variant="stop")
            k_secret = gr.Textbox(label="New key (copy it now: it is not shown again)", interactive=False)

    outputs = [banner, gateway_md, catalogue, deployments, budgets, events, keys, usage, m_notice]

    async def overview(dimension: str, message: str = "") -> dict:
        try:
            d = await api.call(OVERVIEW)
            rows = (await api.call(USAGE, d=dimension))["llmUsage"]
        except Exception as exc:
            return {m_notice: _err(exc)}
        g = d["llmGateway"]
        return {
            banner: budget_banner(d["budgets"]),
            gateway_md: f"Routing strategy: **{g['routingStrategy']}** · deployments in cooldown: "
                        f"{', '.join(g['cooldowns']) or 'none'}",
            catalogue: pd.DataFrame(d["llmModels"]), deployments: pd.DataFrame(d["llmDeployments"]),
            budgets: pd.DataFrame(d["budgets"]), events: pd.DataFrame(d["budgetEvents"]),
            keys: pd.DataFrame(d["virtualKeys"]), usage: pd.DataFrame(rows),
            m_notice: _notice(message) if message else "",
        }

    async def act(query: str, variables: dict[str, Any], dimension: str, ok: str) -> dict:
        try:
            await api.call(query, **variables)
        except Exception as exc:
            return {m_notice: _err(exc)}
        return await overview(dimension, ok)

    async def on_enable(name: str, dimension: str) -> dict:
        return await act(SET_ENABLED, {"n": name, "e": True}, dimension, f"{name} enabled.")

    async def on_disable(name: str, dimension: str) -> dict:
        return await act(SET_ENABLED, {"n": name, "e": False}, dimension, f"{name} disabled.")

    async def on_add_dep(n: str, m: str, b: str, k: str, s: str, dimension: str) -> dict:
        return await act(ADD_DEP, {"n": n, "m": m, "b": b or None, "k": k or None, "s": s}, dimension, f"{n} added.")

    async def on_add_budget(s: str, sid: str, p: str, lim: float, n: str, w: str, dimension: str) -> dict:
        return await act(CREATE_BUDGET, {"s": s, "sid": sid or None, "p": p, "l": float(lim or 0), "n": n or None,
                                         "w": w or None}, dimension, "Budget created.")

    async def on_create_key(n: str, t: str, u: str, m: str, dimension: str) -> dict:
        try:
            made = (await api.call(CREATE_KEY, n=n, t=t or None, u=u or None,
                                   m=[x.strip() for x in m.split(",") if x.strip()] or None))["createVirtualKey"]
        except Exception as exc:
            return {m_notice: _err(exc)}
        return {**await overview(dimension, f"Key {made['key']['id']} created."), k_secret: made["secret"]}

    async def on_revoke(key_id: str, dimension: str) -> dict:
        return await act(REVOKE_KEY, {"id": key_id}, dimension, f"Key {key_id} revoked.")

    models_tab.select(overview, [dim], outputs)
    refresh.click(overview, [dim], outputs)
    dim.change(overview, [dim], outputs)
    enable.click(on_enable, [m_name, dim], outputs)
    disable.click(on_disable, [m_name, dim], outputs)
    add_dep.click(on_add_dep, [d_name, d_model, d_base, d_key, d_scope, dim], outputs)
    add_budget.click(on_add_budget, [b_scope, b_sid, b_period, b_limit, b_name, b_hook, dim], outputs)
    create_key.click(on_create_key, [k_name, k_team, k_user, k_models, dim], [*outputs, k_secret])
    revoke.click(on_revoke, [k_id, dim], outputs)


__all__ = ["build_llm_tabs", "budget_banner", "column_markdown", "subscribe"]
