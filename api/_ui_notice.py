"""Notice lines of the Gradio UI and the guard that turns a handler's exception into one."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any

from api._ui_client import UIError

log = logging.getLogger("agentgraph.ui")


def notice(text: str, kind: str = "ok") -> str:
    """HTML for a tab's notice line: ``kind`` is ``ok`` (green), ``info`` (grey) or ``error`` (red)."""
    if not text:
        return ""
    colors = {"ok": ("#166534", "#f0fdf4"), "info": ("#374151", "#f9fafb"), "error": ("#b91c1c", "#fef2f2")}
    fg, bg = colors.get(kind, colors["info"])
    return (f'<div class="ag-notice ag-{kind}" style="color:{fg};background:{bg};border:1px solid {fg};'
            f'border-radius:6px;padding:6px 10px;white-space:pre-wrap">{html.escape(text)}</div>')


def error_notice(exc: Exception) -> str:
    """Notice HTML for a failed call (message and code; unexpected errors by type, no traceback)."""
    if isinstance(exc, UIError):
        return notice(f"Error {exc.code}: {exc.message}", "error")
    return notice(f"Unexpected UI error ({type(exc).__name__}): {exc}", "error")


def guarded(notice_box: Any) -> Callable:
    """Decorator: any exception of an async handler (which returns ``{component: value}``) becomes
    ``{notice_box: error_notice(exc)}``; unexpected ones are logged with their traceback."""
    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        async def wrapper(*args: Any) -> dict:
            try:
                return await fn(*args)
            except Exception as exc:  # shown to the user, never a traceback
                if not isinstance(exc, UIError):
                    log.exception("UI handler %s failed", fn.__name__)
                return {notice_box: error_notice(exc)}
        return wrapper
    return deco


__all__ = ["error_notice", "guarded", "notice"]
