"""The CLI against the real platform (GraphQL over HTTP), as a user types it."""

from __future__ import annotations

import re
import subprocess
import sys

from pathlib import Path

# A document other than the CRM, so the builder's CRM ranking in other tests is not tied.
PETSTORE = Path(__file__).resolve().parents[1] / "data" / "openapi" / "petstore-swagger2.yaml"


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentgraph.cli", *args, "--url", url],
                          capture_output=True, text=True, timeout=300)


def test_tools_add_build_run(platform_url: str, services) -> None:
    added = cli(platform_url, "tools", "add", "--openapi", str(PETSTORE), "--base-url", services.demo_crm_url,
                "--name", "CLI Petstore")
    assert added.returncode == 0, added.stderr
    assert "Registered tool cli-petstore" in added.stdout
    listed = cli(platform_url, "tools", "list")
    assert "cli-petstore" in listed.stdout and "demo-crm" in listed.stdout

    built = cli(platform_url, "build", "I need an agent that looks up a lead in our CRM and drafts a follow-up email",
                "--publish")
    assert built.returncode == 0, built.stderr
    agent_id = re.search(r"Saved agent (\S+) \(version 1, active\)", built.stdout).group(1)
    assert "spec_version: '1'" in built.stdout

    ran = cli(platform_url, "run", agent_id, "Find lead Ada Lovelace and draft a follow-up")
    assert ran.returncode == 0, ran.stderr
    assert "Ada Lovelace" in ran.stdout and "status=succeeded" in ran.stdout
    assert "tool.call" in ran.stdout and "llm.call" in ran.stdout


def test_errors_are_messages_not_tracebacks(platform_url: str) -> None:
    missing = cli(platform_url, "run", "no-such-agent", "hi")
    assert missing.returncode == 2
    assert "error [NOT_FOUND]" in missing.stderr and "Traceback" not in missing.stderr
    down = cli("http://127.0.0.1:9", "agents", "list")
    assert down.returncode == 2 and "agentgraph up" in down.stderr
