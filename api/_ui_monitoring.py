"""Gradio **Monitoring** tab (issue 6): runs over time by status, cost over time, p50/p95 latency,
most costly agents, and "Analyze with LLM" on a run.

A GraphQL client like the rest of the UI (``runStats``, ``executions``, ``analyzeRun``
through :class:`api._ui_client.PlatformClient`). ``build_monitoring_tab(api)`` must be
called inside the ``gr.Tabs()`` block of ``api._ui.build_ui``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from api._ui_client import PlatformClient, UIError

STATS = """query($h: Float!, $b: Int!) { runStats(sinceHours: $h, bucketMinutes: $b) { since bucketMinutes totalRuns
  byStatus costUsd p50Ms p95Ms buckets { start counts costUsd p50Ms p95Ms } topAgents { agentId runs costUsd } } }"""
RECENT = "query($n: Int!) { executions(limit: $n) { id agentId status startedAt latencyMs costUsd errorCode } }"
ANALYZE = "mutation($id: ID!) { analyzeRun(id: $id) { runId status notes model } }"
RECENT_COLUMNS = ["run id", "agent", "status", "started", "latency ms", "cost usd", "error"]
#: Window choices (label -> hours) and the bucket width that keeps each plot near 24-100 points.
WINDOWS = {"last hour": (1.0, 5), "last 6 hours": (6.0, 15), "last 24 hours": (24.0, 60), "last 7 days": (168.0, 360)}


def _notice(text: str, error: bool = False) -> str:
    fg, bg = ("#b91c1c", "#fef2f2") if error else ("#166534", "#f0fdf4")
    return (f'<div style="color:{fg};background:{bg};border:1px solid {fg};border-radius:6px;padding:6px 10px;'
            f'white-space:pre-wrap">{html.escape(text)}</div>') if text else ""


def stats_frames(stats: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Plot data from a ``runStats`` answer: (runs by status, cost, latency p50/p95, top agents).

    Long format (one row per time and series) so each plot colours by its series column.
    """
    runs, cost, lat = [], [], []
    statuses = sorted({s for b in stats["buckets"] for s in b["counts"]}) or ["succeeded"]
    for b in stats["buckets"]:
        t = pd.Timestamp(b["start"])
        for s in statuses:
            runs.append({"time": t, "status": s, "runs": b["counts"].get(s, 0)})
        cost.append({"time": t, "cost usd": round(b["costUsd"], 6)})
        for name, key in (("p50", "p50Ms"), ("p95", "p95Ms")):
            if b[key] is not None:
                lat.append({"time": t, "percentile": name, "latency ms": round(b[key], 1)})
    agents = [{"agent": a["agentId"], "cost usd": round(a["costUsd"], 6), "runs": a["runs"]}
              for a in stats["topAgents"]]
    return (pd.DataFrame(runs, columns=["time", "status", "runs"]), pd.DataFrame(cost, columns=["time", "cost usd"]),
            pd.DataFrame(lat, columns=["time", "percentile", "latency ms"]),
            pd.DataFrame(agents, columns=["agent", "cost usd", "runs"]))


def summary_markdown(stats: dict[str, Any]) -> str:
    """One line of totals: runs by status, cost, p50/p95 latency."""
    by = ", ".join(f"{k} {v}" for k, v in sorted(stats["byStatus"].items())) or "none"
    p50 = "-" if stats["p50Ms"] is None else f"{stats['p50Ms']:.0f} ms"
    p95 = "-" if stats["p95Ms"] is None else f"{stats['p95Ms']:.0f} ms"
    return (f"**{stats['totalRuns']} runs** since {stats['since']} ({by}) &nbsp; **cost** "
            f"${stats['costUsd']:.4f} &nbsp; **latency** p50 {p50}, p95 {p95} &nbsp; "
            f"_buckets of {stats['bucketMinutes']} min_")


