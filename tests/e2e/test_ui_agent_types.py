"""Every kind of agent built from the UI and run, in a real browser (issue 7's "Done when").

Each test pastes an example from ``docs/examples/`` into the Builder's YAML editor, clicks
Save & publish, then runs it in the Test run tab and checks output, status, execution chain
and the issue 7 pieces: the producer's artifact link (downloaded over HTTP: a real PDF), the
workflow's steps, the team's child runs, an external agent against its local platform stub
(plus "Test connection"), and the sandbox (a counted copy of the demo CRM receives no request)
with "Compare versions (sandbox)". One chromium for the module, one page per test; the served
platform's scripted LLM answers (``tests/conftest.py``).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator

import playwright.sync_api as playwright_sync
import pytest
import uvicorn
from starlette.requests import Request

from agentgraph.demo.crm import OPENAPI_PATH, create_crm_app
from agentgraph.supervisor import free_port
from tests.e2e._browser import DOCS, LONG_MS, choose_agent, chromium
from tests.external_stubs import SECRETS

pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
expect = playwright_sync.expect
EXAMPLES = DOCS / "examples"


# --- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_sync.Browser]:
    with chromium() as b:
        yield b


@pytest.fixture()
def page(browser, platform_url: str) -> Iterator[playwright_sync.Page]:
    """A fresh page on /ui (own Gradio session), failing the test on any page error."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(f"{platform_url}/ui/")
    pg.get_by_role("tab", name="Builder").wait_for(timeout=LONG_MS)
    try:
        yield pg
    finally:
        context.close()
    assert not errors, errors


