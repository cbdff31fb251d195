"""An Argo Server stand-in for tests (no Kubernetes here).

Serves the two routes agentgraph uses, like ``argo-server`` does:

* ``POST /api/v1/workflows/{namespace}`` with ``{"workflow": {...}}``: the workflow is
  validated against the *official* Workflow JSON schema (read directly with
  jsonschema, independent of ``argo._schemas``) and Argo's own admission rules
  that the schema cannot express (a ``workflowTemplateRef`` needs a ``name`` of an
  existing template; names are unique).
* ``GET /api/v1/workflows/{namespace}/{name}``.

Errors are grpc-gateway JSON ``{"code": <grpc code>, "message": "..."}`` with the
HTTP status Argo answers: 400/3 invalid, 401/16 no or wrong token, 404/5 unknown
workflow or template, 409/6 name taken. Workflows are kept in memory; tests move
their phase with :meth:`ArgoStub.set_phase`.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import jsonschema
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class ArgoStub:
    """State and ASGI app of the stand-in.

    Args:
        schema_dir: directory with ``argo-workflows.schema.json``.
        token: the bearer token accepted (``Authorization: Bearer <token>``).
        templates: names of WorkflowTemplates that "exist" per namespace.
    """

    def __init__(self, schema_dir: Path, *, token: str = "stub-token",
                 templates: dict[str, set[str]] | None = None) -> None:
        doc = json.loads((schema_dir / "argo-workflows.schema.json").read_text())
        self.validator = jsonschema.Draft202012Validator(
            {"definitions": doc["definitions"], "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.Workflow"})
        self.token = token
        self.templates = templates if templates is not None else {"agentgraph": {"agent-run"}}
        self.workflows: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []  # method, path, authorization, body
        self.app = self._build()

    def set_phase(self, namespace: str, name: str, phase: str, message: str | None = None) -> None:
        """Move a workflow to ``phase`` (Pending, Running, Succeeded, Failed, Error)."""
        status = self.workflows[(namespace, name)].setdefault("status", {})
        status["phase"] = phase
        if message is not None:
            status["message"] = message

    def _auth(self, request: Request) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.token}":
            return _error(401, 16, "token not valid. see https://argo-workflows.readthedocs.io/en/latest/faq/")
        return None

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/api/v1/workflows/{namespace}")
        async def create(namespace: str, request: Request) -> JSONResponse:
            raw = await request.body()
            self.requests.append({"method": "POST", "path": request.url.path,
                                  "authorization": request.headers.get("authorization"), "body": raw})
            if (denied := self._auth(request)) is not None:
                return denied
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return _error(400, 3, f"proto: syntax error: {exc}")
            wf = body.get("workflow") if isinstance(body, dict) else None
            if not isinstance(wf, dict):
                return _error(400, 3, "workflow is required in the request body")
            errors = sorted(self.validator.iter_errors(wf), key=lambda e: list(e.absolute_path))
            if errors:
                e = errors[0]
                where = ".".join(str(p) for p in e.absolute_path)
                return _error(400, 3, f"json: cannot unmarshal workflow: {where}: {e.message}")
            spec = wf["spec"]
            ref = spec.get("workflowTemplateRef")
            if ref is not None and not ref.get("name"):
                return _error(400, 3, "spec.workflowTemplateRef.name is required")
            if ref is None and not spec.get("templates"):
                return _error(400, 3, "spec.templates is required when no workflowTemplateRef is set")
            if ref is not None and ref["name"] not in self.templates.get(namespace, set()):
                return _error(404, 5, f'workflowtemplates.argoproj.io "{ref["name"]}" not found')
            meta = wf.setdefault("metadata", {})
            name = meta.get("name") or f"{meta.get('generateName', 'wf-')}{secrets.token_hex(3)}"
            if (namespace, name) in self.workflows:
                return _error(409, 6, f'workflows.argoproj.io "{name}" already exists')
            meta.update(name=name, namespace=namespace, uid=secrets.token_hex(8))
            self.workflows[(namespace, name)] = wf
            return JSONResponse(wf)

        @app.get("/api/v1/workflows/{namespace}/{name}")
        async def get(namespace: str, name: str, request: Request) -> JSONResponse:
            self.requests.append({"method": "GET", "path": request.url.path,
                                  "authorization": request.headers.get("authorization"), "body": b""})
            if (denied := self._auth(request)) is not None:
                return denied
            wf = self.workflows.get((namespace, name))
            if wf is None:
                return _error(404, 5, f'workflows.argoproj.io "{name}" not found')
            return JSONResponse(wf)

        return app


__all__ = ["ArgoStub"]