def recent_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Recent runs as a table (newest first)."""
    rows = [[r["id"], r["agentId"], r["status"], r["startedAt"], r["latencyMs"], r["costUsd"], r["errorCode"] or ""]
            for r in runs]
    return pd.DataFrame(rows, columns=RECENT_COLUMNS)


def build_monitoring_tab(api: PlatformClient) -> Callable[..., Any]:
    """Add the Monitoring tab (call inside ``with gr.Tabs():``); returns its refresh handler."""
    with gr.Tab("Monitoring", id="monitoring", elem_id="tab-monitoring") as tab:
        with gr.Row():
            window = gr.Dropdown(list(WINDOWS), value="last 24 hours", label="Window", scale=2,
                                 elem_id="monitoring-window")
            refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="monitoring-refresh")
        notice = gr.HTML(elem_id="monitoring-notice")
        summary = gr.Markdown(elem_id="monitoring-summary")
        with gr.Row():
            runs_plot = gr.LinePlot(x="time", y="runs", color="status", title="Runs by status",
                                    elem_id="monitoring-runs")
            cost_plot = gr.LinePlot(x="time", y="cost usd", title="Cost (USD)", elem_id="monitoring-cost")
        with gr.Row():
            lat_plot = gr.LinePlot(x="time", y="latency ms", color="percentile", title="Latency p50 / p95 (ms)",
                                   elem_id="monitoring-latency")
            agents_plot = gr.BarPlot(x="agent", y="cost usd", title="Most costly agents",
                                     elem_id="monitoring-agents")
        recent = gr.Dataframe(headers=RECENT_COLUMNS, interactive=False, elem_id="monitoring-recent")
        with gr.Row():
            run_id = gr.Textbox(label="Run id (click a row above)", scale=3, elem_id="monitoring-run-id")
            analyze = gr.Button("Analyze with LLM", variant="primary", scale=1, elem_id="monitoring-analyze")
        notes = gr.Markdown(elem_id="monitoring-notes")

    async def on_refresh(label: str) -> dict:
        try:
            hours, bucket = WINDOWS.get(label, WINDOWS["last 24 hours"])
            stats = (await api.call(STATS, h=hours, b=bucket))["runStats"]
            r, c, lat, ag = stats_frames(stats)
            rows = (await api.call(RECENT, n=20))["executions"]
            return {notice: "", summary: summary_markdown(stats), runs_plot: r, cost_plot: c, lat_plot: lat,
                    agents_plot: ag, recent: recent_frame(rows)}
        except Exception as exc:  # shown, never a traceback
            return {notice: _error(exc)}

    async def on_select(evt: gr.SelectData) -> dict:
        row = evt.row_value if hasattr(evt, "row_value") else None
        return {run_id: row[0] if row else evt.value}

    async def on_analyze(rid: str) -> dict:
        if not (rid or "").strip():
            return {notice: _notice("Pick a run first (click a row of the table).", error=True)}
        try:
            out = (await api.call(ANALYZE, id=rid.strip()))["analyzeRun"]
            return {notice: "", notes: f"**Root-cause notes for `{out['runId']}`** ({out['status']}, model "
                                       f"`{out['model']}`)\n\n{out['notes']}"}
        except Exception as exc:
            return {notice: _error(exc)}

    outputs = [notice, summary, runs_plot, cost_plot, lat_plot, agents_plot, recent]
    refresh.click(on_refresh, [window], outputs)
    window.change(on_refresh, [window], outputs)
    tab.select(on_refresh, [window], outputs)
    recent.select(on_select, None, [run_id])
    analyze.click(on_analyze, [run_id], [notice, notes])
    return on_refresh


def _error(exc: Exception) -> str:
    if isinstance(exc, UIError):
        return _notice(f"Error {exc.code}: {exc.message}", error=True)
    return _notice(f"Unexpected UI error ({type(exc).__name__}): {exc}", error=True)


__all__ = ["build_monitoring_tab", "recent_frame", "stats_frames", "summary_markdown"]
