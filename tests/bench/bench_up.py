#!/usr/bin/env python
"""Startup benchmark of ``agentgraph up`` (a script, not a pytest test).

Runs ``agentgraph up`` as a subprocess in a temporary data dir on free loopback
ports, ``--runs`` times on the same data dir (run 1 is the cold first start: new
database, GGUF assembly; later runs reuse the data), and measures per run:

* wall time from launch to the "agentgraph is up" line, and to the moment every
  health probe of the started services passes (polled by this script);
* per service: time to ready as measured by the supervisor, and the moment it was
  announced ready, relative to launch;
* resident memory (RSS, MiB) of each service process tree (process + children,
  psutil) right after all probes pass, and of the ``up`` process itself;
* stop time after SIGINT, and whether every child exited and freed its port.

Baselines measured in the same run: a bare ``redis-server`` start (launch to
TCP accept) and a bare Python interpreter start (``python -c pass``), plus the
import time of the CLI module. Prints a table and one ``BENCH_JSON {...}`` line.

Usage: ``python tests/bench/bench_up.py [--with-llm] [--no-api] [--runs N]``.
Exit code 0 when every run got ready and stopped cleanly, else 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

READY_LINE = "agentgraph is up"
STEP = re.compile(r"\] (?P<name>[\w-]+): (?:starting \(pid (?P<pid>\d+), port (?P<port>\d+)\)|ready in (?P<s>[\d.]+) s)")
ASSEMBLED = re.compile(r"llm: model assembled in (?P<s>[\d.]+) s")
MIB = 2**20


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    """True when 127.0.0.1:port accepts a TCP connection."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and all its descendants, in MiB (0 when it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / MIB


def up_argv(*args: str) -> list[str]:
    """``agentgraph up ARGS`` through the installed console script."""
    exe = Path(sys.executable).with_name("agentgraph")
    if exe.exists():
        return [str(exe), "up", *args]
    return [sys.executable, "-c", "from agentgraph.cli import main; main()", "up", *args]


# --- baselines ------------------------------------------------------------------------------


def bench_python(n: int = 5) -> dict[str, float]:
    """Median seconds of ``python -c pass`` and of importing the CLI module."""
    def timed(code: str) -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    return {
        "python_start_s": statistics.median(timed("pass") for _ in range(n)),
        "cli_import_s": statistics.median(timed("import agentgraph.cli._up") for _ in range(3)),
    }


