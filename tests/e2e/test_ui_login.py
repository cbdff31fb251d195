"""UI sign-in in a real browser against a platform that requires authentication (issue 3).

Opening /ui/ without a session lands on the sign-in form; a wrong key is refused; the
admin key signs in, and the UI's GraphQL calls then run as that user (the Agents tab
lists an agent saved through the API with the same key).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import playwright.sync_api as playwright_sync
import pytest

from agentgraph.spec import AgentSpec
from tests.conftest import ADMIN_HEADERS, TEST_ADMIN_KEY
from tests.e2e.test_ui import CHROMIUM, CHROMIUM_ARGS, LONG_MS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def test_sign_in_and_use_the_ui_as_that_user(secured_url: str) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"No chromium at {CHROMIUM}: install Debian chromium (make install) or set AGENTGRAPH_CHROMIUM.")
    name = f"login-check-{int(time.time())}"
    spec = AgentSpec(name=name, description="seen through the signed-in UI", system_prompt="p")
    resp = httpx.post(f"{secured_url}/graphql", headers=ADMIN_HEADERS, timeout=60, json={
        "query": "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }",
        "variables": {"y": spec.to_yaml()}})
    agent_id = resp.json()["data"]["saveAgent"]["id"]
    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(f"{secured_url}/ui/")
            expect(page).to_have_url(re.compile(r"/login\?next=/ui/"))
            page.locator("#api_key").fill("agk_wrong-key")
            page.locator("#login-btn").click()
            expect(page.locator("#login-error")).to_contain_text("not valid")
            page.locator("#api_key").fill(TEST_ADMIN_KEY)
            page.locator("#login-btn").click()
            page.get_by_role("tab", name="Agents", exact=True).click(timeout=LONG_MS)
            page.locator("#agents-refresh").click()
            expect(page.locator("#agents-table")).to_contain_text(agent_id, timeout=LONG_MS)
        finally:
            browser.close()
