"""The embedded stack for real: ArcadeDB over Bolt, redis-server, the demo CRM, and
``agentgraph up`` as a user runs it (a subprocess, stopped with Ctrl-C)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from agentgraph.cli._up import READY_LINE, up
from agentgraph.settings import Settings
from agentgraph.supervisor import free_port, port_is_free

_PID = re.compile(r"\] (?P<name>[\w-]+): starting \(pid (?P<pid>\d+), port (?P<port>\d+)\)")


def test_graph_answers_bolt(services: Settings) -> None:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(services.graph_uri, auth=(services.graph.user, services.graph.password)) as driver:
        records, _, _ = driver.execute_query("RETURN 1 AS one", database_=services.graph.database)
    assert records[0]["one"] == 1


def test_redis_answers_ping(services: Settings) -> None:
    import redis

    client = redis.Redis.from_url(services.redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_demo_crm_answers_health(services: Settings) -> None:
    resp = httpx.get(f"{services.demo_crm_url}/health", timeout=10)
    assert resp.status_code == 200


# --- agentgraph up as a subprocess ---------------------------------------------------------


def _up_argv(*args: str) -> list[str]:
    """``agentgraph up ARGS`` through the installed console script (what a user types)."""
    exe = Path(sys.executable).with_name("agentgraph")
    if exe.exists():
        return [str(exe), "up", *args]
    return [sys.executable, "-c", "from agentgraph.cli import main; main()", "up", *args]


def _port_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AGENTGRAPH_")}
    env.update(
        AGENTGRAPH_GRAPH__BOLT_PORT=str(free_port()),
        AGENTGRAPH_GRAPH__HTTP_PORT=str(free_port()),
        AGENTGRAPH_REDIS__PORT=str(free_port()),
        AGENTGRAPH_DEMO__PORT=str(free_port()),
        AGENTGRAPH_API__PORT=str(free_port()),
        AGENTGRAPH_LLM__LOCAL_PORT=str(free_port()),
    )
    return env


class _UpProcess:
    """``agentgraph up`` in a subprocess; collects its output lines in a thread."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(line.startswith(READY_LINE) for line in self.lines):
            if self.proc.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"agentgraph up exited with {self.proc.returncode} before ready:\n{self.output}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"agentgraph up not ready after {timeout_s:.0f} s:\n{self.output}")
            time.sleep(0.2)

    def children(self) -> dict[str, tuple[int, int]]:
        """``{service: (pid, port)}`` from the step lines."""
        return {m["name"]: (int(m["pid"]), int(m["port"])) for m in map(_PID.search, self.lines) if m}

    def interrupt(self, timeout_s: float = 90.0) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"agentgraph up did not stop within {timeout_s:.0f} s after SIGINT:\n{self.output}")
        self._reader.join(5)
        return code


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_up_starts_stops_on_ctrl_c_and_keeps_data(tmp_path: Path) -> None:
    import redis
    from neo4j import GraphDatabase

    data_dir = tmp_path / "data"
    env = _port_env()
    argv = _up_argv("--scripted", "--no-api", "--no-llm", "--data-dir", str(data_dir))
    # What the child builds from `env`: used here to reach its graph and Redis.
    s = Settings(
        graph={"bolt_port": int(env["AGENTGRAPH_GRAPH__BOLT_PORT"])}, redis={"port": int(env["AGENTGRAPH_REDIS__PORT"])}
    )

    # First run: start, write a node and a key, Ctrl-C.
    first = _UpProcess(argv, env)
    try:
        first.wait_ready()
        out = first.output
        for url in ("/graphql", "/ui", "/healthz", str(data_dir.resolve()), str((data_dir / "logs").resolve())):
            assert url in out
        kids = first.children()
        assert set(kids) == {"graph", "redis", "demo-crm"}, out
        assert httpx.get(f"http://127.0.0.1:{env['AGENTGRAPH_DEMO__PORT']}/health", timeout=10).status_code == 200
        with GraphDatabase.driver(s.graph_uri, auth=(s.graph.user, s.graph.password)) as driver:
            driver.execute_query("CREATE (:UpCheck {id: 'kept'})", database_=s.graph.database)
        r = redis.Redis.from_url(s.redis_url)
        r.set("upcheck", "kept")
        r.close()
    finally:
        code = first.interrupt()
    assert code == 0, first.output
    assert "all services stopped" in first.output
    for name, (pid, port) in kids.items():
        assert _gone(pid), f"{name} (pid {pid}) still running"
        assert port_is_free(port), f"{name} port {port} still taken"
    assert port_is_free(int(env["AGENTGRAPH_GRAPH__HTTP_PORT"]))
    for log in ("graph.log", "redis.log", "demo-crm.log"):
        assert (data_dir / "logs" / log).is_file()

    # Second run on the same data dir: the node and the key are still there.
    second = _UpProcess(argv, env)
    try:
        second.wait_ready()
        with GraphDatabase.driver(s.graph_uri, auth=(s.graph.user, s.graph.password)) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n:UpCheck {id: 'kept'}) RETURN count(n) AS n", database_=s.graph.database
            )
        assert records[0]["n"] == 1
        r = redis.Redis.from_url(s.redis_url)
        assert r.get("upcheck") == b"kept"
        r.close()
    finally:
        assert second.interrupt() == 0, second.output


