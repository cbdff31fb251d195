"""The tool hub's Tools tab for the Gradio UI: upload with an operations preview and
allow/deny checkboxes, credentials form, HTTP settings, external MCP servers,
"Test connection", health and usage statistics.

Like the rest of the UI it is a GraphQL client (:class:`api._ui_client.PlatformClient`).
Use it inside the Blocks of ``api._ui.build_ui``::

    with gr.Tab("Tools", id="tools", elem_id="tab-tools"):
        build_tools_tab(api)

Secrets typed into the form go to the API once and are never shown again: the
table shows the auth kind and the masked hint the API returns.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from api._ui_client import PlatformClient, UIError

__all__ = ["build_tools_tab", "hub_frame", "operation_choices", "auth_input", "headers_input", "config_input",
           "HUB_COLUMNS"]

log = logging.getLogger("agentgraph.ui")
HUB_COLUMNS = ["id", "name", "kind", "auth", "health", "latency ms", "calls", "p95 ms", "error rate", "operations"]
_FIELDS = """id name kind baseUrl mcpUrl allow deny auth { kind hint headerNames }
  settings { timeoutS maxAttempts rateLimit healthPath }
  health { status latencyMs checkedAt message } stats { calls errorRate p95Ms }
  operations { operationId method path summary tags allowed }"""
Q_TOOLS = f"query {{ tools {{ {_FIELDS} }} }}"
Q_PREVIEW = """query($o: String!) { openapiPreview(openapi: $o) { title sourceVersion openapiVersion
  operations { operationId method path summary tags allowed } } }"""
M_REGISTER = f"mutation($i: RegisterOpenAPIToolInput!) {{ registerOpenapiTool(input: $i) {{ {_FIELDS} }} }}"
M_REGISTER_MCP = f"mutation($i: RegisterMCPServerInput!) {{ registerMcpServer(input: $i) {{ {_FIELDS} }} }}"
M_UPDATE = f"mutation($id: ID!, $i: UpdateToolInput!) {{ updateTool(id: $id, input: $i) {{ {_FIELDS} }} }}"
M_TEST = "mutation($id: ID!) { testToolConnection(id: $id) { ok status latencyMs httpStatus message } }"
AUTH_KINDS = ["none", "api_key", "bearer", "basic", "oauth2_client_credentials"]


# --- pure helpers (unit-testable) ------------------------------------------------------------------------
def hub_frame(tools: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per tool: auth kind + hint, health status and latency, calls, p95, error rate, allowed ops."""
    rows = []
    for t in tools:
        auth = t.get("auth") or {}
        health = t.get("health") or {}
        stats = t.get("stats") or {}
        ops = t.get("operations") or []
        lat = health.get("latencyMs")
        rows.append([t["id"], t["name"], t.get("kind", "openapi"),
                     f"{auth.get('kind', 'none')} {auth.get('hint', '')}".strip(), health.get("status", "unknown"),
                     "" if lat is None else round(lat, 1), stats.get("calls", 0),
                     "" if stats.get("p95Ms") is None else round(stats["p95Ms"], 1),
                     f"{100 * (stats.get('errorRate') or 0):.0f}%",
                     f"{sum(1 for o in ops if o.get('allowed', True))}/{len(ops)}"])
    return pd.DataFrame(rows, columns=HUB_COLUMNS)


def operation_choices(ops: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str]]:
    """``(choices, checked)`` for a CheckboxGroup: label ``GET /path - summary``, value the operationId."""
    choices = [(f"{o['method']} {o['path']} - {o.get('summary') or o['operationId']} [{o['operationId']}]",
                o["operationId"]) for o in ops]
    return choices, [o["operationId"] for o in ops if o.get("allowed", True)]


def allow_rules(all_ids: list[str], checked: list[str]) -> list[str]:
    """Allow selectors from the checkboxes: none when everything is checked (new operations stay visible)."""
    if set(checked) >= set(all_ids):
        return []
    if not checked:
        raise UIError("Tick at least one operation to expose.", "INPUT")
    return [f"id:{i}" for i in checked]


