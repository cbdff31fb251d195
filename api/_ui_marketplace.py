"""Marketplace and My agents tabs of the Gradio UI (issue 3).

* Marketplace: search text, department, sort and minimum rating; agent cards; the
  selected agent's detail (creator, tools, LLMs, versions, ratings, run stats);
  clone; rate and review; colleagues' similar agents for a description.
* My agents: versions of an agent, a diff between two versions (changed fields and
  the unified YAML diff), activate a version (the rollback) and deprecate.

A GraphQL client like the rest of the UI (:class:`api._ui_client.PlatformClient`)::

    build_marketplace_tabs(api)   # inside ``gr.Tabs`` of ``api._ui.build_ui``
"""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr

from api._ui_client import PlatformClient, UIError

__all__ = ["build_marketplace_tabs", "cards_html", "detail_markdown"]

log = logging.getLogger("agentgraph.ui")
SORTS = ["POPULAR", "RATING", "RECENT", "SUCCESS_RATE"]
Q_PAGE = """query($f: MarketFilterInput, $s: MarketSort!) { marketplace(first: 24, filter: $f, sort: $s) {
  edges { node { id name description agentType runs successRate ratingAvg ratingCount
                 creator { name department } tools { id name } } } pageInfo { hasNextPage } } }"""
Q_DETAIL = """query($id: ID!) { marketplaceAgent(id: $id) { id name description status activeVersion derivedFrom
  runs successRate ratingAvg ratingCount creator { name department team } tools { id name } notebooks { id name }
  llms { name primary } versions { version createdAt } ratings(limit: 5) { userId stars review }
  stats { runs successRate p50LatencyMs avgCostUsd } } }"""
Q_DEPARTMENTS = "{ departments { id name } }"
Q_SIMILAR = """query($t: String) { recommendations(text: $t) { agents { name successRate runs peers }
  similarBuilders { message agentName } tools { name agents } } }"""
M_CLONE = "mutation($a: String!) { cloneAgent(agentId: $a) { id name } }"
M_RATE = "mutation($a: String!, $s: Int!, $r: String!) { rateAgent(agentId: $a, stars: $s, review: $r) { ratingAvg ratingCount } }"
Q_AGENTS = "{ agents(limit: 200) { id name status activeVersion latestVersion } }"
Q_VERSIONS = "query($id: ID!) { agent(id: $id) { id status activeVersion latestVersion provisioningError versions { version createdAt } } }"
Q_DIFF = """query($a: String!, $f: Int!, $t: Int!) { agentVersionDiff(agentId: $a, fromVersion: $f, toVersion: $t) {
  changes { path before after } yamlDiff } }"""
M_ACTIVATE = "mutation($a: String!, $v: Int) { activateVersion(agentId: $a, version: $v) { status activeVersion provisioningError } }"
M_DEPRECATE = "mutation($a: String!) { deprecateAgent(agentId: $a) { status } }"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{round(x * 100)}%"


def _usd(x: float | None) -> str:
    return "-" if x is None else f"${x:.4f}"


def _stars(avg: float | None, n: int) -> str:
    return "unrated" if not n else f"{'★' * round(avg or 0)}{'☆' * (5 - round(avg or 0))} {avg:.1f} ({n})"


def cards_html(nodes: list[dict[str, Any]]) -> str:
    """Agent cards (name, creator, tools, rating, runs and success rate) as HTML."""
    if not nodes:
        return "<p class='mk-empty'>No agents match. Clear the filters or publish one.</p>"
    cards = []
    for n in nodes:
        c = n.get("creator") or {}
        by = html.escape(f"{c.get('name') or '?'}" + (f" ({c['department']})" if c.get("department") else ""))
        tools = ", ".join(html.escape(t["name"]) for t in n.get("tools") or []) or "no tools"
        cards.append(
            f"<div class='mk-card' style='border:1px solid #ddd;border-radius:8px;padding:8px;margin:4px;"
            f"display:inline-block;width:260px;vertical-align:top'><b>{html.escape(n['name'])}</b>"
            f"<br><small>{html.escape(n['id'])}</small><p>{html.escape(n['description'][:140])}</p>"
            f"<small>by {by} · {tools}<br>{_stars(n.get('ratingAvg'), n.get('ratingCount', 0))} · "
            f"{n.get('runs', 0)} runs · {_pct(n.get('successRate'))} success</small></div>")
    return "".join(cards)


