"""Argo Events manifests for agent triggers, written as plain data.

Each trigger of an agent (``agentgraph.triggers``) becomes one EventSource and one
Sensor. The Sensor's ``argoWorkflow`` trigger submits a Workflow from the
``agent-run`` WorkflowTemplate (``workflowTemplateRef``) and maps the event payload
into its parameters. hera's events models have known shape bugs, hence dicts.

Payload -> parameter mapping (Argo Events ``dataKey`` paths into the event data):

| kind | input | other |
|---|---|---|
| webhook | ``trigger.input_key`` (default ``body.input``) | ``header.Traceparent.0`` -> traceparent |
| calendar | fixed ``trigger.input`` | - |
| s3 | ``trigger.input`` + `` `` + ``notification.0.s3.object.key`` (append) | - |
| kafka | ``trigger.input_key`` (default ``body.input``) | - |
"""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

from agentgraph.settings import ArgoSettings
from agentgraph.triggers import CalendarTrigger, KafkaTrigger, S3Trigger, TriggerSpec, WebhookTrigger, trigger_slug

from argo._schemas import validate_manifest
from argo._template import PARAMETERS, build_workflow

API_VERSION = "argoproj.io/v1alpha1"
SENSOR_SERVICE_ACCOUNT = "agentgraph-events"
_PARAM_INDEX = {name: i for i, (name, _, _) in enumerate(PARAMETERS)}
_NAME_MAX = 50  # the webhook EventSource's Service is "<name>-eventsource-svc": <= 63 characters


def resource_name(agent_id: str, trigger_name: str) -> str:
    """Kubernetes name of a trigger's EventSource and Sensor (``<agent>-<trigger>``, <= 50 characters).

    Long names are cut and suffixed with 6 hex digits of a SHA-1 so distinct triggers stay distinct.
    """
    full = re.sub(r"[^a-z0-9]+", "-", f"{agent_id}-{trigger_name}".lower()).strip("-")
    if len(full) <= _NAME_MAX:
        return full
    digest = hashlib.sha1(f"{agent_id}/{trigger_name}".encode()).hexdigest()[:6]
    return f"{full[:_NAME_MAX - 7].rstrip('-')}-{digest}"


def _metadata(name: str, settings: ArgoSettings, agent_id: str, trigger: Any) -> dict[str, Any]:
    return {"name": name, "namespace": settings.namespace, "labels": {
        "app.kubernetes.io/part-of": "agentgraph", "agentgraph.dev/agent-id": trigger_slug(agent_id),
        "agentgraph.dev/trigger": trigger.name, "agentgraph.dev/trigger-kind": trigger.kind}}


def event_source(agent_id: str, trigger: TriggerSpec, settings: ArgoSettings) -> dict[str, Any]:
    """The EventSource of one trigger (event name = trigger name).

    Returns:
        An ``argoproj.io/v1alpha1`` EventSource manifest.
    """
    name = resource_name(agent_id, trigger.name)
    spec: dict[str, Any]
    if isinstance(trigger, WebhookTrigger):
        port = str(trigger.port)  # Argo Events types webhook ports as strings
        spec = {"service": {"ports": [{"port": trigger.port, "targetPort": trigger.port}]},
                "webhook": {trigger.name: {
                    "port": port, "endpoint": trigger.endpoint, "method": trigger.method,
                    # url is required by the published schema (a known over-strictness); it is
                    # the in-cluster address of this event source's Service.
                    "url": f"http://{name}-eventsource-svc.{settings.namespace}.svc:{port}",
                }}}
    elif isinstance(trigger, CalendarTrigger):
        spec = {"calendar": {trigger.name: {"schedule": trigger.schedule, "timezone": trigger.timezone}}}
    elif isinstance(trigger, S3Trigger):
        spec = {"minio": {trigger.name: {
            "bucket": {"name": trigger.bucket}, "endpoint": trigger.endpoint, "events": list(trigger.events),
            "filter": {"prefix": trigger.prefix, "suffix": trigger.suffix}, "insecure": trigger.insecure,
            "accessKey": {"name": trigger.credentials_secret, "key": "accesskey"},
            "secretKey": {"name": trigger.credentials_secret, "key": "secretkey"},
        }}}
    elif isinstance(trigger, KafkaTrigger):
        spec = {"kafka": {trigger.name: {
            "url": trigger.url, "topic": trigger.topic, "jsonBody": True,
            "consumerGroup": {"groupName": trigger.consumer_group, "oldest": False},
        }}}
    else:  # pragma: no cover - the discriminated union admits nothing else
        raise TypeError(f"unknown trigger kind {getattr(trigger, 'kind', trigger)!r}")
    return {"apiVersion": API_VERSION, "kind": "EventSource",
            "metadata": _metadata(name, settings, agent_id, trigger), "spec": spec}


