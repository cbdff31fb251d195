"""Notebooks, threads and long-term memory over GraphQL against the real stack
(ArcadeDB, Redis, DeepLake on disk, MiniLM embeddings, scripted LLM)."""

from __future__ import annotations

import base64
import time

from agentgraph.spec import AgentSpec
from tests._factories import make_docx, make_pdf

NB_FIELDS = """id name status documentCount chunkCount lastSync indexHealth progress statusCounts
  chunking { strategy chunkSize chunkOverlap }
  documents { id filename status error chunkCount format contentHash }"""
CREATE = f"""mutation($n: String!, $d: String!, $c: ChunkingInput) {{ createNotebook(name: $n, description: $d, chunking: $c)
  {{ {NB_FIELDS} }} }}"""
ADD = "mutation($id: String!, $docs: [DocumentInput!]!) { addDocuments(notebookId: $id, documents: $docs) { id filename status } }"
SYNC = "mutation($id: String!, $docs: [DocumentInput!]!) { syncNotebook(notebookId: $id, documents: $docs) { id filename status } }"
GET = f"query($id: ID!) {{ notebook(id: $id) {{ {NB_FIELDS} }} }}"
SEARCH = """query($id: String!, $q: String!, $k: Int!, $f: JSON, $min: Float) {
  searchNotebook(notebookId: $id, query: $q, topK: $k, filters: $f, minSimilarity: $min) {
  chunkId documentId filename chunkIndex text score similarity bm25 vectorRank bm25Rank metadata } }"""
SAVE = """mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id latestVersion } }"""
RUN = """mutation($id: String!, $input: String!, $thread: String) { runAgent(agentId: $id, input: $input, threadId: $thread) {
  id status output error threadId spans { name attributes } } }"""

POLICY = """# Refund policy

Customers can return any product within 30 days of delivery and get a full refund.
Refunds are paid to the original payment method within five business days.

# Shipping

We ship worldwide. Standard shipping takes three to seven business days; express takes one day.
"""
POLICY_V2 = POLICY.replace("30 days", "45 days")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ok(body: dict) -> dict:
    assert "errors" not in body, body
    return body["data"]


