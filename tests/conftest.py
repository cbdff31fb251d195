"""Shared fixtures.

Integration tests start the *real* embedded services (ArcadeDB with Bolt, Debian
``redis-server``, the demo CRM) once per session on free loopback ports with a
temporary data directory, through the same supervisor and service specs that
``agentgraph up`` uses. Real model calls are forbidden unless a test is marked
``local_llm``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agentgraph.settings import Settings  # noqa: E402
from agentgraph.supervisor import Supervisor, free_port  # noqa: E402

#: Admin API key of the session's platform (ensured at start through ``auth.bootstrap_api_key``).
TEST_ADMIN_KEY = "agk_test-admin-key-0123456789abcdefghijklmnopqrstuv"
#: Headers that authenticate as the default tenant's admin.
ADMIN_HEADERS = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data directory of the session's embedded stack."""
    return tmp_path_factory.mktemp("agentgraph-data")


@pytest.fixture(scope="session")
def services(stack_dir: Path) -> Iterator[Settings]:
    """Start graph, Redis and the demo CRM for real; yield Settings pointing at them."""
    from agentgraph.stack import demo_crm_service, graph_service, redis_service

    settings = Settings(
        data_dir=stack_dir,
        graph={"bolt_port": free_port(), "http_port": free_port()},
        redis={"port": free_port()},
        demo={"port": free_port()},
        llm={"scripted": True},
        api={"port": free_port()},
        auth={"bootstrap_api_key": TEST_ADMIN_KEY, "required": False},
    )
    sup = Supervisor(stack_dir / "logs")
    try:
        sup.start(graph_service(settings, heap_mb=512))
        sup.start(redis_service(settings))
        sup.start(demo_crm_service(settings))
        yield settings
    finally:
        sup.stop_all()


class _ThreadedServer:
    """uvicorn in a background thread (signal handlers left to pytest)."""

    def __init__(self, app, port: int) -> None:
        import threading

        import uvicorn

        class _Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:  # pytest owns signals
                pass

        self.server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout_s: float = 120.0) -> None:
        import time

        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("platform server did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def platform_url(services: Settings) -> Iterator[str]:
    """The real platform (GraphQL, MCP tools, UI) on a free port, scripted LLM, demo CRM registered."""
    from api import create_app

    server = _ThreadedServer(create_app(services), services.api.port)
    server.start()
    try:
        yield services.api.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def secured_url(services: Settings) -> Iterator[str]:
    """A second platform with authentication *required* (API keys, JWTs, UI login), sharing the services."""
    from api import create_app

    settings = services.model_copy(update={
        "api": services.api.model_copy(update={"port": free_port()}),
        "auth": services.auth.model_copy(update={"required": True}),
        "demo": services.demo.model_copy(update={"register_on_start": False}),
    })
    server = _ThreadedServer(create_app(settings), settings.api.port)
    server.start()
    try:
        yield settings.api.base_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def gql(platform_url: str):
    """``gql(query, **variables) -> dict`` posting to the platform's /graphql; returns the full JSON body."""
    import httpx

    client = httpx.Client(base_url=platform_url, timeout=120, headers=ADMIN_HEADERS)

    def call(query: str, **variables):
        resp = client.post("/graphql", json={"query": query, "variables": variables})
        assert resp.status_code == 200, resp.text
        return resp.json()

    yield call
    client.close()


@pytest.fixture(scope="module")
def stubs():
    """Stubs of the external agent platforms (``tests/external_stubs.py``) on 127.0.0.1, one server per module;
    yields their base URLs by platform."""
    from tests.external_stubs import StubServer

    server = StubServer()
    try:
        yield server.start()
    finally:
        server.stop()