def detail_markdown(a: dict[str, Any]) -> str:
    """The detail view of one agent as Markdown."""
    c, s = a.get("creator") or {}, a.get("stats") or {}
    lines = [f"### {a['name']} (`{a['id']}`)", a["description"], "",
             f"**Status** {a['status']} · active version {a.get('activeVersion') or '-'} · "
             f"by {c.get('name') or '?'} ({c.get('department') or 'no department'})",
             f"**Runs** {s.get('runs', 0)} · success {_pct(s.get('successRate'))} · p50 "
             f"{'-' if s.get('p50LatencyMs') is None else round(s['p50LatencyMs'])} ms · avg cost "
             f"{_usd(s.get('avgCostUsd'))}",
             f"**Tools** {', '.join(t['name'] for t in a.get('tools') or []) or '-'} · **Notebooks** "
             f"{', '.join(n.get('name') or n['id'] for n in a.get('notebooks') or []) or '-'} · **LLMs** "
             f"{', '.join(x['name'] for x in a.get('llms') or []) or 'gateway default'}",
             f"**Versions** {', '.join(str(v['version']) for v in a.get('versions') or [])}",
             f"**Rating** {_stars(a.get('ratingAvg'), a.get('ratingCount', 0))}"]
    if a.get("derivedFrom"):
        lines.append(f"Cloned from `{a['derivedFrom']}`")
    for r in a.get("ratings") or []:
        lines.append(f"- {'★' * r['stars']} {html.escape(r['review'] or '')} ({r['userId']})")
    return "\n".join(lines)


VISIBILITIES = ["private", "team", "department", "tenant"]
Q_SHARING = "query($a: String!) { agentSharing(agentId: $a) { visibility grants { userId role } } }"
M_SHARE = """mutation($a: String!, $v: String!, $g: [GrantInput!]) {
  shareAgent(agentId: $a, visibility: $v, grants: $g) { visibility grants { userId role } } }"""


