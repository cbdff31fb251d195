"""The Test run tab's artifacts section: download links of the files a run created (producer agents, issue 7).

Links point at ``GET /api/artifacts/{id}`` on the platform's origin; the browser sends
the UI session cookie, so the download is authenticated and tenant-checked like any
API call (api/_artifact_routes.py).
"""

from __future__ import annotations

from typing import Any

import gradio as gr


def _size(n: int) -> str:
    """Human size: bytes, KiB or MiB (1024-based, like file managers)."""
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


def artifacts_markdown(artifacts: list[dict[str, Any]]) -> str:
    """Markdown list of download links, empty when the run created no file."""
    if not artifacts:
        return ""
    lines = ["**Artifacts** (click to download)"]
    for a in artifacts:
        name = str(a.get("name", "artifact")).replace("[", "(").replace("]", ")")
        lines.append(f"- [{name}]({a.get('url', '')}) - {a.get('format', '')}, {_size(int(a.get('bytes') or 0))}")
    return "\n".join(lines)


def artifacts_box() -> gr.Markdown:
    """The (initially empty) section placed under the run's output."""
    return gr.Markdown("", elem_id="run-artifacts")


__all__ = ["artifacts_box", "artifacts_markdown"]