class _Thread(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # pytest owns signals
        pass


@pytest.fixture(scope="module")
def counted_crm(gql) -> Iterator[tuple[str, list[str]]]:
    """The demo CRM app on its own port, counting every request; registered as a tool (deleted afterwards).

    Yields ``(tool_id, requests)`` where ``requests`` grows by ``"METHOD /path"`` per request received.
    """
    requests: list[str] = []
    crm = create_crm_app()

    @crm.middleware("http")
    async def count(request: Request, call_next):
        requests.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    port = free_port()
    server = _Thread(uvicorn.Config(crm, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "counted CRM did not start"
        time.sleep(0.05)
    tool_id = None
    try:
        reg = gql("mutation($o: String!, $u: String!, $n: String) { registerTool(openapi: $o, baseUrl: $u, "
                  "name: $n) { id } }", o=OPENAPI_PATH.read_text(), u=f"http://127.0.0.1:{port}",
                  n=f"Counted CRM {uuid.uuid4().hex[:6]}")
        assert "errors" not in reg, reg
        tool_id = reg["data"]["registerTool"]["id"]
        yield tool_id, requests
    finally:
        if tool_id:  # keep the default tenant's tool suggestions as other tests expect them
            gql("mutation($id: ID!) { deleteTool(id: $id) }", id=tool_id)
        server.should_exit = True
        thread.join(timeout=30)


# --- UI steps --------------------------------------------------------------------------------------------
def save_from_yaml(page, spec_yaml: str) -> str:
    """Builder: New draft, paste ``spec_yaml`` into the YAML editor, Save & publish; returns the agent id."""
    page.get_by_role("tab", name="Builder").click()
    page.locator("#new-draft-btn").click()
    notice = page.locator("#builder-notice")
    expect(notice).to_contain_text("New draft")
    page.locator("#spec-yaml .cm-content").fill(spec_yaml)
    page.locator("#save-publish-btn").click()
    try:
        expect(notice).to_contain_text("Saved agent", timeout=LONG_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nbuilder notice: {notice.inner_text()!r}") from exc
    expect(notice).to_contain_text("published")
    return re.search(r"Saved agent (\S+) \(version", notice.inner_text()).group(1)


def run_in_ui(page, agent_id: str, text: str, sandbox: bool = False) -> str:
    """Test run: choose the agent, type ``text``, (un)tick Sandbox, Run; waits for the new run, returns its status."""
    page.get_by_role("tab", name="Test run").click()
    choose_agent(page, agent_id)
    page.locator("#run-input textarea").fill(text)
    box = page.locator("#run-sandbox input[type=checkbox]")
    if box.is_checked() != sandbox:
        box.click()
    status = page.locator("#run-status")
    before = re.search(r"run (run_\w+)", status.inner_text())
    page.locator("#run-thread textarea").fill("")  # a new thread per run
    page.locator("#run-btn").click()
    try:
        if before:  # the previous run's line stays (under a progress timer) until the new run is shown
            expect(status).not_to_contain_text(before.group(1), timeout=LONG_MS)
        expect(status).to_contain_text(re.compile(r"(succeeded|failed) · version"), timeout=LONG_MS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nrun status: {status.inner_text()!r}\n"
                             f"run notice: {page.locator('#run-notice').inner_text()!r}") from exc
    return status.inner_text()


def example(name: str) -> str:
    return (EXAMPLES / name).read_text()


# --- tests -----------------------------------------------------------------------------------------------
def test_producer_example_artifact_link_downloads_a_pdf(page, platform_url: str) -> None:
    aid = save_from_yaml(page, example("producer-pipeline-report.yaml"))
    status = run_in_ui(page, aid, 'Create the pipeline report "Morning Pipeline"')
    assert "succeeded" in status, status
    chain = page.locator("#chain-table")
    expect(chain).to_contain_text("create_artifact")
    links = page.locator("#run-artifacts a")
    expect(links.first).to_contain_text(".pdf")
    expect(page.locator("#run-artifacts")).to_contain_text("pdf,")
    href = links.first.get_attribute("href")
    assert href and "/api/artifacts/" in href, href
    # The browser's own request context (its cookies), as a click on the link would send.
    resp = page.request.get(href if href.startswith("http") else platform_url + href)
    assert resp.status == 200, resp.text()
    body = resp.body()
    assert body.startswith(b"%PDF-") and len(body) > 500
    assert "pdf" in resp.headers.get("content-type", "")
    # An id that does not exist is a 404, not a file.
    missing = page.request.get(f"{platform_url}/api/artifacts/no-such-artifact")
    assert missing.status == 404


def test_workflow_example_chain_shows_the_steps(page) -> None:
    aid = save_from_yaml(page, example("workflow-ticket-triage.yaml"))
    status = run_in_ui(page, aid, "I was charged twice on my last invoice")
    assert "succeeded" in status, status
    chain = page.locator("#chain-table")
    expect(chain).to_contain_text("workflow.step")
    expect(chain).to_contain_text("step=triage")
    expect(chain).to_contain_text("step=billing")  # the billing branch was taken...
    expect(chain).not_to_contain_text("step=tech")  # ...and the tech one was not
    expect(page.locator("#run-output")).not_to_have_text("")


def test_team_example_shows_member_runs(page) -> None:
    tech = save_from_yaml(page, example("team-member-tech.yaml"))
    editor = save_from_yaml(page, example("team-member-editor.yaml"))
    assert tech != editor
    team_yaml = example("team-sequential-reply.yaml").replace("members: [tech-agent, editor-agent]",
                                                              f"members: [{tech}, {editor}]")
    team = save_from_yaml(page, team_yaml)
    status = run_in_ui(page, team, "My app crashes when I open settings")
    assert "succeeded" in status, status
    chain = page.locator("#chain-table")
    expect(chain).to_contain_text(f"member={tech}")
    expect(chain).to_contain_text(f"member={editor}")
    children = page.locator("#run-children")
    expect(children).to_contain_text(tech)
    expect(children).to_contain_text(editor)
    rows = children.locator("[role=row].virtual-row")
    expect(rows).to_have_count(2)  # one child run per member, nothing else
    texts = rows.all_inner_texts()
    assert tech in texts[0] and editor in texts[1], texts  # sequential: in member order
    assert all("succeeded" in t for t in texts), texts
    child_id = re.search(r"run_[0-9a-f]{12}", texts[0]).group(0)
    # Selecting a member's row shows that child run (its own status line and chain).
    cell = children.get_by_test_id("cell-0-0")  # Gradio's grid cell (row 0, column "run id")
    expect(cell).to_have_text(child_id)
    cell.click()
    expect(page.locator("#run-status")).to_contain_text(child_id)
    expect(page.locator("#chain-table")).to_contain_text("agent.run")


def test_external_example_runs_against_the_stub_and_tests_connection(page, stubs, gql) -> None:
    saved = gql('mutation($v: String!) { setAgentSecret(name: "support-api-token", value: $v) }', v=SECRETS["rest"])
    assert "errors" not in saved, saved
    spec = example("external-rest.yaml").replace("https://agents.example.com", stubs.origin["rest"])
    assert stubs.origin["rest"] in spec
    aid = save_from_yaml(page, spec)
    before = len(stubs.calls["rest"])
    status = run_in_ui(page, aid, "Where is my order 42?")
    assert "succeeded" in status, status
    expect(page.locator("#run-output")).to_contain_text("REST agent got: Where is my order 42?")
    expect(page.locator("#chain-table")).to_contain_text("external.call")
    posted = [c for c in stubs.calls["rest"][before:] if c["path"] == "/v1/answer"]
    assert len(posted) == 1 and posted[0]["body"]["question"] == "Where is my order 42?"

    page.locator("#external-section").get_by_text("External agent: test connection").click()
    page.locator("#ext-test-btn").click()
    health = page.locator("#ext-health")
    expect(health).to_contain_text("Test connection: ok", timeout=LONG_MS)
    expect(health).to_contain_text("Stored health: up")
    expect(health).to_contain_text(" ms")
    expect(page.locator("#ext-notice")).to_contain_text("ok")


def test_external_test_connection_of_a_non_external_agent_says_why(page) -> None:
    aid = save_from_yaml(page, example("team-member-billing.yaml"))
    page.get_by_role("tab", name="Test run").click()
    choose_agent(page, aid)
    page.locator("#external-section").get_by_text("External agent: test connection").click()
    page.locator("#ext-test-btn").click()
    notice = page.locator("#ext-notice")
    expect(notice).to_contain_text("Error", timeout=LONG_MS)
    expect(notice).to_contain_text("external")
    expect(page.locator("#ext-health")).to_have_text("")


def test_sandbox_run_reaches_no_crm_and_versions_compare(page, counted_crm) -> None:
    tool_id, requests = counted_crm
    spec = example("guardrails-sandbox-crm.yaml").replace("tool_id: demo-crm", f"tool_id: {tool_id}")
    aid = save_from_yaml(page, spec)
    # A real run first: it reaches the CRM (so the counter works) and records the answers.
    status = run_in_ui(page, aid, "Find lead Ada Lovelace")
    assert "succeeded" in status and "sandbox" not in status, status
    real_output = page.locator("#run-output").inner_text()
    reached = len(requests)
    assert reached > 0, "the real run did not reach the counted CRM"
    # The same input in the sandbox: answered from the recording, the CRM receives nothing.
    status = run_in_ui(page, aid, "Find lead Ada Lovelace", sandbox=True)
    assert "succeeded" in status and "sandbox" in status, status
    expect(page.locator("#run-output")).to_have_text(real_output)
    expect(page.locator("#chain-table")).to_contain_text("tool.call")
    assert len(requests) == reached, requests[reached:]

    # Version 2 (an edited prompt), then "Compare versions (sandbox)" of 1 and 2.
    page.get_by_role("tab", name="Builder").click()
    v2 = spec.replace("in two sentences", "in one sentence")
    assert v2 != spec
    page.locator("#spec-yaml .cm-content").fill(v2)
    page.locator("#save-publish-btn").click()
    expect(page.locator("#builder-notice")).to_contain_text(f"Saved agent {aid} (version 2, published)",
                                                            timeout=LONG_MS)
    page.get_by_role("tab", name="Test run").click()
    page.locator("#sandbox-compare").get_by_text("Compare versions (sandbox)").click()
    page.locator("#sandbox-inputs textarea").fill("Find lead Ada Lovelace\nFind lead Grace Hopper")
    page.locator("#sandbox-compare-btn").click()
    table = page.locator("#sandbox-table")
    expect(table).to_contain_text("Find lead Grace Hopper", timeout=LONG_MS)
    expect(table).to_contain_text("Find lead Ada Lovelace")
    expect(table.locator("[role=row].virtual-row")).to_have_count(2)
    diff = page.locator("#sandbox-diff")
    expect(diff).to_contain_text("# input: Find lead Ada Lovelace")
    expect(page.locator("#sandbox-notice")).to_have_text("")
    assert len(requests) == reached, requests[reached:]  # the comparison ran in the sandbox too


def test_child_rows_and_health_lines_format() -> None:
    """The pure formatting behind the two new Test run pieces (no browser)."""
    from api._ui_external import children_frame, health_markdown

    frame = children_frame([{"id": "run_a", "agentId": "desk", "status": "succeeded", "latencyMs": 12.6,
                             "output": "x" * 200, "children": [{"id": "run_b", "agentId": "billing",
                                                                "status": "failed", "latencyMs": None,
                                                                "output": None, "error": "boom"}]}])
    assert frame["run id"].tolist() == ["run_a", "run_b"]
    assert frame["agent"].tolist() == ["desk", "\u00a0\u00a0\u00a0\u00a0\u2514 billing"]  # indented under its parent
    assert frame["latency ms"].tolist()[0] == 13 and len(frame["output"][0]) == 80 and frame["output"][1] == "boom"
    assert children_frame([]).empty
    text = health_markdown({"ok": False, "latencyMs": 5012.0, "checkedAt": "2026-11-21T18:00:00Z",
                            "detail": "HTTP 503"}, {"ok": None})
    assert text.startswith("**Test connection:** failed — **down** · 5012 ms") and "HTTP 503" in text
    assert "**Stored health:** _never checked_" in text
