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


WARRANTY = "# Warranty\n\nEvery laptop carries a two year warranty against manufacturing defects.\n"
SAVE = "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }"
RUN = "mutation($id: String!, $input: String!) { runAgent(agentId: $id, input: $input) { status threadId } }"


def test_upload_search_and_delete_a_thread_in_the_ui(platform_url: str, gql, tmp_path) -> None:
    from agentgraph.spec import AgentSpec

    nid = gql("mutation { createNotebook(name: \"UI uploads\") { id } }")["data"]["createNotebook"]["id"]
    agent = gql(SAVE, y=AgentSpec.parse({"name": "UI chatter", "description": "Chats.",
                                         "system_prompt": "Be brief."}).to_yaml())["data"]["saveAgent"]
    run = gql(RUN, id=agent["id"], input="Remember the blue folder")["data"]["runAgent"]
    assert run["status"] == "succeeded", run
    thread_id = run["threadId"]
    upload = tmp_path / "warranty.md"
    upload.write_text(WARRANTY)

    expect = playwright_sync.expect
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{platform_url}/ui/")
        page.get_by_role("tab", name="Notebooks").click(timeout=LONG_MS)
        expect(page.locator("#notebooks-table")).to_contain_text("UI uploads", timeout=LONG_MS)
        page.locator("#notebook-pick input").click()
        page.get_by_role("option", name=f"UI uploads ({nid})").click()
        page.locator("#notebook-files input[type=file]").set_input_files(str(upload))
        expect(page.locator("#notebook-files")).to_contain_text("warranty.md", timeout=LONG_MS)
        page.locator("#notebook-add").click()
        expect(page.locator("#notebooks-notice")).to_contain_text("warranty.md: queued", timeout=LONG_MS)
        # The progress timer refreshes the receipts until ingestion is done.
        expect(page.locator("#notebook-documents")).to_contain_text("completed", timeout=LONG_MS)
        page.locator("#notebook-query textarea, #notebook-query input").first.fill("how long is the laptop warranty")
        page.locator("#notebook-search").click()
        expect(page.locator("#notebook-hits")).to_contain_text("warranty.md", timeout=LONG_MS)
        expect(page.locator("#notebook-hits")).to_contain_text("two year warranty")

        page.get_by_role("tab", name="Threads").click()
        page.locator("#threads-agent textarea, #threads-agent input").first.fill(agent["id"])
        page.locator("#threads-refresh").click()
        expect(page.locator("#threads-table")).to_contain_text(thread_id, timeout=LONG_MS)
        page.locator("#thread-pick textarea, #thread-pick input").first.fill(thread_id)
        page.locator("#thread-delete").click()
        expect(page.locator("#threads-notice")).to_contain_text(f"Deleted thread {thread_id}", timeout=LONG_MS)
        expect(page.locator("#threads-table")).not_to_contain_text(thread_id)
        browser.close()

    docs = gql("query($id: ID!) { notebook(id: $id) { documents { filename status } } }", id=nid)
    assert docs["data"]["notebook"]["documents"] == [{"filename": "warranty.md", "status": "completed"}]
    threads = gql("query($a: String) { threads(agentId: $a) { threadId } }", a=agent["id"])["data"]["threads"]
    assert threads == []
