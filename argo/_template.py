"""The ``agent-run`` WorkflowTemplate and the Workflows submitted from it, built with hera.

One template runs one agent run in one pod: ``python -m runners.entrypoint`` with
the run's parameters, a retry strategy with exponential backoff, resource requests
and limits, and the run result JSON as an output artifact in the S3-compatible
artifact repository named by ``artifactRepositoryRef`` (MinIO in a typical install).

Every field comes from :class:`agentgraph.settings.ArgoSettings` (env
``AGENTGRAPH_ARGO__*``), so the exported YAML, the Helm chart and the submission
client agree on names.
"""

from __future__ import annotations

import re
from typing import Any

from hera.workflows import Container, Parameter, Resources, RetryStrategy, S3Artifact, Workflow, WorkflowTemplate
from hera.workflows import models as m

from agentgraph.settings import ArgoSettings

#: Where the entrypoint writes the run result; collected as the ``result`` output artifact.
RESULT_PATH = "/tmp/agentgraph-result.json"
#: Workflow parameters, in order: (name, default, description). ``None`` default = required.
PARAMETERS: tuple[tuple[str, str | None, str], ...] = (
    ("agent-id", None, "Agent id in the graph."),
    ("input", None, "Run input (text)."),
    ("version", "", "Agent version; empty = the active (else latest) version."),
    ("thread-id", "", "Conversation thread; empty = a new thread."),
    ("tenant-id", "default", "Tenant of the agent."),
    ("execution-id", "", "Execution created as queued by the platform; empty = the runner creates one."),
    ("traceparent", "", "W3C traceparent of the caller's span, so the run joins its trace."),
)
#: Retry on infrastructure errors and on failed runs (exit 1), never on bad input (exit 2):
#: ``lastRetry`` is Argo's retry-expression context (exitCode is a string there).
RETRY_EXPRESSION = 'lastRetry.status == "Error" or asInt(lastRetry.exitCode) == 1'
RESULT_KEY = "agentgraph/runs/{{workflow.name}}/result.json"
_DNS_RE = re.compile(r"[^a-z0-9-]+")
LABEL_PREFIX = "agentgraph.dev"


def _entrypoint_args() -> list[str]:
    args = ["-m", "runners.entrypoint"]
    for name, _, _ in PARAMETERS:
        args += [f"--{name}", f"{{{{workflow.parameters.{name}}}}}"]
    return args


def build_workflow_template(settings: ArgoSettings) -> dict[str, Any]:
    """The ``agent-run`` WorkflowTemplate as a Kubernetes manifest dict.

    Args:
        settings: image, namespace, retry/backoff, resources, artifact repository.

    Returns:
        ``{"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": ..., "spec": ...}``,
        valid against the official schema (``argo.validate_manifest``; tested).
    """
    container = Container(
        name="run",
        image=settings.image,
        image_pull_policy="IfNotPresent",
        command=["python"],
        args=_entrypoint_args(),
        env_from=[m.EnvFromSource(config_map_ref=m.ConfigMapEnvSource(name=settings.config_map, optional=True)),
                  m.EnvFromSource(secret_ref=m.SecretEnvSource(name=settings.secret, optional=True))],
        # The pod must run the agent itself, never submit it back to Argo.
        env=[m.EnvVar(name="AGENTGRAPH_EXECUTOR", value="local"),
             m.EnvVar(name="AGENTGRAPH_DEMO__REGISTER_ON_START", value="false"),
             m.EnvVar(name="AGENTGRAPH_TENANT_ID", value="{{workflow.parameters.tenant-id}}")],
        resources=Resources(cpu_request=settings.cpu_request, memory_request=settings.memory_request,
                            cpu_limit=settings.cpu_limit, memory_limit=settings.memory_limit),
        retry_strategy=RetryStrategy(
            limit=str(settings.retry_limit), retry_policy="Always", expression=RETRY_EXPRESSION,
            backoff=m.Backoff(duration=settings.backoff_duration, factor=str(settings.backoff_factor),
                              max_duration=settings.backoff_max_duration),
        ),
        security_context=m.SecurityContext(run_as_non_root=True, allow_privilege_escalation=False,
                                           read_only_root_filesystem=False),
        outputs=[S3Artifact(name="result", path=RESULT_PATH, key=RESULT_KEY, optional=True,
                            archive=m.ArchiveStrategy(none=m.NoneStrategy()))],
    )
    wt = WorkflowTemplate(
        name=settings.template_name,
        namespace=settings.namespace,
        labels={f"{LABEL_PREFIX}/component": "runner", "app.kubernetes.io/part-of": "agentgraph"},
        entrypoint="run",
        service_account_name=settings.service_account,
        arguments=[Parameter(name=n, value=d, description=desc) if d is not None
                   else Parameter(name=n, description=desc) for n, d, desc in PARAMETERS],
        artifact_repository_ref=m.ArtifactRepositoryRef(config_map=settings.artifact_repository_configmap,
                                                        key=settings.artifact_repository_key),
        pod_gc=m.PodGC(strategy="OnPodSuccess"),
        ttl_strategy=m.TTLStrategy(seconds_after_success=86_400, seconds_after_failure=7 * 86_400),
        templates=[container],
    )
    return wt.to_dict()


def workflow_name(execution_id: str) -> str:
    """Deterministic Workflow name of an Execution (``run_Ab12`` -> ``agent-run-ab12...``).

    One name per Execution makes submission idempotent: a retried submit answers 409.
    DNS-1123: lower-case alphanumerics and dashes, at most 63 characters.
    """
    slug = _DNS_RE.sub("-", execution_id.lower()).strip("-")
    return f"agent-run-{slug}"[:63].rstrip("-")


def _label(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", value)[:63].strip("-._")


def build_workflow(settings: ArgoSettings, *, agent_id: str, input: str, execution_id: str | None = None,
                   version: int | None = None, thread_id: str | None = None, tenant_id: str = "default",
                   traceparent: str | None = None) -> dict[str, Any]:
    """A Workflow from the ``agent-run`` template (``workflowTemplateRef`` + arguments).

    Args:
        settings: template name and namespace.
        agent_id / input / version / thread_id / tenant_id: the run.
        execution_id: the queued Execution; names the workflow (idempotent submit).
            Without it the name is generated by Argo (``generateName``).
        traceparent: W3C ``traceparent`` header value of the submitting span.

    Returns:
        The Workflow manifest (what ``POST /api/v1/workflows/{ns}`` takes as ``workflow``).
    """
    values = {"agent-id": agent_id, "input": input, "version": "" if version is None else str(version),
              "thread-id": thread_id or "", "tenant-id": tenant_id, "execution-id": execution_id or "",
              "traceparent": traceparent or ""}
    labels = {f"{LABEL_PREFIX}/agent-id": _label(agent_id), f"{LABEL_PREFIX}/tenant-id": _label(tenant_id)}
    if execution_id:
        labels[f"{LABEL_PREFIX}/execution-id"] = _label(execution_id)
    wf = Workflow(
        name=workflow_name(execution_id) if execution_id else None,
        generate_name=None if execution_id else f"{settings.template_name}-",
        namespace=settings.namespace,
        labels=labels,
        workflow_template_ref=m.WorkflowTemplateRef(name=settings.template_name),
        arguments=[Parameter(name=n, value=values[n]) for n, _, _ in PARAMETERS],
    )
    return wf.to_dict()


__all__ = ["PARAMETERS", "RESULT_PATH", "RETRY_EXPRESSION", "build_workflow", "build_workflow_template",
           "workflow_name"]
