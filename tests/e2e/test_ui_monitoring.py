"""Monitoring tab in a real browser: plots and totals load, a run is picked and analysed with the (scripted) LLM."""

from __future__ import annotations

import playwright.sync_api as playwright_sync
import pytest

from tests.e2e.test_ui import CHROMIUM, CHROMIUM_ARGS, LONG_MS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

SPEC = "name: Monitored in browser\ndescription: For the Monitoring tab.\nsystem_prompt: Answer briefly.\n"


def test_monitoring_tab_plots_and_analyze(platform_url: str, gql) -> None:
    aid = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=SPEC)["data"]["saveAgent"]["id"]
    body = gql("mutation($a: String!) { runAgent(agentId: $a, input: \"hello\") { id status } }", a=aid)
    assert "errors" not in body, body
    run = body["data"]["runAgent"]
    assert run["status"] == "succeeded"

    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.goto(f"{platform_url}/ui/")
        page.get_by_role("tab", name="Monitoring").click(timeout=LONG_MS)
        expect(page.locator("#monitoring-summary")).to_contain_text("runs since", timeout=LONG_MS)
        expect(page.locator("#monitoring-summary")).to_contain_text("succeeded")
        expect(page.locator("#monitoring-recent")).to_contain_text(run["id"], timeout=LONG_MS)
        for plot in ("#monitoring-runs", "#monitoring-cost", "#monitoring-latency", "#monitoring-agents"):
            expect(page.locator(plot)).to_be_visible()
        expect(page.locator("#monitoring-notice")).not_to_contain_text("Error")
        page.locator("#monitoring-run-id textarea, #monitoring-run-id input").first.fill(run["id"])
        page.locator("#monitoring-analyze").click()
        expect(page.locator("#monitoring-notes")).to_contain_text(f"Root-cause notes for {run['id']}",
                                                                  timeout=LONG_MS)
        browser.close()
