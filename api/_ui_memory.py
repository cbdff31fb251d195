"""Gradio tabs for notebooks and threads (a GraphQL client like the rest of the UI).

``build_memory_tabs(api)`` must be called inside the ``gr.Tabs()`` block of
``api._ui.build_ui``; it adds:

* **Notebooks** - list with status, counts, index health and progress; create with a
  chunking strategy; upload files (PDF, DOCX, HTML, Markdown, text) or paste text, with
  optional sync (documents not uploaded are removed); per-document receipts refreshed
  every 2 s while ingesting; hybrid search with top-k, similarity threshold and filters.
* **Threads** - the user's threads (optionally of one agent), a thread's history from
  the short-term memory, delete a thread.
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from api._ui_client import PlatformClient, UIError

NB_FIELDS = """id name description status documentCount chunkCount lastSync indexHealth progress
  chunking { strategy chunkSize chunkOverlap }"""
NOTEBOOKS = f"query {{ notebooks {{ {NB_FIELDS} }} }}"
NOTEBOOK = f"""query($id: ID!) {{ notebook(id: $id) {{ {NB_FIELDS} statusCounts
  documents {{ id filename status error chunkCount format sizeBytes updatedAt }} }} }}"""
CREATE = f"""mutation($n: String!, $d: String!, $c: ChunkingInput) {{ createNotebook(name: $n, description: $d,
  chunking: $c) {{ {NB_FIELDS} }} }}"""
ADD = "mutation($id: String!, $docs: [DocumentInput!]!) { addDocuments(notebookId: $id, documents: $docs) { filename status } }"
SYNC = "mutation($id: String!, $docs: [DocumentInput!]!) { syncNotebook(notebookId: $id, documents: $docs) { filename status } }"
SEARCH = """query($id: String!, $q: String!, $k: Int!, $min: Float, $f: JSON) { searchNotebook(notebookId: $id, query: $q,
  topK: $k, minSimilarity: $min, filters: $f) { filename chunkIndex score similarity text } }"""
THREADS = "query($a: String) { threads(agentId: $a) { threadId agentId runs firstInput updatedAt } }"
THREAD = "query($t: String!) { thread(id: $t) { thread { threadId agentId runs } messages { role content name } } }"
DELETE_THREAD = "mutation($t: String!) { deleteThread(id: $t) }"

NOTEBOOK_COLUMNS = ["id", "name", "status", "documents", "chunks", "progress", "last sync", "index health"]
DOC_COLUMNS = ["document", "status", "chunks", "format", "bytes", "error"]
HIT_COLUMNS = ["#", "document", "chunk", "score", "similarity", "text"]
THREAD_COLUMNS = ["thread", "agent", "runs", "first input", "updated"]


def _notice(text: str, error: bool = False) -> str:
    fg, bg = ("#b91c1c", "#fef2f2") if error else ("#166534", "#f0fdf4")
    return (f'<div style="color:{fg};background:{bg};border:1px solid {fg};border-radius:6px;padding:6px 10px;'
            f'white-space:pre-wrap">{html.escape(text)}</div>') if text else ""


def _err(exc: Exception) -> str:
    if isinstance(exc, UIError):
        return _notice(f"Error {exc.code}: {exc.message}", error=True)
    return _notice(f"Unexpected UI error ({type(exc).__name__}): {exc}", error=True)


def notebooks_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Notebook list as a table (progress in percent)."""
    return pd.DataFrame([[n["id"], n["name"], n["status"], n["documentCount"], n["chunkCount"],
                          f"{100 * n['progress']:.0f}%", n["lastSync"] or "", n["indexHealth"]] for n in rows],
                        columns=NOTEBOOK_COLUMNS)


def documents_frame(docs: list[dict[str, Any]]) -> pd.DataFrame:
    """Document receipts as a table."""
    return pd.DataFrame([[d["filename"], d["status"], d["chunkCount"], d["format"] or "", d["sizeBytes"],
                          d["error"] or ""] for d in docs], columns=DOC_COLUMNS)


