"""Marketplace tab in a real browser: search -> detail -> clone, then the clone's versions in My agents."""

from __future__ import annotations

import uuid

import playwright.sync_api as playwright_sync
import pytest

from agentgraph.spec import AgentSpec
from tests.e2e.test_ui import CHROMIUM, CHROMIUM_ARGS, LONG_MS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")


def test_marketplace_search_detail_clone(platform_url: str, gql) -> None:
    word = f"zebra{uuid.uuid4().hex[:6]}"
    spec = AgentSpec(name=f"Market {word}", description=f"Finds {word} leads for the marketplace test",
                     system_prompt="Be brief.").to_yaml()
    saved = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=spec)
    assert "errors" not in saved, saved
    agent_id = saved["data"]["saveAgent"]["id"]
    rated = gql("mutation($a: String!) { rateAgent(agentId: $a, stars: 4, review: \"handy\") { ratingCount } }",
                a=agent_id)
    assert "errors" not in rated, rated

    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{platform_url}/ui/")
        page.get_by_role("tab", name="Marketplace").click(timeout=LONG_MS)
        page.locator("#mk-search textarea, #mk-search input").first.fill(word.upper())
        page.locator("#mk-search-btn").click()
        expect(page.locator("#mk-cards")).to_contain_text(f"Market {word}", timeout=LONG_MS)
        expect(page.locator("#mk-notice")).to_contain_text("1 agent(s)")
        # The first result is selected: its detail shows, with the review.
        expect(page.locator("#mk-detail")).to_contain_text(agent_id, timeout=LONG_MS)
        expect(page.locator("#mk-detail")).to_contain_text("handy")
        page.locator("#mk-clone-btn").click()
        expect(page.locator("#mk-notice")).to_contain_text("Cloned into", timeout=LONG_MS)
        clone_id = page.locator("#mk-notice").inner_text().split("Cloned into ")[1].split(" ")[0]
        browser.close()

    clone = gql("query($id: ID!) { agent(id: $id) { name derivedFrom status } }", id=clone_id)["data"]["agent"]
    assert clone == {"name": f"Market {word} (copy)", "derivedFrom": agent_id, "status": "draft"}
