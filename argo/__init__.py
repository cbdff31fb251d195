"""Argo Workflows / Argo Events integration (issue 6).

* :func:`build_workflow_template` - the ``agent-run`` WorkflowTemplate (hera);
  :func:`build_workflow` - a Workflow from it for one run.
* :class:`ArgoExecutor` - submits queued Executions through the Argo Server API
  (:class:`ArgoServerClient`) and syncs workflow phases back into them.
* :func:`trigger_manifests` - EventSource + Sensor per agent trigger (plain data).
* :func:`export_manifests` - write all of it to ``deploy/argo`` (``agentgraph argo export``).
* :func:`validate_manifest` - offline validation against the official Argo schemas.
* :class:`QueueExecutor` / :class:`QueueWorker` - the local executor that stands in for
  Argo on one machine: a Redis job queue and the ``agentgraph worker`` processes.

See docs/argo.md.
"""

from argo._client import GRPC_CODES, ArgoAPIError, ArgoServerClient
from argo._events import SENSOR_SERVICE_ACCOUNT, event_source, resource_name, sensor, trigger_manifests
from argo._executor import PHASE_STATUS, TERMINAL, ArgoExecutor, current_traceparent, start_argo_executor
from argo._export import AgentTriggers, export_manifests
from argo._queue import DEAD_LETTER_CODES, Job, JobQueue, QueueExecutor, QueueWorker, start_queue_executor
from argo._schemas import SCHEMA_DIR_ENV, ArgoManifestError, manifest_errors, schema_dir, validate_manifest
from argo._template import PARAMETERS, RESULT_PATH, build_workflow, build_workflow_template, workflow_name

__all__ = [
    "DEAD_LETTER_CODES",
    "Job",
    "JobQueue",
    "QueueExecutor",
    "QueueWorker",
    "start_queue_executor",
    "GRPC_CODES",
    "PARAMETERS",
    "PHASE_STATUS",
    "RESULT_PATH",
    "SCHEMA_DIR_ENV",
    "SENSOR_SERVICE_ACCOUNT",
    "TERMINAL",
    "AgentTriggers",
    "ArgoAPIError",
    "ArgoExecutor",
    "ArgoManifestError",
    "ArgoServerClient",
    "build_workflow",
    "build_workflow_template",
    "current_traceparent",
    "event_source",
    "export_manifests",
    "manifest_errors",
    "resource_name",
    "schema_dir",
    "start_argo_executor",
    "sensor",
    "trigger_manifests",
    "validate_manifest",
    "workflow_name",
]