def bench_redis(n: int = 3) -> dict[str, float]:
    """Median seconds from launching a bare ``redis-server`` to TCP accept; its RSS in MiB."""
    exe = shutil.which("redis-server")
    if exe is None:
        return {}
    times, rss = [], []
    for _ in range(n):
        port = free_port()
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            proc = subprocess.Popen(
                [exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", d, "--save", ""],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                while not port_open(port):
                    if proc.poll() is not None or time.perf_counter() - t > 10:
                        raise RuntimeError("bare redis-server did not start")
                    time.sleep(0.005)
                times.append(time.perf_counter() - t)
                rss.append(tree_rss_mib(proc.pid))
            finally:
                proc.terminate()
                proc.wait(10)
    return {"redis_start_s": statistics.median(times), "redis_rss_mib": statistics.median(rss)}


# --- one `agentgraph up` run --------------------------------------------------------------------


class UpRun:
    """One ``agentgraph up`` subprocess, its timestamped output lines and measurements."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.perf_counter() - self.t0, line.rstrip("\n")))

    def wait_line(self, prefix: str, timeout_s: float) -> float:
        """Seconds since launch at which a line starting with ``prefix`` appeared."""
        deadline = time.perf_counter() + timeout_s
        while True:
            for t, line in self.lines:
                if line.startswith(prefix):
                    return t
            if self.proc.poll() is not None:
                raise RuntimeError(f"agentgraph up exited with {self.proc.returncode}:\n{self.output()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"no {prefix!r} line after {timeout_s:.0f} s:\n{self.output()}")
            time.sleep(0.02)

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def services(self) -> dict[str, dict]:
        """Per service: pid, port, supervisor ready seconds, announced-ready time since launch."""
        out: dict[str, dict] = {}
        for t, line in self.lines:
            m = STEP.search(line)
            if not m:
                continue
            svc = out.setdefault(m["name"], {})
            if m["pid"]:
                svc.update(pid=int(m["pid"]), port=int(m["port"]))
            else:
                svc.update(ready_s=float(m["s"]), ready_at_s=round(t, 3))
        return out

    def stop(self, timeout_s: float = 120.0) -> tuple[float, int | None]:
        """SIGINT; seconds until ``up`` exited and its exit code (None: killed after the timeout)."""
        t = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self.reader.join(5)
        return time.perf_counter() - t, code


def probes(env: dict[str, str], names: set[str]) -> dict[str, object]:
    """Health probes of the started services (same URLs the supervisor uses)."""
    p = {k: int(v) for k, v in env.items() if k.endswith("PORT")}

    def http(url: str, expect: int = 200):
        def check() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == expect
            except httpx.HTTPError:
                return False
        return check

    all_probes = {
        "graph": http(f"http://127.0.0.1:{p['AGENTGRAPH_GRAPH__HTTP_PORT']}/api/v1/ready", 204),
        "redis": lambda: port_open(p["AGENTGRAPH_REDIS__PORT"]),
        "llm": http(f"http://127.0.0.1:{p['AGENTGRAPH_LLM__LOCAL_PORT']}/v1/models"),
        "demo-crm": http(f"http://127.0.0.1:{p['AGENTGRAPH_DEMO__PORT']}/health"),
        "api": http(f"http://127.0.0.1:{p['AGENTGRAPH_API__PORT']}/healthz"),
    }
    return {n: all_probes[n] for n in names if n in all_probes}


def run_once(argv: list[str], env: dict[str, str], timeout_s: float) -> dict:
    """Launch ``up``, wait until ready and all probes pass, measure RSS, stop with SIGINT."""
    run = UpRun(argv, env)
    result: dict = {"ok": False}
    try:
        result["wall_ready_line_s"] = round(run.wait_line(READY_LINE, timeout_s), 3)
        services = run.services()
        checks = probes(env, set(services))
        deadline = time.perf_counter() + 30
        while not all(check() for check in checks.values()):
            if time.perf_counter() > deadline:
                raise RuntimeError("probes still failing 30 s after the ready line")
            time.sleep(0.05)
        result["wall_probes_pass_s"] = round(time.perf_counter() - run.t0, 3)
        for svc in services.values():
            svc["rss_mib"] = round(tree_rss_mib(svc["pid"]), 1)
        result["up_process_rss_mib"] = round(tree_rss_mib(run.proc.pid) - sum(s["rss_mib"] for s in services.values()), 1)
        result["services"] = services
        m = next((ASSEMBLED.search(line) for _, line in run.lines if ASSEMBLED.search(line)), None)
        if m:
            result["gguf_assembly_s"] = float(m["s"])
        result["ok"] = True
    except RuntimeError as exc:
        result["error"] = str(exc)
    finally:
        stop_s, code = run.stop()
    services = run.services()
    stray = [n for n, s in services.items() if "pid" in s and psutil.pid_exists(s["pid"])
             and psutil.Process(s["pid"]).status() != psutil.STATUS_ZOMBIE]
    busy = [n for n, s in services.items() if "port" in s and port_open(s["port"])]
    result.update(stop_s=round(stop_s, 3), exit_code=code, stray_processes=stray, ports_still_open=busy)
    result["ok"] = result["ok"] and code == 0 and not stray and not busy
    return result


def print_report(runs: list[dict], base: dict[str, float]) -> None:
    for i, r in enumerate(runs, 1):
        label = "cold (new data dir)" if i == 1 else "warm (same data dir)"
        print(f"\nrun {i}: {label}")
        if "error" in r:
            print(f"  ERROR: {r['error']}")
        print(f"  {'service':<10} {'ready (s)':>10} {'ready at (s)':>13} {'RSS (MiB)':>10}")
        for name, s in r.get("services", {}).items():
            print(f"  {name:<10} {s.get('ready_s', float('nan')):>10.1f} {s.get('ready_at_s', float('nan')):>13.2f} "
                  f"{s.get('rss_mib', float('nan')):>10.1f}")
        if "up_process_rss_mib" in r:
            print(f"  {'(up)':<10} {'':>10} {'':>13} {r['up_process_rss_mib']:>10.1f}")
        total_rss = sum(s.get("rss_mib", 0) for s in r.get("services", {}).values()) + r.get("up_process_rss_mib", 0)
        print(f"  total RSS {total_rss:.0f} MiB")
        if "gguf_assembly_s" in r:
            print(f"  GGUF assembly (first start only): {r['gguf_assembly_s']:.1f} s")
        print(f"  launch -> ready line {r.get('wall_ready_line_s', float('nan')):.2f} s; "
              f"-> all probes pass {r.get('wall_probes_pass_s', float('nan')):.2f} s")
        print(f"  stop after SIGINT {r['stop_s']:.2f} s, exit code {r['exit_code']}, "
              f"stray processes {r['stray_processes'] or 'none'}, ports still open {r['ports_still_open'] or 'none'}")
    print("\nbaselines:")
    print(f"  python -c pass          {base['python_start_s']:.3f} s")
    print(f"  import agentgraph CLI   {base['cli_import_s']:.3f} s")
    if "redis_start_s" in base:
        print(f"  bare redis-server       {base['redis_start_s']:.3f} s, {base['redis_rss_mib']:.1f} MiB")
    print("ratios (run 1 / run 2 ...):")
    ok_runs = [r for r in runs if "wall_probes_pass_s" in r]
    print("  up wall / python start  " + " / ".join(f"{r['wall_probes_pass_s'] / base['python_start_s']:.0f}x" for r in ok_runs))
    if "redis_start_s" in base:
        print("  up wall / bare redis    " + " / ".join(f"{r['wall_probes_pass_s'] / base['redis_start_s']:.0f}x" for r in ok_runs))
        print("  redis in up / bare      " + " / ".join(
            f"{r['services']['redis']['ready_s'] / base['redis_start_s']:.0f}x" for r in ok_runs if "redis" in r["services"])
            + "   (the supervisor probes every 0.2 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-llm", action="store_true", help="include the local llama.cpp model server")
    parser.add_argument("--no-api", action="store_true", help="infrastructure only (default: API when installed)")
    parser.add_argument("--runs", type=int, default=2, help="runs on the same data dir (1st is cold), default 2")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the ready line")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()

    with_api = not args.no_api and importlib.util.find_spec("api.__main__") is not None
    data_dir = Path(tempfile.mkdtemp(prefix="agentgraph-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("AGENTGRAPH_")}
    env.update({
        "AGENTGRAPH_GRAPH__BOLT_PORT": str(free_port()), "AGENTGRAPH_GRAPH__HTTP_PORT": str(free_port()),
        "AGENTGRAPH_REDIS__PORT": str(free_port()), "AGENTGRAPH_LLM__LOCAL_PORT": str(free_port()),
        "AGENTGRAPH_DEMO__PORT": str(free_port()), "AGENTGRAPH_API__PORT": str(free_port()),
        "GRADIO_ANALYTICS_ENABLED": "False", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1",
    })
    flags = ["--llm"] if args.with_llm else ["--scripted", "--no-llm"]
    if not with_api:
        flags.append("--no-api")
    argv = up_argv(*flags, "--data-dir", str(data_dir))
    print(f"bench: {' '.join(argv[-len(flags) - 3:])}  (data dir {data_dir}, {os.cpu_count()} cores)", flush=True)

    base = {**bench_python(), **bench_redis()}
    runs = []
    try:
        for _ in range(args.runs):
            runs.append(run_once(argv, env, args.timeout))
            if not runs[-1]["ok"]:
                break
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print_report(runs, base)
    ok = bool(runs) and all(r["ok"] for r in runs)
    print("BENCH_JSON " + json.dumps({
        "bench": "agentgraph_up", "with_llm": args.with_llm, "with_api": with_api, "cores": os.cpu_count(),
        "baseline": {k: round(v, 4) for k, v in base.items()}, "runs": runs, "ok": ok,
    }))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
