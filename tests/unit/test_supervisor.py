"""The embedded-services supervisor and ``agentgraph up``'s settings hand-over.

No platform services: the children here are the Python interpreter itself
(``python -m http.server``, a script that exits at once).
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from agentgraph.cli._up import settings_env, up
from agentgraph.errors import ConfigError, ServiceUnavailableError
from agentgraph.settings import Settings
from agentgraph.supervisor import ServiceSpec, Supervisor, free_port, http_probe, port_is_free


def _spec(argv: list[str], port: int, **kw) -> ServiceSpec:
    return ServiceSpec(name="child", argv=argv, port=port, probe=kw.pop("probe", lambda: False), **kw)


def test_missing_binary_names_the_install_hint(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    spec = _spec(["/nonexistent/agentgraph-nope"], free_port(), install_hint="install it with `apt-get install nope`")
    with pytest.raises(ConfigError, match=r"apt-get install nope") as err:
        sup.start(spec)
    assert "agentgraph-nope" in err.value.message
    assert sup.running == []


def test_missing_redis_server_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agentgraph.stack import redis_service

    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no redis-server anywhere
    spec = redis_service(Settings(data_dir=tmp_path, redis={"port": free_port()}))
    with pytest.raises(ConfigError, match=r"apt-get install -y redis-server"):
        Supervisor(tmp_path / "logs").start(spec)


def test_port_in_use_is_a_config_error_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        spec = _spec([sys.executable, "-c", "pass"], port)
        with pytest.raises(ConfigError, match=rf"port {port}\b.*already in use"):
            Supervisor(tmp_path / "logs").start(spec)


def test_child_exiting_at_once_reports_its_log_tail(tmp_path: Path) -> None:
    script = "import sys; print('boom: bad configuration line 7', flush=True); sys.exit(3)"
    sup = Supervisor(tmp_path / "logs")
    with pytest.raises(ServiceUnavailableError) as err:
        sup.start(_spec([sys.executable, "-c", script], free_port(), ready_timeout_s=30))
    msg = err.value.message
    assert "exited with code 3" in msg
    assert "boom: bad configuration line 7" in msg
    assert str(tmp_path / "logs" / "child.log") in msg
    sup.stop_all()


def test_real_child_is_probed_ready_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    steps: list[str] = []
    sup = Supervisor(tmp_path / "logs", on_step=steps.append)
    spec = ServiceSpec(
        name="web",
        argv=[sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        port=port,
        probe=http_probe(f"http://127.0.0.1:{port}/"),
        ready_timeout_s=30,
        cwd=tmp_path,
    )
    svc = sup.start(spec)
    pid = svc.process.pid
    assert psutil.pid_exists(pid)
    assert not port_is_free(port)
    assert svc.ready_s > 0
    assert sup.pids() == {"web": pid}
    assert any(s.startswith("web: ready in") for s in steps)

    started = time.monotonic()
    sup.stop_all(stop_timeout_s=10)
    assert time.monotonic() - started < 10, "SIGTERM should stop http.server without the SIGKILL fallback"
    assert svc.process.returncode is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert port_is_free(port)
    assert sup.running == []
    assert steps[-1] == "web: stopped"


def _clear_agentgraph_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("AGENTGRAPH_"):
            monkeypatch.delenv(key)


def test_settings_env_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_agentgraph_env(monkeypatch)
    model_list = tmp_path / "models.yaml"
    original = Settings(
        data_dir=tmp_path / "data",
        tenant_id="acme",
        graph={"bolt_port": 17001, "http_port": 17002, "password": "s3cret pass", "database": "acme"},
        redis={"port": 17003, "checkpoint_ttl_min": 90.5},
        llm={"scripted": True, "local_port": 17004, "model_list_file": model_list, "num_retries": 3},
        api={"host": "127.0.0.1", "port": 17005, "public_url": "http://agents.example:8000"},
        demo={"enabled": False, "port": 17006},
        run={"default_timeout_s": 33.0, "max_steps": 4},
    )
    env = settings_env(original)
    assert env["AGENTGRAPH_GRAPH__BOLT_PORT"] == "17001"
    assert env["AGENTGRAPH_LLM__SCRIPTED"] == "true"
    assert env["AGENTGRAPH_DEMO__ENABLED"] == "false"
    assert env["AGENTGRAPH_DATA_DIR"] == str((tmp_path / "data").resolve())
    assert "AGENTGRAPH_GRAPH__URI" not in env  # None is left out: the child falls back to None
    assert all(k.startswith("AGENTGRAPH_") and isinstance(v, str) for k, v in env.items())

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == original.model_dump()
    assert rebuilt.graph_uri == original.graph_uri
    assert rebuilt.redis_url == original.redis_url
    assert rebuilt.api.base_url == "http://agents.example:8000"


def test_settings_env_passes_external_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_agentgraph_env(monkeypatch)
    original = Settings(
        data_dir=tmp_path, graph={"uri": "neo4j://db:7687", "backend": "neo4j"}, redis={"url": "redis://r:6379/2"}
    )
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt.graph_uri == "neo4j://db:7687"
    assert rebuilt.graph_backend == "neo4j"
    assert rebuilt.redis_url == "redis://r:6379/2"


def test_up_refuses_taken_ports_before_starting_anything(tmp_path: Path) -> None:
    lines: list[str] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        settings = Settings(
            data_dir=tmp_path / "data",
            graph={"bolt_port": free_port(), "http_port": taken},
            redis={"port": free_port()},
            demo={"port": free_port()},
            llm={"scripted": True},
        )
        code = up(settings, with_api=False, print_fn=lines.append)
    out = "\n".join(lines)
    assert code == 2
    assert f"port {taken} (AGENTGRAPH_GRAPH__HTTP_PORT)" in out
    assert "Traceback" not in out
    assert (tmp_path / "data").is_dir()
    assert not (tmp_path / "data" / "logs" / "graph.log").exists(), "nothing may start after a failed pre-flight"


def test_up_command_options_reach_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from agentgraph.cli import _up

    _clear_agentgraph_env(monkeypatch)
    calls: list[dict] = []

    def fake_up(settings: Settings, **kw) -> int:
        calls.append({"settings": settings, **kw})
        return 7

    monkeypatch.setattr(_up, "up", fake_up)
    app = typer.Typer()
    app.callback()(lambda: None)
    _up.register(app)
    runner = CliRunner()

    result = runner.invoke(app, ["up", "--scripted", "--no-api", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 7, result.output
    s = calls[-1]["settings"]
    assert s.llm.scripted is True and s.data_dir == tmp_path / "d"
    assert calls[-1]["with_llm"] is None and calls[-1]["with_api"] is False

    result = runner.invoke(app, ["up", "--no-llm"])
    assert result.exit_code == 7
    assert calls[-1]["with_llm"] is False and calls[-1]["with_api"] is True
    assert calls[-1]["settings"].llm.scripted is False
    assert runner.invoke(app, ["up", "--llm"]).exit_code == 7 and calls[-1]["with_llm"] is True

    monkeypatch.setenv("AGENTGRAPH_API__PORT", "not-a-port")
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 2
    assert "api.port" in result.output