def hits_frame(hits: list[dict[str, Any]]) -> pd.DataFrame:
    """Search hits with their citation (document, chunk) and scores."""
    return pd.DataFrame([[i, h["filename"], h["chunkIndex"], round(h["score"], 4), round(h["similarity"], 3),
                          h["text"][:300]] for i, h in enumerate(hits, start=1)], columns=HIT_COLUMNS)


def progress_markdown(nb: dict[str, Any]) -> str:
    """One line: status, progress and counts per document status."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted((nb.get("statusCounts") or {}).items())) or "no documents"
    c = nb["chunking"]
    return (f"**{nb['name']}** - {nb['status']}, {100 * nb['progress']:.0f}% done ({counts}); "
            f"{nb['chunkCount']} chunks; index {nb['indexHealth']}; chunking {c['strategy']} "
            f"{c['chunkSize']}/{c['chunkOverlap']}")


def file_documents(paths: list[str], metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """GraphQL ``DocumentInput``s (base64) for uploaded files."""
    docs = []
    for p in paths or []:
        path = Path(p)
        docs.append({"filename": path.name, "contentBase64": base64.b64encode(path.read_bytes()).decode(),
                     "mimeType": mimetypes.guess_type(path.name)[0], "metadata": metadata})
    return docs


def build_memory_tabs(api: PlatformClient) -> None:
    """Add the Notebooks and Threads tabs (call inside ``with gr.Tabs():``)."""

    def guarded(box: gr.HTML) -> Callable:
        def deco(fn: Callable) -> Callable:
            async def wrapper(*args: Any) -> dict:
                try:
                    return await fn(*args)
                except Exception as exc:  # shown to the user, never a traceback
                    return {box: _err(exc)}
            wrapper.__name__ = fn.__name__
            return wrapper
        return deco

    with gr.Tab("Notebooks", id="notebooks", elem_id="tab-notebooks") as nb_tab:
        nb_table = gr.Dataframe(headers=NOTEBOOK_COLUMNS, interactive=False, elem_id="notebooks-table")
        with gr.Row():
            nb_pick = gr.Dropdown(label="Notebook", choices=[], scale=3, elem_id="notebook-pick")
            nb_refresh = gr.Button("Refresh", size="sm", scale=1)
        nb_notice = gr.HTML(elem_id="notebooks-notice")
        with gr.Accordion("Create a notebook", open=False):
            with gr.Row():
                c_name = gr.Textbox(label="Name", scale=2)
                c_desc = gr.Textbox(label="Description", scale=3)
            with gr.Row():
                c_strategy = gr.Dropdown(["default", "markdown", "code", "sliding"], value="default", label="Chunking")
                c_size = gr.Number(1000, label="Chunk size (characters)", precision=0)
                c_overlap = gr.Number(150, label="Overlap (characters)", precision=0)
                c_btn = gr.Button("Create", variant="primary")
        with gr.Row():
            with gr.Column(scale=3):
                files = gr.File(label="Upload documents (PDF, DOCX, HTML, Markdown, text)", file_count="multiple",
                                type="filepath", elem_id="notebook-files")
                with gr.Row():
                    t_name = gr.Textbox(label="or paste text: document name", placeholder="notes.md")
                    meta = gr.Textbox(label="Metadata (JSON, optional)", placeholder='{"team": "sales"}')
                t_body = gr.Textbox(label="Text", lines=4)
                with gr.Row():
                    sync = gr.Checkbox(label="Sync: remove documents not in this upload", value=False)
                    add_btn = gr.Button("Add documents", variant="primary", elem_id="notebook-add")
            with gr.Column(scale=4):
                progress = gr.Markdown(elem_id="notebook-progress")
                docs_table = gr.Dataframe(headers=DOC_COLUMNS, interactive=False, elem_id="notebook-documents")
        with gr.Row():
            q = gr.Textbox(label="Search", scale=4, elem_id="notebook-query")
            k = gr.Number(5, label="top k", precision=0, scale=1)
            min_sim = gr.Number(None, label="min similarity", scale=1)
            filters = gr.Textbox(label="Filters (JSON)", scale=2)
            s_btn = gr.Button("Search", scale=1, elem_id="notebook-search")
        hits = gr.Dataframe(headers=HIT_COLUMNS, interactive=False, wrap=True, elem_id="notebook-hits")
        timer = gr.Timer(2.0, active=False)

    with gr.Tab("Threads", id="threads", elem_id="tab-threads") as th_tab:
        with gr.Row():
            th_agent = gr.Textbox(label="Agent id (empty: all my threads)", scale=3, elem_id="threads-agent")
            th_refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="threads-refresh")
        th_table = gr.Dataframe(headers=THREAD_COLUMNS, interactive=False, elem_id="threads-table")
        with gr.Row():
            th_pick = gr.Textbox(label="Thread id", scale=3, elem_id="thread-pick")
            th_show = gr.Button("Show history", scale=1, elem_id="thread-show")
            th_delete = gr.Button("Delete thread", variant="stop", scale=1, elem_id="thread-delete")
        th_notice = gr.HTML(elem_id="threads-notice")
        th_chat = gr.Chatbot(label="History (short-term memory)", height=420, elem_id="thread-history")

    def _json(text: str, what: str) -> dict[str, Any] | None:
        if not (text or "").strip():
            return None
        try:
            val = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UIError(f"{what} is not valid JSON ({exc.msg}); write e.g. {{\"team\": \"sales\"}}.", "INPUT") from exc
        if not isinstance(val, dict):
            raise UIError(f"{what} must be a JSON object, e.g. {{\"team\": \"sales\"}}.", "INPUT")
        return val

    async def load_list(current: str | None = None) -> dict:
        rows = (await api.call(NOTEBOOKS))["notebooks"]
        choices = [(f"{n['name']} ({n['id']})", n["id"]) for n in rows]
        value = current if current in {c[1] for c in choices} else (choices[0][1] if choices else None)
        return {nb_table: notebooks_frame(rows), nb_pick: gr.update(choices=choices, value=value)}

    async def load_one(nid: str | None) -> dict:
        if not nid:
            return {progress: "_Pick or create a notebook._", docs_table: documents_frame([]), timer: gr.update(active=False)}
        nb = (await api.call(NOTEBOOK, id=nid))["notebook"]
        busy = nb["status"] == "ingesting" or nb["progress"] < 1.0
        return {progress: progress_markdown(nb), docs_table: documents_frame(nb["documents"]),
                timer: gr.update(active=busy)}

    @guarded(nb_notice)
    async def on_refresh(current: str | None) -> dict:
        out = await load_list(current)
        out.update(await load_one(out[nb_pick]["value"]))
        return {**out, nb_notice: ""}

    @guarded(nb_notice)
    async def on_create(name: str, desc: str, strategy: str, size: float, overlap: float) -> dict:
        nb = (await api.call(CREATE, n=name, d=desc or "", c={"strategy": strategy, "chunkSize": int(size or 1000),
                                                                "chunkOverlap": int(overlap or 0)}))["createNotebook"]
        out = await load_list(nb["id"])
        out.update(await load_one(nb["id"]))
        return {**out, nb_notice: _notice(f"Created notebook {nb['name']} ({nb['id']}).")}

    @guarded(nb_notice)
    async def on_add(nid: str | None, paths: list[str] | None, name: str, body: str, meta_text: str,
                     do_sync: bool) -> dict:
        if not nid:
            raise UIError("Pick a notebook first (or create one).", "INPUT")
        metadata = _json(meta_text, "Metadata") or {}
        docs = file_documents(paths or [], metadata)
        if (body or "").strip():
            docs.append({"filename": (name or "").strip() or "pasted.txt", "text": body, "metadata": metadata})
        if not docs and not do_sync:
            raise UIError("Choose files or paste text to add.", "INPUT")
        receipts = (await api.call(SYNC if do_sync else ADD, id=nid, docs=docs))["syncNotebook" if do_sync else "addDocuments"]
        summary = ", ".join(f"{r['filename']}: {r['status']}" for r in receipts)
        return {**await load_one(nid), nb_notice: _notice(f"Ingestion started - {summary}")}

    @guarded(nb_notice)
    async def on_tick(nid: str | None) -> dict:
        out = await load_one(nid)
        if not out[timer]["active"]:
            out.update(await load_list(nid))
        return out

    @guarded(nb_notice)
    async def on_search(nid: str | None, query: str, top_k: float, min_s: float | None, f_text: str) -> dict:
        if not nid:
            raise UIError("Pick a notebook first.", "INPUT")
        rows = (await api.call(SEARCH, id=nid, q=query, k=int(top_k or 5), min=min_s,
                               f=_json(f_text, "Filters")))["searchNotebook"]
        return {hits: hits_frame(rows), nb_notice: _notice(f"{len(rows)} passage(s).") if rows else
                _notice("No passage matches; lower the similarity threshold or rephrase.")}

    @guarded(th_notice)
    async def on_threads(agent: str) -> dict:
        rows = (await api.call(THREADS, a=(agent or "").strip() or None))["threads"]
        frame = pd.DataFrame([[t["threadId"], t["agentId"], t["runs"], t["firstInput"][:80], t["updatedAt"]]
                              for t in rows], columns=THREAD_COLUMNS)
        return {th_table: frame, th_notice: ""}

    @guarded(th_notice)
    async def on_show(tid: str) -> dict:
        data = (await api.call(THREAD, t=(tid or "").strip()))["thread"]
        chat = [{"role": "assistant" if m["role"] in ("assistant", "tool", "system") else "user",
                 "content": (f"[{m['role']}{' ' + m['name'] if m.get('name') else ''}] " if m["role"] in ("tool", "system")
                             else "") + (m["content"] or "(tool call)")} for m in data["messages"]]
        return {th_chat: chat, th_notice: _notice(f"{len(chat)} message(s); {data['thread']['runs']} run(s).")}

    @guarded(th_notice)
    async def on_delete(tid: str, agent: str) -> dict:
        await api.call(DELETE_THREAD, t=(tid or "").strip())
        out = await on_threads(agent)
        return {**out, th_chat: [], th_notice: _notice(f"Deleted thread {tid}.")}

    async def on_table_select(evt: gr.SelectData) -> dict:
        row = evt.row_value if hasattr(evt, "row_value") else None
        return {th_pick: row[0]} if row else {}

    nb_outputs = [nb_table, nb_pick, progress, docs_table, timer, nb_notice]
    nb_refresh.click(on_refresh, [nb_pick], nb_outputs)
    nb_tab.select(on_refresh, [nb_pick], nb_outputs)  # fresh list whenever the tab opens
    nb_pick.change(guarded(nb_notice)(load_one), [nb_pick], [progress, docs_table, timer, nb_notice])
    c_btn.click(on_create, [c_name, c_desc, c_strategy, c_size, c_overlap], nb_outputs)
    add_btn.click(on_add, [nb_pick, files, t_name, t_body, meta, sync], [progress, docs_table, timer, nb_notice])
    timer.tick(on_tick, [nb_pick], nb_outputs)
    s_btn.click(on_search, [nb_pick, q, k, min_sim, filters], [hits, nb_notice])
    q.submit(on_search, [nb_pick, q, k, min_sim, filters], [hits, nb_notice])
    th_refresh.click(on_threads, [th_agent], [th_table, th_notice])
    th_tab.select(on_threads, [th_agent], [th_table, th_notice])
    th_show.click(on_show, [th_pick], [th_chat, th_notice])
    th_delete.click(on_delete, [th_pick, th_agent], [th_table, th_chat, th_notice])
    th_table.select(on_table_select, None, [th_pick])


__all__ = ["build_memory_tabs", "notebooks_frame", "documents_frame", "hits_frame", "progress_markdown",
           "file_documents"]
