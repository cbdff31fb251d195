"""The Gradio UI in a real browser (Debian chromium via Playwright) against the real platform.

Builds an agent by chatting, saves and publishes it, runs it from the Test tab and
checks the output and the execution chain. Screenshots go to pytest's ``tmp_path``,
or to ``docs/ui-builder.png`` / ``docs/ui-run.png`` when ``AGENTGRAPH_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

# CHROMIUM / CHROMIUM_ARGS stay importable from here: the other UI test modules import them from this one.
from tests.e2e._browser import CHROMIUM, CHROMIUM_ARGS, DOCS, LONG_MS, chromium  # noqa: F401

# Gradio's own event analytics (queueing._get_df) uses pandas options that pandas 3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def _screenshot_dir(tmp_path: Path) -> Path:
    return DOCS if os.environ.get("AGENTGRAPH_SCREENSHOTS") == "1" else tmp_path


def drive_tour(page, base_url: str, shots: Path) -> dict[str, str]:
    """Build -> refine -> save & publish -> run through the UI; returns ids seen on the way."""
    expect = playwright_sync.expect
    page.goto(f"{base_url}/ui/")
    page.get_by_role("tab", name="Builder").wait_for(timeout=LONG_MS)

    builder_input = page.locator("#builder-input textarea")
    builder_input.fill("I need an agent that looks up a lead in our CRM and drafts a follow-up email")
    page.locator("#builder-send").click()
    expect(page.locator("#agent-card")).to_contain_text("demo-crm", timeout=LONG_MS)
    expect(page.locator("#spec-yaml")).to_contain_text("demo-crm")
    expect(page.locator("#builder-chat")).to_contain_text("score")
    expect(page.locator("#builder-notice")).to_contain_text("Drafted in thread")

    builder_input.fill("also look at the company")
    page.locator("#builder-send").click()
    expect(page.locator("#builder-notice")).to_contain_text("Refined in thread", timeout=LONG_MS)
    expect(page.locator("#agent-card")).to_contain_text("company")
    expect(page.locator("#builder-chat")).to_contain_text("also look at the company")
    page.screenshot(path=str(shots / "ui-builder.png"), full_page=True)

    page.locator("#save-publish-btn").click()
    notice = page.locator("#builder-notice")
    expect(notice).to_contain_text("Saved agent", timeout=LONG_MS)
    expect(notice).to_contain_text("(version 1, published)")
    agent_id = re.search(r"Saved agent (\S+) \(version", notice.inner_text()).group(1)

    page.get_by_role("tab", name="Test run").click()
    dropdown = page.locator("#run-agent input")
    expect(dropdown).to_have_value(re.compile(re.escape(f"({agent_id})")))
    # Choose it explicitly as a user would (the save already selected it); typing filters the list.
    dropdown.click()
    dropdown.fill(agent_id)
    page.get_by_role("option", name=re.compile(re.escape(f"({agent_id})"))).click()
    expect(dropdown).to_have_value(re.compile(re.escape(f"({agent_id})")))

    page.locator("#run-input textarea").fill("Find lead Ada Lovelace and draft a follow-up")
    page.locator("#run-btn").click()
    try:
        expect(page.locator("#run-output")).to_contain_text("Ada Lovelace", timeout=LONG_MS)
    except AssertionError as exc:  # say what the run did instead (status line, notice)
        raise AssertionError(f"{exc}\nrun status: {page.locator('#run-status').inner_text()!r}\n"
                             f"run notice: {page.locator('#run-notice').inner_text()!r}") from exc
    status = page.locator("#run-status")
    expect(status).to_contain_text("succeeded")
    chain = page.locator("#chain-table")
    expect(chain).to_contain_text("agent.run")
    expect(chain).to_contain_text("tool.call")
    expect(chain).to_contain_text("llm.call")
    expect(chain).to_contain_text("searchLeads")
    thread = page.locator("#run-thread textarea")
    expect(thread).not_to_have_value("")
    expect(page.locator("#recent-runs")).to_contain_text(thread.input_value())
    expect(page.locator("#run-notice")).to_have_text("")
    page.screenshot(path=str(shots / "ui-run.png"), full_page=True)
    return {"agent_id": agent_id, "thread_id": thread.input_value()}


def test_build_publish_and_run_in_browser(platform_url: str, tmp_path: Path) -> None:
    shots = _screenshot_dir(tmp_path)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        ids = drive_tour(page, platform_url, shots)
        assert ids["agent_id"] and ids["thread_id"]
        assert not errors, errors
    assert (shots / "ui-builder.png").stat().st_size > 10_000
    assert (shots / "ui-run.png").stat().st_size > 10_000