def test_up_reports_a_dead_child_and_exits_1(tmp_path: Path) -> None:
    """Only the demo CRM is started (graph and Redis 'external', no API); killing it ends ``up`` with 1."""
    lines: list[str] = []
    settings = Settings(
        data_dir=tmp_path,
        graph={"uri": "bolt://127.0.0.1:1"},  # never contacted: no API here
        redis={"url": "redis://127.0.0.1:1/0"},
        demo={"port": free_port()},
        llm={"scripted": True},
    )
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(line.startswith(READY_LINE) for line in lines):
                pid = next(int(m["pid"]) for m in map(_PID.search, lines) if m)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.1)

    threading.Thread(target=killer, daemon=True).start()
    code = up(settings, with_api=False, print_fn=lines.append)
    out = "\n".join(lines)
    assert killed, out
    assert code == 1, out
    assert f"demo-crm (pid {killed[0]}) was killed by signal 9" in out
    assert str(tmp_path / "logs" / "demo-crm.log") in out
    assert port_is_free(settings.demo.port)


def test_up_starts_a_worker_and_runs_go_through_the_queue(tmp_path: Path) -> None:
    """`agentgraph up --workers 1`: the API queues runs (executor 'queue'), the worker process runs them."""
    from agentgraph.spec import AgentSpec

    env = _port_env()
    env.update(AGENTGRAPH_WORKERS__METRICS_PORT=str(free_port()), AGENTGRAPH_AUTH__REQUIRED="false")
    proc = _UpProcess(_up_argv("--scripted", "--no-llm", "--workers", "1", "--data-dir", str(tmp_path / "d")), env)
    try:
        proc.wait_ready(timeout_s=300)
        kids = proc.children()
        assert {"api", "worker-1"} <= set(kids), proc.output
        assert "workers    1 x concurrency" in proc.output
        api = f"http://127.0.0.1:{env['AGENTGRAPH_API__PORT']}/graphql"

        def gql(q: str, **v: object) -> dict:
            body = httpx.post(api, json={"query": q, "variables": v}, timeout=60).json()
            assert "errors" not in body, body
            return body["data"]

        spec = AgentSpec(name="Queued", description="d", system_prompt="Answer briefly.")
        aid = gql("mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id } }",
                  y=spec.to_yaml())["saveAgent"]["id"]
        run = gql("mutation($a: String!) { runAgent(agentId: $a, input: \"hello\") { id status } }", a=aid)["runAgent"]
        assert run["status"] == "queued"  # the API never runs it inline
        deadline = time.monotonic() + 60
        while True:
            e = gql("query($id: ID!) { execution(id: $id) { status attempt output } }", id=run["id"])["execution"]
            if e["status"] not in ("queued", "running"):
                break
            assert time.monotonic() < deadline, e
            time.sleep(0.2)
        assert (e["status"], e["attempt"]) == ("succeeded", 1) and e["output"]
        metrics = httpx.get(f"http://127.0.0.1:{env['AGENTGRAPH_WORKERS__METRICS_PORT']}/metrics", timeout=10).text
        assert 'agentgraph_runs_total{status="succeeded"} 1.0' in metrics  # counted by the worker process
    finally:
        assert proc.interrupt() == 0, proc.output
    pid, port = kids["worker-1"]
    assert _gone(pid) and port_is_free(port)
