"""Shared browser set-up of the UI tests: Debian chromium driven by Playwright, and small page helpers."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

CHROMIUM = os.environ.get("AGENTGRAPH_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags chromium floods refused connections on offline machines.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
LONG_MS = 180_000  # the first builder call loads the embedding model


@contextmanager
def chromium() -> Iterator[playwright_sync.Browser]:
    """A headless Debian chromium for one test or module; fails (not skips) when chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No chromium at {CHROMIUM}: install Debian chromium (make install) or set AGENTGRAPH_CHROMIUM.")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def choose_agent(page: playwright_sync.Page, agent_id: str, elem_id: str = "run-agent") -> None:
    """Pick ``agent_id`` in a Gradio agent dropdown (choices ``"name (id)"``) as a user would: type, click."""
    dropdown = page.locator(f"#{elem_id} input")
    dropdown.click()
    dropdown.fill(agent_id)
    page.get_by_role("option", name=re.compile(re.escape(f"({agent_id})"))).click()
    playwright_sync.expect(dropdown).to_have_value(re.compile(re.escape(f"({agent_id})")))


__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "DOCS", "LONG_MS", "choose_agent", "chromium"]