def auth_input(kind: str, name: str, location: str, secret: str, username: str, token_url: str, client_id: str,
               scopes: str) -> dict[str, Any] | None:
    """The ``ToolAuthInput`` for the form; ``secret`` is the key, token, password or client secret."""
    if not kind or kind == "none":
        return {"kind": "none"}
    data: dict[str, Any] = {"kind": kind}
    if kind == "api_key":
        data.update(name=name.strip(), location=location or "header", value=secret)
    elif kind == "bearer":
        data.update(value=secret)
    elif kind == "basic":
        data.update(username=username.strip(), password=secret)
    else:
        data.update(tokenUrl=token_url.strip(), clientId=client_id.strip(), clientSecret=secret,
                    scopes=[s for s in scopes.replace(",", " ").split() if s])
    return data


def headers_input(text: str) -> list[dict[str, str]] | None:
    """``Name: value`` lines -> ``[HeaderInput]`` (``None`` when empty)."""
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise UIError(f"Custom header line {line!r} must look like 'Name: value'.", "INPUT")
        out.append({"name": name.strip(), "value": value.strip()})
    return out or None


def config_input(timeout_s: float | None, max_attempts: float | None, rate_limit: str, health_path: str
                 ) -> dict[str, Any]:
    """``ToolConfigInput`` from the form (empty text fields clear the setting)."""
    cfg: dict[str, Any] = {"rateLimit": (rate_limit or "").strip(), "healthPath": (health_path or "").strip()}
    if timeout_s:
        cfg["timeoutS"] = float(timeout_s)
    if max_attempts:
        cfg["maxAttempts"] = int(max_attempts)
    return cfg


def _notice(text: str, ok: bool = True) -> str:
    fg, bg = ("#166534", "#f0fdf4") if ok else ("#b91c1c", "#fef2f2")
    return (f'<div class="ag-notice" style="color:{fg};background:{bg};border:1px solid {fg};border-radius:6px;'
            f'padding:6px 10px;white-space:pre-wrap">{html.escape(text)}</div>')