def _param(dep: str, dest: str, *, data_key: str | None = None, value: str | None = None,
           operation: str | None = None) -> dict[str, Any]:
    src: dict[str, Any] = {"dependencyName": dep}
    if data_key is not None:
        src["dataKey"] = data_key
    if value is not None:
        src["value"] = value  # default when data_key is absent from the event
    out: dict[str, Any] = {"src": src, "dest": f"spec.arguments.parameters.{_PARAM_INDEX[dest]}.value"}
    if operation:
        out["operation"] = operation
    return out


def sensor(agent_id: str, trigger: TriggerSpec, settings: ArgoSettings, *, tenant_id: str = "default",
           service_account: str = SENSOR_SERVICE_ACCOUNT) -> dict[str, Any]:
    """The Sensor of one trigger: on each event, submit a Workflow from ``agent-run``.

    Args:
        agent_id / trigger: what runs and on what.
        settings: template name and namespace.
        tenant_id: tenant parameter of the submitted workflows.
        service_account: ServiceAccount of the sensor pod (needs ``create`` on workflows; Helm chart RBAC).

    Returns:
        An ``argoproj.io/v1alpha1`` Sensor manifest; its embedded Workflow validates against
        the Workflow schema (:func:`validate_trigger_manifests`).
    """
    name = resource_name(agent_id, trigger.name)
    dep = trigger.name
    initial = trigger.input if isinstance(trigger, CalendarTrigger) else (
        f"{trigger.input} " if isinstance(trigger, S3Trigger) else "")
    workflow = build_workflow(settings, agent_id=agent_id, input=initial, thread_id=trigger.thread_id,
                              tenant_id=tenant_id)
    workflow["metadata"]["generateName"] = f"{name}-"
    workflow["metadata"]["labels"]["agentgraph.dev/trigger"] = trigger.name
    params: list[dict[str, Any]] = []
    if isinstance(trigger, (WebhookTrigger, KafkaTrigger)):
        params.append(_param(dep, "input", data_key=trigger.input_key))
    if isinstance(trigger, WebhookTrigger):
        # Go canonicalises header names: the W3C "traceparent" header arrives as "Traceparent".
        params.append(_param(dep, "traceparent", data_key="header.Traceparent.0", value=""))
    if isinstance(trigger, S3Trigger):
        params.append(_param(dep, "input", data_key="notification.0.s3.object.key", operation="append"))
    return {"apiVersion": API_VERSION, "kind": "Sensor", "metadata": _metadata(name, settings, agent_id, trigger),
            "spec": {
                "template": {"serviceAccountName": service_account},
                "dependencies": [{"name": dep, "eventSourceName": name, "eventName": trigger.name}],
                "triggers": [{
                    "template": {"name": "agent-run", "argoWorkflow": {
                        "operation": "submit", "source": {"resource": workflow}, "parameters": params}},
                    "atLeastOnce": True,
                    "retryStrategy": {"steps": 3, "duration": "2s", "factor": 2.0},
                }],
            }}


def trigger_manifests(agent_id: str, triggers: list[TriggerSpec], settings: ArgoSettings, *,
                      tenant_id: str = "default") -> list[dict[str, Any]]:
    """EventSource + Sensor for every enabled trigger, each validated against the official schemas.

    Returns:
        ``[event_source_1, sensor_1, event_source_2, sensor_2, ...]``.

    Raises:
        ArgoManifestError: a manifest (or a Sensor's embedded Workflow) does not validate.
        ConfigError: the schemas are missing.
    """
    out: list[dict[str, Any]] = []
    for trigger in triggers:
        if not trigger.enabled:
            continue
        pair = [event_source(agent_id, trigger, settings), sensor(agent_id, trigger, settings, tenant_id=tenant_id)]
        validate_trigger_manifests(pair)
        out.extend(pair)
    return out


def validate_trigger_manifests(manifests: list[dict[str, Any]]) -> None:
    """Validate EventSources and Sensors, and the Workflow each Sensor would submit.

    The Sensor schema types ``source.resource`` as a free object, so the embedded
    Workflow is checked against the Workflow schema separately.

    Raises:
        ArgoManifestError: the first manifest that does not validate.
    """
    for manifest in manifests:
        validate_manifest(manifest)
        if manifest.get("kind") != "Sensor":
            continue
        for trig in manifest["spec"]["triggers"]:
            resource = (trig["template"].get("argoWorkflow") or {}).get("source", {}).get("resource")
            if resource:
                wf = copy.deepcopy(resource)
                wf["metadata"].setdefault("name", "sensor-check")  # generateName is filled in by Argo
                validate_manifest(wf)


__all__ = ["SENSOR_SERVICE_ACCOUNT", "event_source", "resource_name", "sensor", "trigger_manifests",
           "validate_trigger_manifests"]
