"""The sharing dialog of My agents in a real browser: a bad grant is refused with its reason,
then the agent is made private and the graph says so (issue 3)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest

from agentgraph.spec import AgentSpec
from tests.e2e.test_ui import CHROMIUM, CHROMIUM_ARGS, LONG_MS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def _pick(page, selector: str, agent_id: str) -> None:
    box = page.locator(f"{selector} input")
    box.click()
    box.fill(agent_id)
    page.get_by_role("option", name=re.compile(re.escape(agent_id))).click()


def test_share_an_agent_from_my_agents(platform_url: str, gql) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No chromium at {CHROMIUM}: install Debian chromium (make install) or set AGENTGRAPH_CHROMIUM.")
    spec = AgentSpec(name=f"share-ui-{int(time.time())}", description="shared from the UI", system_prompt="p")
    agent_id = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }",
                   y=spec.to_yaml())["data"]["saveAgent"]["id"]
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{platform_url}/ui/")
            page.get_by_role("tab", name="My agents").click(timeout=LONG_MS)
            page.locator("#my-refresh").click()
            _pick(page, "#my-agent", agent_id)
            expect(page.locator("#my-info")).to_contain_text(agent_id, timeout=LONG_MS)
            page.locator("#my-sharing").get_by_text("Sharing").first.click()
            _pick(page, "#my-visibility", "private")
            page.locator("#my-grants textarea").fill("nobody-at-all: viewer")
            page.locator("#my-share-btn").click()
            expect(page.locator("#my-notice")).to_contain_text("not in this tenant", timeout=LONG_MS)
            page.locator("#my-grants textarea").fill("")
            page.locator("#my-share-btn").click()
            expect(page.locator("#my-notice")).to_contain_text("Visible to: private", timeout=LONG_MS)
        finally:
            browser.close()
    sharing = gql("query($a: String!) { agentSharing(agentId: $a) { visibility grants { userId } } }", a=agent_id)
    assert sharing["data"]["agentSharing"] == {"visibility": "private", "grants": []}