def _wait(gql, nid: str, timeout_s: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        nb = _ok(gql(GET, id=nid))["notebook"]
        if nb["status"] != "ingesting" and nb["progress"] == 1.0:
            return nb
        assert time.monotonic() < deadline, nb
        time.sleep(0.3)


def _docs(nb: dict) -> dict[str, dict]:
    return {d["filename"]: d for d in nb["documents"]}


def test_notebook_ingest_search_sync_and_agent_citations(gql) -> None:
    nb = _ok(gql(CREATE, n="Company policies", d="Refund, returns and shipping policies of the shop",
                 c={"strategy": "markdown", "chunkSize": 300, "chunkOverlap": 30}))["createNotebook"]
    assert nb["status"] == "empty" and nb["chunking"] == {"strategy": "markdown", "chunkSize": 300, "chunkOverlap": 30}
    nid = nb["id"]
    docs = [
        {"filename": "policy.md", "text": POLICY, "metadata": {"team": "support"}},
        {"filename": "warranty.pdf", "contentBase64": _b64(make_pdf(["Warranty", "All devices carry a two year warranty."])),
         "metadata": {"team": "legal"}},
        {"filename": "onboarding.docx", "contentBase64": _b64(make_docx("Onboarding", ["New staff get a laptop on day one."]))},
        {"filename": "faq.html", "contentBase64": _b64(b"<html><body><h2>FAQ</h2><p>Gift cards never expire.</p></body></html>")},
        {"filename": "broken.pdf", "contentBase64": _b64(b"%PDF-1.4 this is not really a pdf")},
        {"filename": "empty.txt", "text": ""},
        {"filename": "tool.exe", "contentBase64": _b64(b"MZ\x90\x00binary")},
    ]
    receipts = _ok(gql(ADD, id=nid, docs=docs))["addDocuments"]
    assert {r["status"] for r in receipts} == {"queued"}
    nb = _wait(gql, nid)
    by_name = _docs(nb)
    for good in ("policy.md", "warranty.pdf", "onboarding.docx", "faq.html"):
        assert by_name[good]["status"] == "completed", by_name[good]
        assert by_name[good]["chunkCount"] >= 1
    assert by_name["broken.pdf"]["status"] == "failed" and "PDF" in by_name["broken.pdf"]["error"]
    assert by_name["empty.txt"]["status"] == "failed" and "empty" in by_name["empty.txt"]["error"]
    assert by_name["tool.exe"]["status"] == "failed" and "unsupported" in by_name["tool.exe"]["error"]
    assert nb["status"] == "partial" and nb["indexHealth"] == "ok" and nb["lastSync"]
    assert nb["chunkCount"] == sum(d["chunkCount"] for d in nb["documents"]) and nb["documentCount"] == 7
    assert nb["statusCounts"] == {"completed": 4, "failed": 3}

    hits = _ok(gql(SEARCH, id=nid, q="how many days to get my money back after returning a product", k=3))["searchNotebook"]
    assert hits[0]["filename"] == "policy.md" and "30 days" in hits[0]["text"]
    assert hits[0]["score"] > 0 and hits[0]["similarity"] > 0.3 and hits[0]["metadata"]["section"].startswith("Refund")
    legal = _ok(gql(SEARCH, id=nid, q="warranty", k=5, f={"team": "legal"}))["searchNotebook"]
    assert legal and {h["filename"] for h in legal} == {"warranty.pdf"}
    assert _ok(gql(SEARCH, id=nid, q="warranty", k=5, min=0.99))["searchNotebook"] == []
    bad = gql(SEARCH, id=nid, q="   ", k=3)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # Unchanged -> skipped; modified -> re-ingested (old chunks gone).
    again = _ok(gql(ADD, id=nid, docs=[{"filename": "policy.md", "text": POLICY, "metadata": {"team": "support"}}]))
    assert again["addDocuments"][0]["status"] == "skipped"
    _wait(gql, nid)
    old_hash = by_name["policy.md"]["contentHash"]
    _ok(gql(ADD, id=nid, docs=[{"filename": "policy.md", "text": POLICY_V2, "metadata": {"team": "support"}}]))
    nb = _wait(gql, nid)
    assert _docs(nb)["policy.md"]["contentHash"] != old_hash
    hits = _ok(gql(SEARCH, id=nid, q="refund within days", k=10))["searchNotebook"]
    texts = " ".join(h["text"] for h in hits if h["filename"] == "policy.md")
    assert "45 days" in texts and "30 days" not in texts

    # Sync to a subset: the others are deleted from the index, no orphan chunks.
    synced = _ok(gql(SYNC, id=nid, docs=[{"filename": "policy.md", "text": POLICY_V2, "metadata": {"team": "support"}},
                                         docs[1]]))["syncNotebook"]
    assert {r["filename"]: r["status"] for r in synced} == {"policy.md": "skipped", "warranty.pdf": "skipped"}
    nb = _wait(gql, nid)
    assert set(_docs(nb)) == {"policy.md", "warranty.pdf"} and nb["status"] == "completed"
    assert nb["chunkCount"] == sum(d["chunkCount"] for d in nb["documents"])
    gone = _ok(gql(SEARCH, id=nid, q="laptop on day one gift cards", k=10))["searchNotebook"]
    assert {h["filename"] for h in gone} <= {"policy.md", "warranty.pdf"}

    # A Q&A agent with the notebook answers with a citation.
    spec = AgentSpec.parse({"name": "Policy helper", "description": "Answers questions about company policies.",
                            "system_prompt": "You answer questions about our policies.", "agent_type": "qa",
                            "notebooks": [{"notebook_id": nid, "top_k": 3}]})
    agent = _ok(gql(SAVE, y=spec.to_yaml()))["saveAgent"]
    run = _ok(gql(RUN, id=agent["id"], input="What is the refund policy for returning a product?", thread=None))["runAgent"]
    assert run["status"] == "succeeded", run
    assert "[policy.md, chunk" in run["output"] and "45 days" in run["output"]
    tool = next(s for s in run["spans"] if s["name"] == "tool.call")
    assert tool["attributes"]["tool.name"] == "search_company_policies"

    missing = AgentSpec.parse({**spec.model_dump(mode="json"), "notebooks": [{"notebook_id": "nope-123"}]})
    err = gql(SAVE, y=missing.to_yaml())
    assert err["errors"][0]["extensions"]["code"] == "NOT_FOUND" and "nope-123" in err["errors"][0]["message"]


def test_threads_list_history_delete(gql, services) -> None:
    import redis

    spec = AgentSpec.parse({"name": "Chatty", "description": "Chats.", "system_prompt": "Be brief.",
                            "memory": {"thread_ttl_min": 2}})
    agent = _ok(gql(SAVE, y=spec.to_yaml()))["saveAgent"]
    first = _ok(gql(RUN, id=agent["id"], input="My name is Grace Hopper", thread=None))["runAgent"]
    rds = redis.Redis.from_url(services.redis_url)
    keys = list(rds.scan_iter(match=f"thread:{{default:{agent['id']}:{first['threadId']}}}:*"))
    assert keys and all(0 < rds.ttl(k) <= 120 for k in keys)  # the agent's TTL, not the platform's 7 days
    rds.close()
    _ok(gql(RUN, id=agent["id"], input="What is my name?", thread=first["threadId"]))
    threads = _ok(gql("query($a: String) { threads(agentId: $a) { threadId agentId runs firstInput } }", a=agent["id"]))
    assert threads["threads"] == [{"threadId": first["threadId"], "agentId": agent["id"], "runs": 2,
                                   "firstInput": "My name is Grace Hopper"}]
    hist = _ok(gql("query($t: String!) { thread(id: $t) { thread { runs } messages { role content } } }",
                   t=first["threadId"]))["thread"]
    assert [m["role"] for m in hist["messages"]] == ["user", "assistant", "user", "assistant"]
    assert hist["messages"][0]["content"] == "My name is Grace Hopper"
    assert _ok(gql("mutation($t: String!) { deleteThread(id: $t) }", t=first["threadId"]))["deleteThread"] is True
    assert _ok(gql("query($a: String) { threads(agentId: $a) { threadId } }", a=agent["id"]))["threads"] == []
    gone = gql("query($t: String!) { thread(id: $t) { messages { role } } }", t=first["threadId"])
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    # The thread's checkpoint is gone: a new run on the same id starts fresh.
    again = _ok(gql(RUN, id=agent["id"], input="Hello again", thread=first["threadId"]))["runAgent"]
    assert "Grace Hopper" not in again["output"]


def test_long_term_memory_tools_and_summaries(gql) -> None:
    spec = AgentSpec.parse({"name": "Assistant with memory", "description": "Remembers user preferences.",
                            "system_prompt": "You help the user.",
                            "memory": {"long_term": True, "strategy": "both"}})
    agent = _ok(gql(SAVE, y=spec.to_yaml()))["saveAgent"]
    run = _ok(gql(RUN, id=agent["id"], input='Remember this fact: "I prefer answers in French"', thread=None))["runAgent"]
    assert run["status"] == "succeeded", run
    assert any(s["name"] == "tool.call" and s["attributes"]["tool.name"] == "remember" for s in run["spans"])
    mems = _ok(gql("query($a: String!, $q: String) { memories(agentId: $a, query: $q) { key text kind score } }",
                   a=agent["id"], q="which language does the user like"))["memories"]
    facts = [m for m in mems if m["kind"] == "fact"]
    assert facts and facts[0]["text"] == "I prefer answers in French" and facts[0]["score"] > 0.2
    summaries = [m for m in mems if m["kind"] == "thread_summary"]
    assert summaries and summaries[0]["key"] == f"thread:{run['threadId']}"
    assert "Remember this fact" in summaries[0]["text"]

    later = _ok(gql(RUN, id=agent["id"], input="Recall my preferences", thread=None))["runAgent"]
    assert "I prefer answers in French" in later["output"]
    key = facts[0]["key"]
    assert _ok(gql("mutation($a: String!, $k: String!) { forgetMemory(agentId: $a, key: $k) }", a=agent["id"], k=key))
    err = gql("mutation($a: String!, $k: String!) { forgetMemory(agentId: $a, key: $k) }", a=agent["id"], k=key)
    assert err["errors"][0]["extensions"]["code"] == "MEMORY_NOT_FOUND" and "search" in err["errors"][0]["message"]


def test_long_thread_is_summarised_before_overflow(gql) -> None:
    spec = AgentSpec.parse({"name": "Long talker", "description": "Long threads.", "system_prompt": "Be brief.",
                            "memory": {"context_window_tokens": 600, "summarize_at": 0.5, "keep_recent_messages": 2}})
    agent = _ok(gql(SAVE, y=spec.to_yaml()))["saveAgent"]
    thread = None
    for i in range(4):
        text = f"Turn {i}: " + ("the quarterly report needs more detail on revenue and costs. " * 8)
        run = _ok(gql(RUN, id=agent["id"], input=text, thread=thread))["runAgent"]
        assert run["status"] == "succeeded", run
        thread = run["threadId"]
    assert any(s["name"] == "memory.summarize" for s in run["spans"])
    hist = _ok(gql("query($t: String!) { thread(id: $t) { messages { role content } } }", t=thread))["thread"]
    assert hist["messages"][0]["role"] == "system"
    assert hist["messages"][0]["content"].startswith("Summary of the earlier conversation:")
    assert len(hist["messages"]) <= 6  # summary + kept recent + the last turn


def test_builder_drafts_cover_notebooks_and_memory(gql) -> None:
    nb = _ok(gql(CREATE, n="Travel expense rules", d="How employees claim hotel, train and flight expenses", c=None))
    nid = nb["createNotebook"]["id"]
    build = """mutation($i: String!) { buildAgent(intent: $i) { specYaml message } }"""
    b = _ok(gql(build, i="An assistant that answers employee questions about claiming hotel and flight expenses"))
    spec = AgentSpec.from_yaml(b["buildAgent"]["specYaml"])
    assert nid in spec.notebook_ids and spec.notebooks[0].reason and "Travel expense rules" in b["buildAgent"]["message"]
    assert spec.memory.long_term is False
    b2 = _ok(gql(build, i="A CRM helper that remembers my preferences between conversations"))
    spec2 = AgentSpec.from_yaml(b2["buildAgent"]["specYaml"])
    assert nid not in spec2.notebook_ids
    assert spec2.memory.long_term is True and spec2.memory.strategy.value == "both"
