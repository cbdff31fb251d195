"""Notebooks and Threads tabs in a real browser: a notebook ingested over GraphQL is listed and searchable."""

from __future__ import annotations

import time

import playwright.sync_api as playwright_sync
import pytest

from tests.e2e.test_ui import CHROMIUM, CHROMIUM_ARGS, LONG_MS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

POLICY = ("# Refund policy\n\nCustomers may return hardware within 30 days for a full refund. "
          "Software licences are refundable within 14 days of purchase.\n")


def test_notebook_listed_and_searched_in_the_ui(platform_url: str, gql) -> None:
    nb = gql("mutation { createNotebook(name: \"UI policies\", description: \"refunds\") { id } }")["data"]["createNotebook"]
    added = gql("mutation($id: String!, $d: [DocumentInput!]!) { addDocuments(notebookId: $id, documents: $d) { filename } }",
                id=nb["id"], d=[{"filename": "refunds.md", "text": POLICY}])
    assert "errors" not in added, added
    deadline = time.monotonic() + 180
    while gql("query($id: ID!) { notebook(id: $id) { status } }", id=nb["id"])["data"]["notebook"]["status"] != "completed":
        assert time.monotonic() < deadline, "ingestion did not complete"
        time.sleep(0.5)

    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{platform_url}/ui/")
        page.get_by_role("tab", name="Notebooks").click(timeout=LONG_MS)
        expect(page.locator("#notebooks-table")).to_contain_text("UI policies", timeout=LONG_MS)
        page.locator("#notebook-pick input").click()
        page.get_by_role("option", name="UI policies", exact=False).first.click()
        page.locator("#notebook-query textarea, #notebook-query input").first.fill("how long can hardware be returned")
        page.locator("#notebook-search").click()
        expect(page.locator("#notebook-hits")).to_contain_text("refunds.md", timeout=LONG_MS)
        page.get_by_role("tab", name="Threads").click()
        expect(page.locator("#threads-table")).to_be_visible()
        browser.close()
