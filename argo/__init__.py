"""Argo Workflows / Argo Events integration (issue 6): WorkflowTemplate ``agent-run``,
submission, Events manifests and the local executor. Empty in the walking skeleton:
runs execute in-process through ``runners.RunService``."""

__all__: list[str] = []