# --- the tab -------------------------------------------------------------------------------------------
def build_tools_tab(api: PlatformClient) -> tuple[Callable, list]:
    """Create the Tools tab's components and handlers inside the current Blocks/Tab context.

    Returns:
        ``(load_fn, outputs)`` for the caller's ``demo.load`` so the table fills on page load.
    """
    state_ops = gr.State([])  # operationIds of the previewed document

    table = gr.Dataframe(value=pd.DataFrame(columns=HUB_COLUMNS), interactive=False, label="Tools",
                         elem_id="hub-tools-table")
    refresh = gr.Button("Refresh", size="sm", elem_id="hub-refresh")
    notice = gr.HTML(elem_id="hub-notice")

    def guarded(fn: Callable) -> Callable:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> Any:
            try:
                return await fn(*args)
            except Exception as exc:  # shown in the notice line, never a traceback
                if not isinstance(exc, UIError):
                    log.exception("tools tab handler %s failed", fn.__name__)
                msg = f"Error {exc.code}: {exc.message}" if isinstance(exc, UIError) else f"{type(exc).__name__}: {exc}"
                return {notice: _notice(msg, ok=False)}
        return wrapper

    with gr.Accordion("Credentials and settings (used by Register, Register MCP server and Update)", open=True):
        with gr.Row():
            kind = gr.Dropdown(AUTH_KINDS, value="none", label="Auth kind", elem_id="hub-auth-kind")
            key_name = gr.Textbox(label="API key name (header or query parameter)", elem_id="hub-key-name")
            location = gr.Radio(["header", "query"], value="header", label="API key in", elem_id="hub-key-location")
        with gr.Row():
            secret = gr.Textbox(label="Secret (API key, token, password or client secret)", type="password",
                                elem_id="hub-secret")
            username = gr.Textbox(label="Username (basic)", elem_id="hub-username")
        with gr.Row():
            token_url = gr.Textbox(label="OAuth 2 token URL", elem_id="hub-token-url")
            client_id = gr.Textbox(label="OAuth 2 client id", elem_id="hub-client-id")
            scopes = gr.Textbox(label="Scopes (space separated)", elem_id="hub-scopes")
        headers = gr.Textbox(label="Custom headers (one 'Name: value' per line; stored encrypted)", lines=2,
                             elem_id="hub-headers")
        with gr.Row():
            timeout_s = gr.Number(label="Timeout (s)", value=30, elem_id="hub-timeout")
            attempts = gr.Number(label="Max attempts (retries on 429/5xx)", value=3, precision=0, elem_id="hub-attempts")
            rate = gr.Textbox(label="Rate limit (e.g. 60/minute)", elem_id="hub-rate")
            health_path = gr.Textbox(label="Health path (e.g. /health)", elem_id="hub-health-path")
    form = [kind, key_name, location, secret, username, token_url, client_id, scopes, headers, timeout_s, attempts,
            rate, health_path]

    def common(k, n, loc, sec, user, turl, cid, sc, hdrs, tout, att, rl, hp) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {"auth": auth_input(k, n or "", loc, sec or "", user or "", turl or "", cid or "", sc or ""),
                "headers": headers_input(hdrs), "config": config_input(tout, att, rl, hp)}

    with gr.Tab("Register an OpenAPI tool"):
        gr.Markdown("Upload or paste an OpenAPI 3.x or Swagger 2.0 document, preview its operations, untick those "
                    "agents must not call, then register.")
        with gr.Row():
            oa_file = gr.File(label="OpenAPI file", file_types=[".yaml", ".yml", ".json"], elem_id="hub-file")
            oa_text = gr.Textbox(label="...or paste it", lines=6, max_lines=12, elem_id="hub-openapi")
        preview_btn = gr.Button("Preview operations", elem_id="hub-preview")
        ops_box = gr.CheckboxGroup(label="Operations exposed over MCP", choices=[], elem_id="hub-operations")
        with gr.Row():
            base_url = gr.Textbox(label="Base URL", placeholder="https://api.example.com/v1", elem_id="hub-base-url")
            name = gr.Textbox(label="Name (optional)", elem_id="hub-name")
            register_btn = gr.Button("Register", variant="primary", elem_id="hub-register")
    with gr.Tab("Register an MCP server"):
        with gr.Row():
            mcp_url = gr.Textbox(label="Streamable-HTTP URL", placeholder="https://mcp.example.com/mcp",
                                 elem_id="hub-mcp-url")
            mcp_name = gr.Textbox(label="Name", elem_id="hub-mcp-name")
            mcp_btn = gr.Button("Register MCP server", variant="primary", elem_id="hub-mcp-register")
    with gr.Tab("Manage a tool"):
        with gr.Row():
            pick = gr.Dropdown(label="Tool", choices=[], elem_id="hub-pick")
            test_btn = gr.Button("Test connection", elem_id="hub-test")
            update_btn = gr.Button("Update credentials and settings", elem_id="hub-update")
        health_md = gr.Markdown(elem_id="hub-health")
        manage_ops = gr.CheckboxGroup(label="Operations exposed over MCP", choices=[], elem_id="hub-manage-ops")
        save_ops_btn = gr.Button("Save operations", elem_id="hub-save-ops")

    async def load_tools() -> list[dict[str, Any]]:
        return (await api.call(Q_TOOLS))["tools"]

    def refreshed(tools: list[dict[str, Any]], message: str | None = None) -> dict:
        out: dict = {table: hub_frame(tools), pick: gr.update(choices=[t["id"] for t in tools])}
        if message:
            out[notice] = _notice(message)
        return out

    @guarded
    async def on_refresh() -> dict:
        return refreshed(await load_tools())

    def document(path: str | None, text: str) -> str:
        if path:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        if not (text or "").strip():
            raise UIError("Upload an OpenAPI file or paste the document first.", "INPUT")
        return text

    @guarded
    async def on_preview(path: str | None, text: str) -> dict:
        p = (await api.call(Q_PREVIEW, o=document(path, text)))["openapiPreview"]
        choices, checked = operation_choices(p["operations"])
        conv = " (Swagger 2.0, converted to OpenAPI 3.0.3)" if p["sourceVersion"] == "2.0" else ""
        return {ops_box: gr.update(choices=choices, value=checked), state_ops: [c[1] for c in choices],
                notice: _notice(f"{p['title']}: {len(choices)} operations{conv}.")}

    @guarded
    async def on_register(path, text, ids, checked, url, nm, *f) -> dict:  # type: ignore[no-untyped-def]
        if not (url or "").strip():
            raise UIError("Enter the base URL where the API is served.", "INPUT")
        inp = {"openapi": document(path, text), "baseUrl": url.strip(), "name": (nm or "").strip() or None,
               "allow": allow_rules(ids, checked or []) if ids else None, **common(*f)}
        t = (await api.call(M_REGISTER, i=inp))["registerOpenapiTool"]
        return refreshed(await load_tools(), f"Registered {t['id']}: MCP endpoint {t['mcpUrl']}")

    @guarded
    async def on_register_mcp(url, nm, *f) -> dict:  # type: ignore[no-untyped-def]
        if not (url or "").strip() or not (nm or "").strip():
            raise UIError("Enter the MCP server URL and a name.", "INPUT")
        t = (await api.call(M_REGISTER_MCP, i={"url": url.strip(), "name": nm.strip(), **common(*f)}))["registerMcpServer"]
        return refreshed(await load_tools(), f"Registered MCP server {t['id']} with {len(t['operations'])} tools")

    async def tool(tool_id: str | None) -> dict[str, Any]:
        if not tool_id:
            raise UIError("Pick a tool first.", "INPUT")
        for t in await load_tools():
            if t["id"] == tool_id:
                return t
        raise UIError(f"Tool {tool_id} no longer exists; refresh.", "NOT_FOUND")

    def health_text(t: dict[str, Any]) -> str:
        h = t.get("health") or {}
        lat = "" if h.get("latencyMs") is None else f", {h['latencyMs']:.0f} ms"
        return (f"**{t['name']}** ({t['kind']}) - health **{h.get('status', 'unknown')}**{lat}, checked "
                f"{h.get('checkedAt') or 'never'}: {h.get('message') or ''}\n\nAuth: {t['auth']['kind']} "
                f"{t['auth']['hint']}")

    @guarded
    async def on_pick(tool_id: str | None) -> dict:
        t = await tool(tool_id)
        choices, checked = operation_choices(t["operations"])
        return {health_md: health_text(t), manage_ops: gr.update(choices=choices, value=checked)}

    @guarded
    async def on_test(tool_id: str | None) -> dict:
        await tool(tool_id)
        r = (await api.call(M_TEST, id=tool_id))["testToolConnection"]
        t = await tool(tool_id)
        return {**refreshed(await load_tools()), health_md: health_text(t),
                notice: _notice(f"{'OK' if r['ok'] else 'FAILED'} ({r['status']}, {r['latencyMs']:.0f} ms): "
                                f"{r['message']}", ok=r["ok"])}

    @guarded
    async def on_update(tool_id: str | None, *f) -> dict:  # type: ignore[no-untyped-def]
        await tool(tool_id)
        inp = common(*f)
        if inp["auth"] == {"kind": "none"}:
            del inp["auth"]  # "none" in the form means "keep the stored credentials"
        if inp["headers"] is None:
            del inp["headers"]
        t = (await api.call(M_UPDATE, id=tool_id, i=inp))["updateTool"]
        return {**refreshed(await load_tools(), f"Updated {t['id']}: auth {t['auth']['kind']} {t['auth']['hint']}"),
                health_md: health_text(t)}

    @guarded
    async def on_save_ops(tool_id: str | None, checked: list[str]) -> dict:
        t = await tool(tool_id)
        ids = [o["operationId"] for o in t["operations"]]
        t = (await api.call(M_UPDATE, id=tool_id, i={"allow": allow_rules(ids, checked or []),
                                                    "deny": []}))["updateTool"]
        n = sum(o["allowed"] for o in t["operations"])
        return refreshed(await load_tools(), f"{t['id']}: {n} of {len(ids)} operations exposed.")

    everything = [table, pick, notice, ops_box, state_ops, health_md, manage_ops]
    refresh.click(on_refresh, outputs=everything)
    preview_btn.click(on_preview, inputs=[oa_file, oa_text], outputs=everything)
    register_btn.click(on_register, inputs=[oa_file, oa_text, state_ops, ops_box, base_url, name, *form],
                       outputs=everything)
    mcp_btn.click(on_register_mcp, inputs=[mcp_url, mcp_name, *form], outputs=everything)
    pick.change(on_pick, inputs=[pick], outputs=everything)
    test_btn.click(on_test, inputs=[pick], outputs=everything)
    update_btn.click(on_update, inputs=[pick, *form], outputs=everything)
    save_ops_btn.click(on_save_ops, inputs=[pick, manage_ops], outputs=everything)
    return on_refresh, everything