def parse_grants(text: str) -> list[dict[str, str | None]]:
    """``"grace: editor\nalan: none"`` -> ``[{"userId": "grace", "role": "editor"}, {"userId": "alan", "role": None}]``.

    Raises:
        UIError: a line without ``user: role``.
    """
    out: list[dict[str, str | None]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        user, sep, role = line.partition(":")
        if not sep or not user.strip() or not role.strip():
            raise UIError(f"Grant line {n} ({line.strip()!r}) must look like 'user_id: editor'.", "INPUT")
        role = role.strip().lower()
        out.append({"userId": user.strip(), "role": None if role == "none" else role})
    return out


def build_marketplace_tabs(api: PlatformClient) -> None:
    """Add the Marketplace and My agents tabs (see module docstring)."""

    def notice(exc: Exception) -> str:
        if not isinstance(exc, UIError):
            log.exception("marketplace UI handler failed")
        code = getattr(exc, "code", "ERROR")
        return f"<div class='notice error'>⚠ {html.escape(str(exc))} <small>[{html.escape(str(code))}]</small></div>"

    def ok(text: str) -> str:
        return f"<div class='notice ok'>{html.escape(text)}</div>"

    with gr.Tab("Marketplace", id="marketplace", elem_id="tab-marketplace"):
        with gr.Row():
            mk_text = gr.Textbox(label="Search name and description", scale=3, elem_id="mk-search")
            mk_dep = gr.Dropdown(label="Department", choices=[""], value="", scale=2, elem_id="mk-department")
            mk_sort = gr.Dropdown(label="Sort", choices=SORTS, value="POPULAR", scale=2, elem_id="mk-sort")
            mk_min = gr.Slider(0, 5, value=0, step=0.5, label="Min rating", scale=2, elem_id="mk-min-rating")
            mk_go = gr.Button("Search", variant="primary", scale=1, elem_id="mk-search-btn")
        mk_cards = gr.HTML(elem_id="mk-cards")
        with gr.Row():
            mk_agent = gr.Dropdown(label="Agent", choices=[], value=None, scale=4, elem_id="mk-agent")
            mk_clone = gr.Button("Clone", scale=1, elem_id="mk-clone-btn")
        mk_notice = gr.HTML(elem_id="mk-notice")
        mk_detail = gr.Markdown(elem_id="mk-detail")
        with gr.Row():
            mk_stars = gr.Slider(1, 5, value=5, step=1, label="Stars", scale=1, elem_id="mk-stars")
            mk_review = gr.Textbox(label="Review", scale=3, elem_id="mk-review")
            mk_rate = gr.Button("Rate", scale=1, elem_id="mk-rate-btn")
        with gr.Accordion("Who built something similar?", open=False):
            mk_sim_text = gr.Textbox(label="Describe the agent you want", elem_id="mk-similar-text")
            mk_sim_btn = gr.Button("Find", elem_id="mk-similar-btn")
            mk_sim = gr.Markdown(elem_id="mk-similar")

    with gr.Tab("My agents", id="my-agents", elem_id="tab-my-agents"):
        with gr.Row():
            my_agent = gr.Dropdown(label="Agent", choices=[], value=None, scale=4, elem_id="my-agent")
            my_refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="my-refresh")
        my_info = gr.Markdown(elem_id="my-info")
        with gr.Row():
            my_from = gr.Dropdown(label="From version", choices=[], value=None, elem_id="my-from")
            my_to = gr.Dropdown(label="To version", choices=[], value=None, elem_id="my-to")
            my_diff_btn = gr.Button("Diff", elem_id="my-diff-btn")
            my_activate = gr.Button("Activate 'to' version (rollback)", variant="primary", elem_id="my-activate-btn")
            my_deprecate = gr.Button("Deprecate", elem_id="my-deprecate-btn")
        with gr.Accordion("Sharing", open=False, elem_id="my-sharing"):
            with gr.Row():
                sh_vis = gr.Dropdown(label="Visible to", choices=VISIBILITIES, value="tenant", scale=1,
                                     elem_id="my-visibility")
                sh_grants = gr.Textbox(label="Grants: one 'user_id: owner|editor|viewer|none' per line "
                                             "(none removes the grant)", lines=3, scale=3, elem_id="my-grants")
            sh_save = gr.Button("Save sharing", elem_id="my-share-btn")
        my_notice = gr.HTML(elem_id="my-notice")
        my_changes = gr.Markdown(elem_id="my-changes")
        my_diff = gr.Code(language="markdown", label="YAML diff", interactive=False, elem_id="my-diff")

    async def search(text: str, dep: str, sort: str, min_rating: float):
        try:
            f: dict[str, Any] = {}
            if text and text.strip():
                f["text"] = text.strip()
            if dep:
                f["department"] = dep
            if min_rating:
                f["minRating"] = float(min_rating)
            data = await api.call(Q_PAGE, f=f or None, s=sort or "POPULAR")
            nodes = [e["node"] for e in data["marketplace"]["edges"]]
            deps = [""] + [d["name"] for d in (await api.call(Q_DEPARTMENTS))["departments"]]
            choices = [(f"{n['name']} ({n['id']})", n["id"]) for n in nodes]
            return (cards_html(nodes), gr.update(choices=choices, value=choices[0][1] if choices else None),
                    gr.update(choices=deps), ok(f"{len(nodes)} agent(s)"))
        except Exception as exc:
            return gr.update(), gr.update(), gr.update(), notice(exc)

    async def detail(agent_id: str | None):
        if not agent_id:
            return "", gr.update()
        try:
            return detail_markdown((await api.call(Q_DETAIL, id=agent_id))["marketplaceAgent"]), gr.update()
        except Exception as exc:
            return gr.update(), notice(exc)

    async def clone(agent_id: str | None):
        try:
            if not agent_id:
                raise UIError("Pick an agent to clone first.", "INPUT")
            c = (await api.call(M_CLONE, a=agent_id))["cloneAgent"]
            return ok(f"Cloned into {c['id']} ({c['name']}); find it under My agents.")
        except Exception as exc:
            return notice(exc)

    async def rate(agent_id: str | None, stars: float, review: str):
        try:
            if not agent_id:
                raise UIError("Pick an agent to rate first.", "INPUT")
            r = (await api.call(M_RATE, a=agent_id, s=int(stars), r=review or ""))["rateAgent"]
            d = detail_markdown((await api.call(Q_DETAIL, id=agent_id))["marketplaceAgent"])
            return ok(f"Thanks! Now {r['ratingAvg']:.1f} stars from {r['ratingCount']} rating(s)."), d
        except Exception as exc:
            return notice(exc), gr.update()

    async def similar(text: str):
        try:
            r = (await api.call(Q_SIMILAR, t=text or None))["recommendations"]
            lines = [f"- {s['message']} ({s['agentName']})" for s in r["similarBuilders"]] or ["- nobody yet"]
            lines += ["", "**Works well for people like you:**"] + [
                f"- {a['name']}: {_pct(a['successRate'])} over {a['runs']} runs, used by {a['peers']} peer(s)"
                for a in r["agents"]] + ["", "**Tools they use:** " + (", ".join(t["name"] for t in r["tools"]) or "-")]
            return "\n".join(lines)
        except Exception as exc:
            return notice(exc)

    mk_go.click(search, [mk_text, mk_dep, mk_sort, mk_min], [mk_cards, mk_agent, mk_dep, mk_notice])
    mk_text.submit(search, [mk_text, mk_dep, mk_sort, mk_min], [mk_cards, mk_agent, mk_dep, mk_notice])
    mk_agent.change(detail, [mk_agent], [mk_detail, mk_notice])
    mk_clone.click(clone, [mk_agent], [mk_notice])
    mk_rate.click(rate, [mk_agent, mk_stars, mk_review], [mk_notice, mk_detail])
    mk_sim_btn.click(similar, [mk_sim_text], [mk_sim])

    async def my_list():
        try:
            agents = (await api.call(Q_AGENTS))["agents"]
            return gr.update(choices=[(f"{a['name']} ({a['id']}, {a['status']})", a["id"]) for a in agents]), ""
        except Exception as exc:
            return gr.update(), notice(exc)

    async def my_show(agent_id: str | None):
        if not agent_id:
            return "", gr.update(), gr.update()
        try:
            a = (await api.call(Q_VERSIONS, id=agent_id))["agent"]
            versions = [str(v["version"]) for v in a["versions"]]
            info = (f"**{a['id']}**: {a['status']}, active version {a.get('activeVersion') or '-'} of "
                    f"{a['latestVersion']}" + (f"\n\n⚠ {a['provisioningError']}" if a.get("provisioningError") else ""))
            return (info, gr.update(choices=versions, value=versions[0] if versions else None),
                    gr.update(choices=versions, value=versions[-1] if versions else None))
        except Exception as exc:
            return notice(exc), gr.update(), gr.update()

    async def my_diff_fn(agent_id: str | None, frm: str | None, to: str | None):
        try:
            if not (agent_id and frm and to):
                raise UIError("Pick an agent and two versions.", "INPUT")
            d = (await api.call(Q_DIFF, a=agent_id, f=int(frm), t=int(to)))["agentVersionDiff"]
            rows = [f"- `{c['path']}`: {c['before']!r} → {c['after']!r}" for c in d["changes"]] or ["No changes."]
            return "\n".join(rows), d["yamlDiff"], ""
        except Exception as exc:
            return gr.update(), gr.update(), notice(exc)

    async def my_activate_fn(agent_id: str | None, to: str | None):
        try:
            if not agent_id:
                raise UIError("Pick an agent first.", "INPUT")
            r = (await api.call(M_ACTIVATE, a=agent_id, v=int(to) if to else None))["activateVersion"]
            if r["status"] == "failed":
                return notice(UIError(f"Provisioning failed: {r['provisioningError']}", "PROVISIONING_FAILED"))
            return ok(f"Version {r['activeVersion']} is active.")
        except Exception as exc:
            return notice(exc)

    async def my_deprecate_fn(agent_id: str | None):
        try:
            if not agent_id:
                raise UIError("Pick an agent first.", "INPUT")
            return ok(f"Agent is now {(await api.call(M_DEPRECATE, a=agent_id))['deprecateAgent']['status']}.")
        except Exception as exc:
            return notice(exc)

    async def sharing_show(agent_id: str | None):
        if not agent_id:
            return gr.update(), gr.update()
        try:
            sh = (await api.call(Q_SHARING, a=agent_id))["agentSharing"]
            return sh["visibility"], "\n".join(f"{g['userId']}: {g['role']}" for g in sh["grants"])
        except Exception:  # e.g. read-only access: leave the form as it is
            return gr.update(), gr.update()

    async def sharing_save(agent_id: str | None, visibility: str, grants_text: str):
        try:
            if not agent_id:
                raise UIError("Pick an agent first.", "INPUT")
            grants = parse_grants(grants_text)
            sh = (await api.call(M_SHARE, a=agent_id, v=visibility, g=grants))["shareAgent"]
            who = ", ".join(f"{g['userId']} ({g['role']})" for g in sh["grants"]) or "no explicit grants"
            return ok(f"Visible to: {sh['visibility']}; {who}.")
        except Exception as exc:
            return notice(exc)

    my_agent.change(sharing_show, [my_agent], [sh_vis, sh_grants])
    sh_save.click(sharing_save, [my_agent, sh_vis, sh_grants], [my_notice])
    my_refresh.click(my_list, [], [my_agent, my_notice])
    my_agent.change(my_show, [my_agent], [my_info, my_from, my_to])
    my_diff_btn.click(my_diff_fn, [my_agent, my_from, my_to], [my_changes, my_diff, my_notice])
    my_activate.click(my_activate_fn, [my_agent, my_to], [my_notice])
    my_deprecate.click(my_deprecate_fn, [my_agent], [my_notice])
