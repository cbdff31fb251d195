"""Graph server restart under light load, on a dedicated stack (the session's graph is not touched):
the API answers 503 with Retry-After while the graph is down (GraphQL and webhooks), recovers by itself
once it is back, and leaves no partial writes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from agentgraph.settings import Settings
from agentgraph.supervisor import Supervisor, free_port, stop_process
from agentgraph.webhooks import signed_headers
from tests.conftest import ADMIN_HEADERS, TEST_ADMIN_KEY, _ThreadedServer

SPEC = "name: Outage agent\ndescription: Survives restarts.\nsystem_prompt: Answer briefly.\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    from agentgraph.stack import graph_service, redis_service
    from api import create_app

    root: Path = tmp_path_factory.mktemp("outage")
    settings = Settings(data_dir=root, graph={"bolt_port": free_port(), "http_port": free_port()},
                        redis={"port": free_port()}, demo={"enabled": False}, llm={"scripted": True},
                        api={"port": free_port()}, auth={"bootstrap_api_key": TEST_ADMIN_KEY, "required": False})
    sup = Supervisor(root / "logs")
    server = None
    try:
        graph = sup.start(graph_service(settings, heap_mb=384))
        sup.start(redis_service(settings))
        server = _ThreadedServer(create_app(settings, with_ui=False), settings.api.port)
        server.start()
        yield settings, sup, graph
    finally:
        if server is not None:
            server.stop()
        sup.stop_all()


def _gql(c: httpx.Client, query: str, **variables) -> httpx.Response:
    return c.post("/graphql", json={"query": query, "variables": variables})


def test_graph_restart_503_retry_after_then_recovery(stack) -> None:
    from agentgraph.stack import graph_service

    settings, sup, graph = stack
    c = httpx.Client(base_url=settings.api.base_url, headers=ADMIN_HEADERS, timeout=60)
    aid = _gql(c, "mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }", y=SPEC) \
        .json()["data"]["saveAgent"]["id"]
    hook = _gql(c, "mutation($a: String!) { createWebhookTrigger(agentId: $a) { url secret } }", a=aid) \
        .json()["data"]["createWebhookTrigger"]

    accepted: list[str] = []  # run ids the API acknowledged (must all be durable)
    answers: list[tuple[float, float, str, int, str | None]] = []  # (sent, answered, kind, status, Retry-After)
    stop = threading.Event()

    def load() -> None:  # light load: ~10 requests/s mixing reads, runs and webhooks
        with httpx.Client(base_url=settings.api.base_url, headers=ADMIN_HEADERS, timeout=60) as lc:
            i = 0
            while not stop.is_set():
                i += 1
                sent = time.monotonic()
                try:
                    if i % 3 == 0:
                        body = json.dumps({"n": i}).encode()
                        r = lc.post(hook["url"], content=body, headers=signed_headers(hook["secret"], body))
                        if r.status_code == 202:
                            accepted.append(r.json()["run_id"])
                        answers.append((sent, time.monotonic(), "webhook", r.status_code, r.headers.get("retry-after")))
                    elif i % 3 == 1:
                        r = _gql(lc, "mutation($a: String!) { runAgent(agentId: $a, input: \"hi\") { id } }", a=aid)
                        if r.status_code == 200 and (r.json().get("data") or {}).get("runAgent"):
                            accepted.append(r.json()["data"]["runAgent"]["id"])
                        answers.append((sent, time.monotonic(), "run", r.status_code, r.headers.get("retry-after")))
                    else:
                        r = _gql(lc, "query { agents { id } }")
                        answers.append((sent, time.monotonic(), "read", r.status_code, r.headers.get("retry-after")))
                except httpx.HTTPError:
                    answers.append((sent, time.monotonic(), "transport", 0, None))
                time.sleep(0.1)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    time.sleep(2)
    down_at = time.monotonic()
    stop_process(graph.process)  # the dedicated stack's ArcadeDB only (started above, by PID)
    sup.running.remove(graph)
    time.sleep(12)
    # While down: an explicit read and an explicit webhook answer 503 + Retry-After with a JSON code.
    r = _gql(c, "query { agents { id } }")
    assert r.status_code == 503 and r.headers["retry-after"].isdigit(), r.text
    assert r.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    body = b'{"x": 1}'
    w = httpx.post(hook["url"], content=body, headers=signed_headers(hook["secret"], body), timeout=60)
    assert w.status_code == 503 and w.headers["retry-after"].isdigit() and w.json()["code"] == "SERVICE_UNAVAILABLE"
    up_at = time.monotonic()
    sup.start(graph_service(settings, heap_mb=384))
    # Recovers by itself (no API restart): reads answer 200 again.
    deadline = time.monotonic() + 60
    while True:
        r = _gql(c, "query { agents { id } }")
        if r.status_code == 200 and "errors" not in r.json():
            break
        assert time.monotonic() < deadline, f"no recovery: {r.status_code} {r.text[:300]}"
        time.sleep(0.5)
    time.sleep(3)
    stop.set()
    worker.join(timeout=60)
    # Requests sent and answered while the graph was down: all 503 with Retry-After (none hung, none 500).
    during = [a for a in answers if a[0] > down_at + 0.5 and a[1] < up_at]
    print(f"outage: {len(during)} load requests answered while down; {len(accepted)} runs acknowledged")
    assert during and all(s == 503 and ra for _, _, _, s, ra in during), sorted({(k, s) for _, _, k, s, _ in during})
    after = [a for a in answers if a[0] > time.monotonic() - 2.5]
    assert after and all(s in (200, 202) for _, _, _, s, _ in after), after
    # No partial writes: every acknowledged run is stored, and every Execution has its version edge.
    r = _gql(c, "query($a: String) { executions(agentId: $a, limit: 1000) { id status } }", a=aid)
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    stored = {e["id"]: e["status"] for e in r.json()["data"]["executions"]}
    assert set(accepted) <= set(stored)
    import asyncio

    from graph import GraphClient

    async def orphans() -> int:
        g = GraphClient(settings.graph_uri, settings.graph.user, settings.graph.password, settings.graph.database,
                        backend="arcadedb")
        try:
            rows = await g.query("MATCH (e:Execution) WHERE NOT (e)-[:OF_VERSION]->() RETURN count(e) AS n")
            trig = await g.query("MATCH (t:AgentTrigger) WHERE NOT ()-[:HAS_TRIGGER]->(t) RETURN count(t) AS n")
            return rows[0]["n"] + trig[0]["n"]
        finally:
            await g.close()

    assert asyncio.run(orphans()) == 0
