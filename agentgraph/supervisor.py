"""Embedded-services supervisor: start, health-check and stop child processes.

``agentgraph up`` describes each embedded service as a :class:`ServiceSpec` (argv,
port, readiness probe) and hands them to :class:`Supervisor`, which

* refuses to start when the port is already taken or the binary is missing,
  with an error that says how to fix it (:class:`~agentgraph.errors.ConfigError`);
* starts each child in its own process group, logging to ``<data_dir>/logs/<name>.log``;
* waits until its readiness probe answers (``ready_timeout_s``);
* stops everything in reverse order on :meth:`stop_all` (SIGTERM, then SIGKILL
  after ``stop_timeout_s``), also on Ctrl-C.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentgraph.errors import ConfigError, ServiceUnavailableError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port`` (TCP)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) != 0


def tcp_probe(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """Readiness probe: the port accepts TCP connections."""
    return lambda: not port_is_free(port, host)


def http_probe(url: str, expect: int = 200) -> Callable[[], bool]:
    """Readiness probe: GET ``url`` answers ``expect``."""
    import httpx

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == expect
        except httpx.HTTPError:
            return False

    return probe


def free_port() -> int:
    """An ephemeral TCP port free right now on 127.0.0.1 (tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServiceSpec:
    """One child service.

    Attributes:
        name: short name used in logs and step lines (``graph``, ``redis``...).
        argv: command line; ``argv[0]`` must exist (absolute path or on PATH).
        port: TCP port it binds on 127.0.0.1 (checked free before start).
        probe: readiness probe returning True when ready.
        ready_timeout_s: seconds to wait for the probe.
        env: extra environment variables.
        cwd: working directory.
        install_hint: how to get ``argv[0]`` when it is missing.
    """

    name: str
    argv: list[str]
    port: int
    probe: Callable[[], bool]
    ready_timeout_s: float = 60.0
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    install_hint: str = "run `make install`"


@dataclass
class RunningService:
    """A started child and its log file."""

    spec: ServiceSpec
    process: subprocess.Popen
    log_path: Path
    started_s: float
    ready_s: float = 0.0


class Supervisor:
    """Starts and stops :class:`ServiceSpec` children (see module docstring).

    Args:
        log_dir: directory for per-service log files.
        on_step: callback for human-readable step lines (``"graph: ready in 4.1 s"``).
    """

    def __init__(self, log_dir: Path, on_step: Callable[[str], None] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.on_step = on_step or (lambda _msg: None)
        self.running: list[RunningService] = []

    def start(self, spec: ServiceSpec) -> RunningService:
        """Start one service and wait until it is ready.

        Raises:
            ConfigError: binary missing or port already taken.
            ServiceUnavailableError: it exited or did not become ready in time
                (the message quotes the end of its log).
        """
        exe = spec.argv[0]
        if not (os.path.isabs(exe) and os.access(exe, os.X_OK)) and shutil.which(exe) is None:
            raise ConfigError(f"{spec.name}: executable {exe!r} not found; {spec.install_hint}.")
        if not port_is_free(spec.port):
            raise ConfigError(
                f"{spec.name}: port {spec.port} on 127.0.0.1 is already in use. Stop the process "
                f"using it (e.g. `ss -ltnp 'sport = :{spec.port}'`) or choose another port in the settings."
            )
        log_path = self.log_dir / f"{spec.name}.log"
        log = open(log_path, "ab")
        env = {**os.environ, **spec.env}
        started = time.monotonic()
        proc = subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(spec.cwd) if spec.cwd else None,
            start_new_session=True,  # own process group: Ctrl-C in the terminal is ours to forward
        )
        log.close()
        svc = RunningService(spec=spec, process=proc, log_path=log_path, started_s=started)
        self.running.append(svc)
        self.on_step(f"{spec.name}: starting (pid {proc.pid}, port {spec.port})")
        deadline = started + spec.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServiceUnavailableError(
                    f"{spec.name} exited with code {proc.returncode} during start. Last log lines "
                    f"({log_path}):\n{_tail(log_path)}"
                )
            if spec.probe():
                svc.ready_s = time.monotonic() - started
                self.on_step(f"{spec.name}: ready in {svc.ready_s:.1f} s")
                return svc
            time.sleep(0.2)
        raise ServiceUnavailableError(
            f"{spec.name} was not ready after {spec.ready_timeout_s:.0f} s. Last log lines ({log_path}):\n{_tail(log_path)}"
        )

    def stop_all(self, stop_timeout_s: float = 15.0) -> None:
        """Stop every started service, newest first (SIGTERM, then SIGKILL)."""
        for svc in reversed(self.running):
            stop_process(svc.process, stop_timeout_s)
            self.on_step(f"{svc.spec.name}: stopped")
        self.running.clear()

    def pids(self) -> dict[str, int]:
        """``{service name: pid}`` of running services."""
        return {s.spec.name: s.process.pid for s in self.running}

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def stop_process(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Terminate a child started with its own session; kill it after ``timeout_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


__all__ = [
    "ServiceSpec",
    "RunningService",
    "Supervisor",
    "free_port",
    "http_probe",
    "port_is_free",
    "stop_process",
    "tcp_probe",
]
