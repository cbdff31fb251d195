"""deploy/: the Helm chart lints and renders (Helm v4's own engine via helm-python-sdk), its
WorkflowTemplate equals the one hera builds, values validate against values.schema.json,
and the Dockerfile keeps its promises. Render-free checks run even without the Helm library."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from agentgraph.settings import ArgoSettings
from argo import build_workflow_template, validate_manifest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "agentgraph"
KNOWN_KINDS = {("v1", "ConfigMap"), ("v1", "Service"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
               ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
               ("argoproj.io/v1alpha1", "WorkflowTemplate")}
#: The only lint finding allowed: Neo4j/Redis sub-charts are not vendored (no chart repositories here).
ALLOWED_WARNING = "chart directory is missing these dependencies: neo4j,redis"


def _values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def test_values_validate_against_the_values_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(_values(), schema)
    bad = _values()
    bad["worker"]["replicas"] = -1
    bad["argo"]["executor"] = "kubernetes"
    errors = {e.json_path for e in jsonschema.Draft7Validator(schema).iter_errors(bad)}
    assert errors == {"$.worker.replicas", "$.argo.executor"}


def test_chart_metadata_and_optional_dependencies() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "agentgraph"
    deps = {d["name"]: d for d in chart["dependencies"]}
    assert deps["neo4j"]["condition"] == "neo4j.enabled" and deps["redis"]["condition"] == "redis.enabled"
    assert _values()["neo4j"]["enabled"] is False and _values()["redis"]["enabled"] is False
    assert _values()["worker"]["replicas"] == 0  # `agentgraph worker` lands with the local executor


def _stub_go_templates(text: str) -> str:
    # Whole-line actions ({{- if }}, {{- end }}, {{- include ... | nindent }}) are dropped; inline ones
    # become a placeholder scalar, so the YAML structure around them can be parsed without Helm.
    text = re.sub(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", "", text, flags=re.S)  # {{/* comments */}}
    lines = [ln for ln in text.splitlines() if not re.fullmatch(r"\s*\{\{-?.*-?\}\}\s*", ln)]
    return re.sub(r"\{\{.*?\}\}", "STUB", "\n".join(lines))


@pytest.mark.parametrize("path", sorted(p.name for p in (CHART / "templates").glob("*.yaml")))
def test_templates_parse_as_yaml_with_known_kinds_without_helm(path: str) -> None:
    docs = [d for d in yaml.safe_load_all(_stub_go_templates((CHART / "templates" / path).read_text())) if d]
    assert docs, path
    for d in docs:
        assert (d["apiVersion"], d["kind"]) in KNOWN_KINDS, (path, d.get("kind"))


def test_dockerfile_is_multi_stage_non_root_with_health_check() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2 and "AS runtime" in text
    assert re.search(r'ARG TORCH_VERSION=2\.13\.0', text) and '"torch==${TORCH_VERSION}"' in text
    assert re.search(r"^USER 10001", text, re.M)
    assert "/healthz" in text and "HEALTHCHECK" in text
    assert 'ENTRYPOINT ["python", "-m", "api"]' in text
    assert "local-llm" not in re.sub(r"#.*", "", text)  # no llama.cpp compile in the image


helm = pytest.importorskip("helm_python", reason="helm-python-sdk (test extra) provides Helm's lint and render")


def test_helm_lint_finds_no_errors() -> None:
    report = helm.lint(str(CHART), namespace="agentgraph", strict=False)
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2 and m["error"] != ALLOWED_WARNING]
    assert problems == [], problems


def _render(values: dict | None = None) -> list[dict]:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values or {})
        out = chart.render(values or {}, name="agentgraph", namespace="agents", is_install=True)
    return [d for name, text in out.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]


def test_rendered_workflow_template_is_the_one_hera_builds() -> None:
    docs = _render()
    assert {(d["apiVersion"], d["kind"]) for d in docs} <= KNOWN_KINDS
    [wt] = [d for d in docs if d["kind"] == "WorkflowTemplate"]
    validate_manifest(wt)
    expected = build_workflow_template(ArgoSettings(namespace="agents", image="ghcr.io/agentgraph/agentgraph:0.1.0"))
    wt["metadata"]["labels"] = {k: v for k, v in wt["metadata"]["labels"].items()
                                if k in expected["metadata"]["labels"]}
    assert wt == expected
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert cm["AGENTGRAPH_EXECUTOR"] == "argo" and cm["AGENTGRAPH_ARGO__NAMESPACE"] == "agents"
    worker = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-worker"))
    assert worker["spec"]["replicas"] == 0
    accounts = {d["metadata"]["name"] for d in docs if d["kind"] == "ServiceAccount"}
    assert accounts == {"agentgraph-api", "agentgraph-runner", "agentgraph-events"}
    submit = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"].endswith("workflow-submitter"))
    assert {"create", "get"} <= set(submit["rules"][0]["verbs"]) and submit["rules"][0]["resources"] == ["workflows"]


def test_values_switch_argo_and_dependencies() -> None:
    docs = _render({"argo": {"enabled": False}, "neo4j": {"enabled": True}, "redis": {"enabled": True}})
    assert not [d for d in docs if d["kind"] in ("WorkflowTemplate", "Role")]
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert cm["AGENTGRAPH_EXECUTOR"] == "local"
    assert cm["AGENTGRAPH_GRAPH__URI"] == "neo4j://agentgraph-neo4j:7687"
    assert cm["AGENTGRAPH_REDIS__URL"].startswith("redis://agentgraph-redis-master")
    with pytest.raises(Exception, match="replicas"):
        _render({"api": {"replicas": "many"}})
