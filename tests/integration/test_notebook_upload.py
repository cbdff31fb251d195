"""REST multipart upload of notebook documents against the served platform
(``POST /api/notebooks/{id}/documents``): 202 with receipts, background ingestion,
search; clear 4xx errors and nothing stored when a request is rejected."""

from __future__ import annotations

import time

import httpx
import pytest

from tests._factories import make_docx
from tests.conftest import ADMIN_HEADERS

MANUAL = "# Router manual\n\nHold the reset button for ten seconds to restore the factory settings.\n"


@pytest.fixture()
def http(platform_url: str):
    with httpx.Client(base_url=platform_url, timeout=120, headers=ADMIN_HEADERS) as client:
        yield client


def _notebook(gql, name: str) -> str:
    body = gql("mutation($n: String!) { createNotebook(name: $n) { id } }", n=name)
    assert "errors" not in body, body
    return body["data"]["createNotebook"]["id"]


def _documents(gql, nid: str) -> list[dict]:
    body = gql("query($id: ID!) { notebook(id: $id) { status documents { filename status error chunkCount } } }", id=nid)
    return body["data"]["notebook"]["documents"]


def test_upload_several_files_then_search(http: httpx.Client, gql) -> None:
    nid = _notebook(gql, "REST manuals")
    resp = http.post(f"/api/notebooks/{nid}/documents",
                     files=[("file", ("router.md", MANUAL.encode(), "text/markdown")),
                            ("file", ("onboarding.docx", make_docx("Onboarding", ["New staff get a laptop on day one."]),
                                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document"))],
                     data={"metadata": '{"team": "support"}'})
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["notebook_id"] == nid
    assert sorted((d["filename"], d["status"]) for d in body["documents"]) == [
        ("onboarding.docx", "queued"), ("router.md", "queued")]
    assert all(d["id"].startswith("doc_") and len(d["content_hash"]) == 64 for d in body["documents"])

    deadline = time.monotonic() + 180
    while any(d["status"] in ("queued", "processing") for d in _documents(gql, nid)):
        assert time.monotonic() < deadline, _documents(gql, nid)
        time.sleep(0.3)
    assert {d["filename"]: d["status"] for d in _documents(gql, nid)} == {
        "onboarding.docx": "completed", "router.md": "completed"}
    hits = gql("""query($id: String!) { searchNotebook(notebookId: $id, query: "restore factory settings", topK: 3,
                  filters: {team: "support"}) { filename metadata } }""", id=nid)["data"]["searchNotebook"]
    assert hits[0]["filename"] == "router.md" and hits[0]["metadata"]["team"] == "support"

    again = http.post(f"/api/notebooks/{nid}/documents", files=[("file", ("router.md", MANUAL.encode(), "text/markdown"))])
    assert again.status_code == 202 and again.json()["documents"][0]["status"] == "skipped"
    audit = gql("query($t: String) { auditLog(targetId: $t) { action targetType ok errorCode beforeHash afterHash } }",
                t=nid)["data"]["auditLog"]
    uploads = [e for e in audit if e["action"] == "addDocuments"]
    assert len(uploads) == 2 and all(e["ok"] and e["targetType"] == "Notebook" for e in uploads)
    assert uploads[-1]["beforeHash"] != uploads[-1]["afterHash"]  # the first upload changed the notebook


def test_upload_errors_are_clear_and_store_nothing(http: httpx.Client, gql) -> None:
    nid = _notebook(gql, "REST errors")
    ok_file = ("file", ("ok.md", MANUAL.encode(), "text/markdown"))

    unknown = http.post("/api/notebooks/no-such-notebook/documents", files=[ok_file])
    assert unknown.status_code == 404 and unknown.json()["code"] == "NOT_FOUND"

    unsupported = http.post(f"/api/notebooks/{nid}/documents",
                            files=[ok_file, ("file", ("tool.exe", b"MZ\x90\x00", "application/octet-stream"))])
    assert unsupported.status_code == 415, unsupported.text
    assert "tool.exe" in unsupported.json()["error"]

    big = http.post(f"/api/notebooks/{nid}/documents",
                    files=[ok_file, ("file", ("huge.txt", b"a" * (20 * 1024 * 1024 + 1), "text/plain"))])
    assert big.status_code == 413, big.text
    assert "huge.txt" in big.json()["error"] and "MAX_DOCUMENT_MB" in big.json()["error"]

    none = http.post(f"/api/notebooks/{nid}/documents", data={"metadata": "{}"}, files=[("other", ("x.md", b"x"))])
    assert none.status_code == 400 and "file" in none.json()["error"]

    dupes = http.post(f"/api/notebooks/{nid}/documents", files=[ok_file, ok_file])
    assert dupes.status_code == 400 and "ok.md" in dupes.json()["error"]

    bad_meta = http.post(f"/api/notebooks/{nid}/documents", files=[ok_file], data={"metadata": "[1, 2]"})
    assert bad_meta.status_code == 400 and "JSON object" in bad_meta.json()["error"]

    not_multipart = http.post(f"/api/notebooks/{nid}/documents", json={"file": "x"})
    assert not_multipart.status_code == 400 and "multipart/form-data" in not_multipart.json()["error"]

    assert _documents(gql, nid) == []  # every rejected request left the notebook untouched
    audit = gql("query($t: String) { auditLog(targetId: $t) { action ok errorCode } }", t=nid)["data"]["auditLog"]
    refused = [e for e in audit if e["action"] == "addDocuments"]
    assert len(refused) == 6 and not any(e["ok"] for e in refused) and all(e["errorCode"] for e in refused)
