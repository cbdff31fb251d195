"""Argo manifests: the WorkflowTemplate, Workflows and Events manifests validate against the
official schemas (../shared/schemas/argo), carry the right parameters, and the committed
deploy/argo set is what the generator produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agentgraph.errors import ConfigError, InvalidSpecError
from agentgraph.settings import ArgoSettings
from agentgraph.spec import AgentSpec
from argo import (
    PARAMETERS,
    SCHEMA_DIR_ENV,
    AgentTriggers,
    ArgoManifestError,
    build_workflow,
    build_workflow_template,
    export_manifests,
    manifest_errors,
    resource_name,
    schema_dir,
    trigger_manifests,
    validate_manifest,
    workflow_name,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "deploy" / "argo" / "example-agent.yaml"


@pytest.fixture(scope="module", autouse=True)
def _schemas_present() -> None:
    try:
        schema_dir()
    except ConfigError as exc:  # fail, not skip: these tests are the point of the schemas
        pytest.fail(f"Argo schemas missing: {exc.message}")


def _params(manifest: dict) -> dict[str, dict]:
    return {p["name"]: p for p in manifest["spec"]["arguments"]["parameters"]}


def test_workflow_template_is_valid_and_complete() -> None:
    s = ArgoSettings(image="registry.local/agentgraph:9", retry_limit=5, backoff_duration="30s",
                     cpu_request="500m", memory_limit="3Gi")
    wt = validate_manifest(build_workflow_template(s))
    assert (wt["kind"], wt["metadata"]["name"]) == ("WorkflowTemplate", "agent-run")
    params = _params(wt)
    assert set(params) == {"agent-id", "version", "input", "thread-id", "traceparent", "tenant-id", "execution-id"}
    assert "value" not in params["agent-id"] and params["version"]["value"] == ""  # agent-id is required
    [tpl] = wt["spec"]["templates"]
    c = tpl["container"]
    assert c["image"] == "registry.local/agentgraph:9"
    assert c["command"] == ["python"] and c["args"][:2] == ["-m", "runners.entrypoint"]
    for name, _, _ in PARAMETERS:  # every parameter reaches the entrypoint as its flag
        i = c["args"].index(f"--{name}")
        assert c["args"][i + 1] == f"{{{{workflow.parameters.{name}}}}}"
    assert {"name": "AGENTGRAPH_EXECUTOR", "value": "local"} in c["env"]  # the pod never resubmits
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "3Gi"}}
    retry = tpl["retryStrategy"]
    assert retry["limit"] == "5" and retry["backoff"] == {"duration": "30s", "factor": "2", "maxDuration": "10m"}
    assert "exitCode" in retry["expression"]
    [art] = tpl["outputs"]["artifacts"]
    assert art["path"] == "/tmp/agentgraph-result.json" and art["s3"]["key"].endswith("result.json")
    assert wt["spec"]["artifactRepositoryRef"] == {"configMap": "artifact-repositories", "key": "minio"}


def test_workflow_from_template_is_valid_and_named_after_the_execution() -> None:
    tp = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    wf = validate_manifest(build_workflow(ArgoSettings(), agent_id="crm", input="Find Ada", version=3,
                                          execution_id="run_AbC_9", traceparent=tp))
    assert wf["metadata"]["name"] == workflow_name("run_AbC_9") == "agent-run-run-abc-9"
    assert wf["spec"]["workflowTemplateRef"] == {"name": "agent-run"}
    p = {k: v["value"] for k, v in _params(wf).items()}
    assert p["version"] == "3" and p["input"] == "Find Ada" and p["traceparent"].startswith("00-aaaa")
    anonymous = build_workflow(ArgoSettings(), agent_id="crm", input="x")
    assert "name" not in anonymous["metadata"] and anonymous["metadata"]["generateName"] == "agent-run-"


def test_schema_errors_are_reported_with_paths_and_int_or_string_is_tolerated() -> None:
    wt = build_workflow_template(ArgoSettings())
    wt["spec"]["templates"][0]["container"]["image"] = 5
    wt["spec"]["entrypoint"] = ["run"]
    errors = manifest_errors(wt)
    assert any(e.startswith("spec.templates.0.container.image:") for e in errors)
    assert any(e.startswith("spec.entrypoint:") for e in errors)
    with pytest.raises(ArgoManifestError, match="spec.entrypoint"):
        validate_manifest(wt)
    # Known false positive: Kubernetes int-or-string typed as string only; an int is accepted by Argo.
    ok = build_workflow_template(ArgoSettings())
    ok["spec"]["templates"][0]["retryStrategy"]["limit"] = 3
    assert manifest_errors(ok) == []
    with pytest.raises(ArgoManifestError, match="Unknown Argo manifest"):
        manifest_errors({"apiVersion": "v1", "kind": "Pod"})


def test_missing_schemas_fail_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCHEMA_DIR_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=SCHEMA_DIR_ENV) as err:
        validate_manifest(build_workflow_template(ArgoSettings()))
    assert str(tmp_path) in err.value.message


SPEC = AgentSpec(name="Invoice triage", description="d", system_prompt="p", triggers=[
    {"kind": "webhook", "name": "inbound"},
    {"kind": "calendar", "name": "daily", "schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin", "input": "Go"},
    {"kind": "s3", "name": "uploads", "bucket": "invoices", "suffix": ".pdf"},
    {"kind": "kafka", "name": "orders", "url": "kafka:9092", "topic": "orders", "input_key": "body"},
    {"kind": "webhook", "name": "off", "enabled": False},
])


def test_every_trigger_kind_exports_a_valid_event_source_and_sensor() -> None:
    ms = trigger_manifests("invoice-triage", SPEC.triggers, ArgoSettings(), tenant_id="acme")
    assert [(m["kind"], m["metadata"]["name"]) for m in ms] == [
        (k, f"invoice-triage-{t}")
        for t in ("inbound", "daily", "uploads", "orders") for k in ("EventSource", "Sensor")]
    es = {m["metadata"]["name"]: m["spec"] for m in ms if m["kind"] == "EventSource"}
    assert es["invoice-triage-daily"]["calendar"]["daily"] == {"schedule": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
    assert es["invoice-triage-inbound"]["webhook"]["inbound"]["port"] == "12000"
    assert es["invoice-triage-uploads"]["minio"]["uploads"]["filter"] == {"prefix": "", "suffix": ".pdf"}
    assert es["invoice-triage-orders"]["kafka"]["orders"]["topic"] == "orders"
    names = [n for n, _, _ in PARAMETERS]
    for sensor in (m for m in ms if m["kind"] == "Sensor"):
        [trig] = sensor["spec"]["triggers"]
        wf_trigger = trig["template"]["argoWorkflow"]
        wf = wf_trigger["source"]["resource"]
        assert wf["spec"]["workflowTemplateRef"] == {"name": "agent-run"}
        args = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
        assert args["agent-id"] == "invoice-triage" and args["tenant-id"] == "acme"
        dests = {names[int(p["dest"].split(".")[3])]: p["src"].get("dataKey") for p in wf_trigger["parameters"]}
        kind = sensor["metadata"]["labels"]["agentgraph.dev/trigger-kind"]
        expected = {"webhook": {"input": "body.input", "traceparent": "header.Traceparent.0"}, "calendar": {},
                    "s3": {"input": "notification.0.s3.object.key"}, "kafka": {"input": "body"}}[kind]
        assert dests == expected, kind
        if kind == "calendar":
            assert args["input"] == "Go"
        dep = sensor["spec"]["dependencies"][0]
        assert dep["eventSourceName"] == sensor["metadata"]["name"]


def test_sensor_with_a_broken_workflow_is_rejected() -> None:
    from argo._events import validate_trigger_manifests

    ms = trigger_manifests("a", SPEC.triggers[:1], ArgoSettings())
    ms[1]["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"]["spec"]["arguments"] = "x"
    with pytest.raises(ArgoManifestError, match="spec.arguments"):
        validate_trigger_manifests(ms)


@pytest.mark.parametrize("trigger, field", [
    ({"kind": "calendar", "name": "c", "schedule": "every day", "input": "x"}, "5 cron fields"),
    ({"kind": "calendar", "name": "c", "schedule": "0 9 * * *", "timezone": "Mars/Base", "input": "x"}, "time zone"),
    ({"kind": "ftp", "name": "f"}, "does not match"),
    ({"kind": "webhook", "name": "Bad Name"}, "triggers.0.webhook.name"),
])
def test_invalid_triggers_name_the_problem(trigger: dict, field: str) -> None:
    with pytest.raises(InvalidSpecError, match=field):
        AgentSpec.parse({"name": "x", "description": "d", "system_prompt": "p", "triggers": [trigger]})


def test_resource_names_are_short_and_distinct() -> None:
    a, b = resource_name("x" * 80, "one"), resource_name("x" * 80, "two")
    assert len(a) <= 50 and len(b) <= 50 and a != b
    assert resource_name("CRM_Agent", "daily") == "crm-agent-daily"


def test_committed_deploy_argo_matches_the_generator(tmp_path: Path) -> None:
    spec = AgentSpec.from_yaml(EXAMPLE_SPEC.read_text())
    written = export_manifests(tmp_path, ArgoSettings(), [AgentTriggers("invoice-triage", spec)])
    assert len(written) == 9  # template + 4 kinds x (EventSource, Sensor)
    for path in written:
        committed = REPO / "deploy" / "argo" / path.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} missing: run `agentgraph argo export --spec {EXAMPLE_SPEC}`"
        assert yaml.safe_load(committed.read_text()) == yaml.safe_load(path.read_text()), (
            f"{committed} is stale: regenerate with `agentgraph argo export --spec deploy/argo/example-agent.yaml "
            "--agent-id invoice-triage`")


def test_cli_export_from_a_spec_file(tmp_path: Path) -> None:
    from agentgraph.cli import app

    res = CliRunner().invoke(app, ["argo", "export", "--out", str(tmp_path), "--spec", str(EXAMPLE_SPEC),
                                   "--agent-id", "invoice-triage", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "Wrote 9 manifests (1 agents, 4 triggers)" in res.output
    wt = json.loads((tmp_path / "workflowtemplate-agent-run.json").read_text())
    assert wt["kind"] == "WorkflowTemplate"
    bad = CliRunner().invoke(app, ["argo", "export", "--out", str(tmp_path), "--spec", str(EXAMPLE_SPEC),
                                   "--format", "toml"])
    assert bad.exit_code == 2
