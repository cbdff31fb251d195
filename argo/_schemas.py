"""Offline validation of Argo manifests against the official JSON schemas.

The schemas are the Argo projects' own ``api/jsonschema/schema.json`` files, kept
outside the repository in ``<repo>/../shared/schemas/argo/`` (see its README for
the commits). ``AGENTGRAPH_ARGO_SCHEMA_DIR`` points elsewhere.

Validation is per kind with ``jsonschema.Draft202012Validator`` against
``{"definitions": ..., "$ref": "#/definitions/<kind>"}``: the files' top-level
``oneOf`` over every kind gives unhelpful errors (README of the schema dir).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentgraph.errors import ConfigError, InvalidSpecError

SCHEMA_DIR_ENV = "AGENTGRAPH_ARGO_SCHEMA_DIR"
_REPO_ROOT = Path(__file__).resolve().parent.parent

#: (apiVersion group, kind) -> (schema file, definition name).
KINDS: dict[tuple[str, str], tuple[str, str]] = {
    ("argoproj.io/v1alpha1", "Workflow"): ("argo-workflows.schema.json", "io.argoproj.workflow.v1alpha1.Workflow"),
    ("argoproj.io/v1alpha1", "WorkflowTemplate"): (
        "argo-workflows.schema.json", "io.argoproj.workflow.v1alpha1.WorkflowTemplate"),
    ("argoproj.io/v1alpha1", "CronWorkflow"): (
        "argo-workflows.schema.json", "io.argoproj.workflow.v1alpha1.CronWorkflow"),
    ("argoproj.io/v1alpha1", "EventSource"): ("argo-events.schema.json", "io.argoproj.events.v1alpha1.EventSource"),
    ("argoproj.io/v1alpha1", "Sensor"): ("argo-events.schema.json", "io.argoproj.events.v1alpha1.Sensor"),
}

#: Known false positives of the official schemas (schema README): Kubernetes
#: int-or-string fields are typed ``string`` only, so an integer port is flagged
#: although the API server accepts it. Errors whose failing schema is this
#: definition are dropped (only there: a plain string field given an int is still an error).
#: Our own manifests write strings, so nothing of ours is hidden.
INT_OR_STRING_REF = "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"


class ArgoManifestError(InvalidSpecError):
    """A generated or submitted Argo manifest does not validate against the official schema."""

    code = "ARGO_MANIFEST_INVALID"


def schema_dir(override: str | Path | None = None) -> Path:
    """Directory holding ``argo-workflows.schema.json`` and ``argo-events.schema.json``.

    Resolution: ``override``, else ``$AGENTGRAPH_ARGO_SCHEMA_DIR``, else ``<repo>/../shared/schemas/argo``.

    Raises:
        ConfigError: the directory or a schema file is missing (the message says where it looked).
    """
    path = Path(override or os.environ.get(SCHEMA_DIR_ENV) or _REPO_ROOT.parent / "shared" / "schemas" / "argo")
    missing = [n for n in ("argo-workflows.schema.json", "argo-events.schema.json") if not (path / n).is_file()]
    if missing:
        raise ConfigError(
            f"The Argo JSON schemas are missing: {', '.join(missing)} not found in {path}. Put the official "
            f"schemas there (argoproj/argo-workflows and argoproj/argo-events api/jsonschema/schema.json) or set "
            f"{SCHEMA_DIR_ENV} to the directory that holds them."
        )
    return path


@lru_cache(maxsize=8)
def _validator(path: str, file: str, definition: str) -> Any:
    import jsonschema

    doc = json.loads((Path(path) / file).read_text())
    if definition not in doc["definitions"]:
        raise ConfigError(f"{file} in {path} has no definition {definition!r}; is it the official Argo schema?")
    return jsonschema.Draft202012Validator({"definitions": doc["definitions"], "$ref": f"#/definitions/{definition}"})


def _resolve(definitions: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _is_int_or_string_false_positive(err: Any, definitions: dict[str, Any], root: str) -> bool:
    """True for ``<int> is not of type 'string'`` where the property is ``$ref: IntOrString``.

    jsonschema's error paths skip ``$ref`` hops, so the property's own schema is found by
    walking the path from the root definition, resolving references on the way.
    """
    if not (isinstance(err.instance, int) and not isinstance(err.instance, bool) and err.validator == "type"):
        return False
    node: Any = definitions[root]
    path = list(err.absolute_schema_path)[:-1]  # drop the final "type"
    for i, part in enumerate(path):
        node = _resolve(definitions, node) if part not in node else node
        node = node[part] if isinstance(node, dict) else node[int(part)]
        if i == len(path) - 1:
            return isinstance(node, dict) and node.get("$ref") == INT_OR_STRING_REF
    return False


def manifest_errors(manifest: dict[str, Any], *, schema_path: str | Path | None = None) -> list[str]:
    """Validate one manifest by its ``apiVersion``/``kind``; return readable errors (empty = valid).

    Args:
        manifest: a Workflow, WorkflowTemplate, CronWorkflow, EventSource or Sensor as a dict.
        schema_path: schema directory override (see :func:`schema_dir`).

    Returns:
        ``["spec.templates.0.container.image: 5 is not of type 'string'", ...]``, sorted by path.

    Raises:
        ArgoManifestError: not a mapping, or an unknown apiVersion/kind.
        ConfigError: the schemas are missing.
    """
    if not isinstance(manifest, dict):
        raise ArgoManifestError(f"An Argo manifest must be a mapping, got {type(manifest).__name__}.")
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    if key not in KINDS:
        known = ", ".join(f"{a} {k}" for a, k in KINDS)
        raise ArgoManifestError(f"Unknown Argo manifest apiVersion/kind {key}; known: {known}.")
    file, definition = KINDS[key]  # type: ignore[index]
    validator = _validator(str(schema_dir(schema_path)), file, definition)
    definitions = validator.schema["definitions"]
    out = []
    for err in validator.iter_errors(manifest):
        if _is_int_or_string_false_positive(err, definitions, definition):
            continue
        where = ".".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{where}: {err.message}")
    return sorted(out)


def validate_manifest(manifest: dict[str, Any], *, schema_path: str | Path | None = None) -> dict[str, Any]:
    """Raise unless ``manifest`` validates (see :func:`manifest_errors`); return it unchanged.

    Raises:
        ArgoManifestError: listing every schema error with its path.
        ConfigError: the schemas are missing.
    """
    errors = manifest_errors(manifest, schema_path=schema_path)
    if errors:
        name = (manifest.get("metadata") or {}).get("name") or (manifest.get("metadata") or {}).get("generateName")
        raise ArgoManifestError(
            f"{manifest.get('kind')} {name!r} does not validate against the official Argo schema:\n"
            + "\n".join(f"- {e}" for e in errors)
        )
    return manifest


__all__ = ["ArgoManifestError", "INT_OR_STRING_REF", "KINDS", "SCHEMA_DIR_ENV", "manifest_errors", "schema_dir",
           "validate_manifest"]
