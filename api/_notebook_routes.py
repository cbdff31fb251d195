"""REST upload of notebook documents (multipart files do not fit GraphQL well).

``POST /api/notebooks/{notebook_id}/documents`` with one or more ``file`` parts
(``multipart/form-data``) and an optional ``metadata`` part (a JSON object copied onto
every chunk of these files). It answers **202 Accepted** with the receipts as recorded
(``queued``, or ``skipped`` when the file is unchanged); ingestion then runs in the
background exactly like the ``addDocuments`` mutation (same service, same hashes,
same receipts; poll ``notebook(id)`` over GraphQL or the Notebooks tab).

The whole request is checked before anything is stored, so a bad file leaves the
notebook untouched: unknown notebook 404, no file 400, a file over the upload limit
(``AGENTGRAPH_NOTEBOOKS__MAX_DOCUMENT_MB``, default 20 MiB) 413, a file type that cannot
be parsed 415, two files with one name 400. Authentication and roles are the GraphQL
ones: ``addDocuments`` needs the admin role.

Example::

    curl -H "Authorization: Bearer $AGENTGRAPH_API_KEY" \\
         -F file=@manual.pdf -F file=@faq.md -F 'metadata={"team": "support"}' \\
         http://127.0.0.1:8000/api/notebooks/product-manuals-1a2b3c/documents
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from agentgraph.errors import ServiceUnavailableError, UserError
from memory import DocumentError, Upload, detect_format

from api._access import audited
from api._auth import acting_as

router = APIRouter(tags=["notebooks"])

#: Files accepted in one request (more: split the upload).
MAX_FILES = 50
#: Multipart overhead allowed on top of the files' bytes (headers, the metadata part).
_OVERHEAD_BYTES = 1024 * 1024


class PayloadTooLargeError(UserError):
    """A file (or the whole request) is over the upload limit."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedDocumentTypeError(UserError):
    """A file's type is not one notebooks can parse."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


def _limit_mib(limit_bytes: int) -> str:
    return f"{limit_bytes / 1024 / 1024:g} MiB"


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, UploadFile):
        raise UserError("The metadata part must be a form field holding JSON, not a file.")
    try:
        meta = json.loads(str(raw))
    except ValueError as exc:
        raise UserError(f"metadata is not valid JSON ({exc}); send an object, e.g. {{\"team\": \"sales\"}}.") from exc
    if not isinstance(meta, dict):
        raise UserError("metadata must be a JSON object, e.g. {\"team\": \"sales\"}.")
    return meta


async def _uploads(request: Request, max_bytes: int) -> list[Upload]:
    """Parse and check the multipart body (see module docstring for the errors)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UserError("Send the files as multipart/form-data with one `file` part per file "
                        "(curl: -F file=@manual.pdf).")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FILES * max_bytes + _OVERHEAD_BYTES:
        raise PayloadTooLargeError(f"The request has {declared} bytes; each file may have at most "
                                   f"{_limit_mib(max_bytes)} and a request at most {MAX_FILES} files.")
    form = await request.form(max_files=MAX_FILES + 1, max_fields=10)
    try:
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        if not files:
            raise UserError("No file in the request: add one `file` part per document (curl: -F file=@manual.pdf).")
        if len(files) > MAX_FILES:
            raise UserError(f"{len(files)} files in one request; the limit is {MAX_FILES}. Split the upload.")
        meta = _metadata(form.get("metadata"))
        out: list[Upload] = []
        for f in files:
            name = (f.filename or "").strip()
            if not name:
                raise UserError("Every `file` part needs a file name (curl sends it with -F file=@path).")
            size = f.size if f.size is not None else len(await f.read())
            if size > max_bytes:
                raise PayloadTooLargeError(f"{name!r} has {size} bytes; the limit is {_limit_mib(max_bytes)} per "
                                           "document. Split it, or raise AGENTGRAPH_NOTEBOOKS__MAX_DOCUMENT_MB.")
            try:
                detect_format(name, f.content_type)
            except DocumentError as exc:
                raise UnsupportedDocumentTypeError(exc.message) from exc
            await f.seek(0)
            out.append(Upload(filename=name, data=await f.read(), mime_type=f.content_type, metadata=dict(meta)))
        return out
    finally:
        await form.close()


@router.post("/api/notebooks/{notebook_id}/documents", status_code=202)
async def upload_documents(notebook_id: str, request: Request) -> JSONResponse:
    """Add or update documents of a notebook from multipart files; 202 with the receipts."""
    platform = request.app.state.platform
    auth = getattr(platform, "auth", None)
    caller = await auth.authenticate(request.headers, request.cookies) if auth else None
    if caller is not None:
        caller.require("admin", "Adding documents to a notebook")
    if platform.memory is None:
        raise ServiceUnavailableError("Notebooks are not initialised in this process.")
    notebooks = platform.memory.notebooks
    with acting_as(caller):
        tenant_id = platform.tenant_id
        # Unknown notebook first (404), before reading the body.
        await platform.memory.notebook_repo.get(tenant_id=tenant_id, notebook_id=notebook_id)
        # Audited like the GraphQL mutation of the same name (issue 3: every mutation is in the audit log).
        async with audited(platform, caller, "addDocuments", "Notebook", notebook_id):
            uploads = await _uploads(request, notebooks.max_document_bytes)
            docs = await notebooks.add_documents(tenant_id=tenant_id, notebook_id=notebook_id, uploads=uploads)
    return JSONResponse(status_code=202, content={
        "notebook_id": notebook_id,
        "documents": [{"id": d.id, "filename": d.filename, "status": d.status, "content_hash": d.content_hash,
                       "size_bytes": d.size_bytes} for d in docs],
    })


__all__ = ["router", "MAX_FILES", "PayloadTooLargeError", "UnsupportedDocumentTypeError"]
