"""Load and check the OpenAPI documents users register as tools.

A tool is an HTTP API described by an OpenAPI 3.0/3.1 (or Swagger 2.0) document
plus a base URL. Swagger 2.0 is validated as 2.0 (errors name the user's own
paths), then translated to OpenAPI 3.0.3 offline by
:func:`runners._toolhub_swagger.convert_swagger2`, because FastMCP reads 3.x only.
:func:`load_openapi` turns the uploaded text into an :class:`OpenAPIDocument`
whose ``spec`` is fully resolved (no ``$ref`` left), ready for
``FastMCP.from_openapi`` (see :mod:`runners._mcp`). :func:`check_base_url` checks
that the API answers before the tool is registered.

Security: prance follows any ``$ref`` it meets, including ``file://`` and
``http(s)://`` (DESIGN.md, "facts learned the hard way"), so every ``$ref`` is
checked to be document-local (``#/...``) *before* prance sees the document.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx
import yaml

from agentgraph.errors import InvalidSpecError, UserError
from runners._toolhub_swagger import convert_swagger2

__all__ = ["Operation", "OpenAPIDocument", "load_openapi", "check_base_url", "mcp_tool_name", "HTTP_METHODS"]

#: Operation keys of an OpenAPI Path Item object (OpenAPI 3.0/3.1 §4.8.9).
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_FIX = "Fix the document and upload it again."
# A JSON/YAML node takes at least ~2 bytes, so a document within ``max_bytes``
# has fewer nodes than bytes; more means YAML aliases are expanding ("billion laughs").
_NODES_PER_BYTE = 1


@dataclass(frozen=True)
class Operation:
    """One HTTP operation of an OpenAPI document; becomes one MCP tool.

    Attributes:
        operation_id: the document's ``operationId``, or a generated
            ``{method}_{path}`` slug when it had none (e.g. ``get_leads_lead_id``).
        method: HTTP method, upper case (``GET``).
        path: path template as in the document (``/leads/{lead_id}``).
        summary: ``summary`` (or ``description``) of the operation, may be empty.
        tags: the operation's tags.
    """

    operation_id: str
    method: str
    path: str
    summary: str = ""
    tags: tuple[str, ...] = ()


@dataclass
class OpenAPIDocument:
    """A validated, fully resolved OpenAPI 3 document.

    Attributes:
        spec: the document as a JSON-compatible dict with every local ``$ref``
            inlined (recursive schemas become permissive objects); each operation
            has an ``operationId``.
        title: ``info.title``.
        description: ``info.description`` (may be empty).
        version: ``info.version`` (the API's version, not OpenAPI's).
        openapi_version: the ``openapi`` field, e.g. ``"3.1.0"`` (``"3.0.3"`` for
            a converted Swagger 2.0 document).
        operations: one :class:`Operation` per operation, in document order.
        source_version: the version as uploaded: ``"2.0"`` for Swagger, else
            the same as ``openapi_version``.
    """

    spec: dict[str, Any]
    title: str
    description: str
    version: str
    openapi_version: str
    operations: list[Operation] = field(default_factory=list)
    source_version: str = ""

    def tool_description(self) -> str:
        """Text describing the tool for embeddings and LLM prompts.

        Returns:
            ``title``, ``description``, then one line per operation such as
            ``"GET /leads - Search leads by name, email or interest"``.
        """
        lines = [self.title]
        if self.description:
            lines.append(self.description)
        for op in self.operations:
            lines.append(f"{op.method} {op.path} - {op.summary or op.operation_id}")
        return "\n".join(lines)


def load_openapi(
    source: str | bytes, *, max_bytes: int = 2_000_000, max_operations: int = 500
) -> OpenAPIDocument:
    """Parse, check and resolve an uploaded OpenAPI 3.x or Swagger 2.0 document.

    Args:
        source: the document as YAML or JSON text (``bytes`` must be UTF-8).
        max_bytes: size cap of ``source`` in bytes (UTF-8 encoded).
        max_operations: cap on the number of operations (= MCP tools).

    Returns:
        The :class:`OpenAPIDocument`, validated by prance with the
        ``openapi-spec-validator`` backend.

    Raises:
        InvalidSpecError: the text is not YAML/JSON, too big, not OpenAPI 3.x
            or Swagger 2.0, has a non-local ``$ref``, too many operations, or
            fails validation. The message says what and how to fix. Any
            unexpected failure of the validator is reported the same way
            (an upload never crashes the server).
    """
    raw = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    if len(raw) > max_bytes:
        raise InvalidSpecError(
            f"OpenAPI document is {len(raw)} bytes, more than the limit of {max_bytes} bytes: "
            "split the API into several tools or remove unused schemas."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSpecError(
            f"OpenAPI document is not UTF-8 text ({exc.reason} at byte {exc.start}): upload the YAML or JSON file."
        ) from exc
    try:
        parsed = yaml.safe_load(text)  # JSON is (nearly) a subset of YAML
    except RecursionError as exc:
        raise InvalidSpecError(f"OpenAPI document nests too deeply to be read. {_FIX}") from exc
    except yaml.YAMLError as exc:
        raise InvalidSpecError(
            f"OpenAPI document is neither YAML nor JSON: {_one_line(str(exc))}. {_FIX}"
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidSpecError(
            "OpenAPI document must be a YAML/JSON object with 'openapi', 'info' and 'paths' keys, "
            f"got {type(parsed).__name__}. {_FIX}"
        )
    source_version = _check_version(parsed)
    budget = [max(len(raw) * _NODES_PER_BYTE, 10_000)]
    try:
        doc = _normalize(parsed, "", budget)
    except RecursionError as exc:
        raise InvalidSpecError(f"OpenAPI document nests too deeply to be read. {_FIX}") from exc
    _check_local_refs(doc)
    try:
        if source_version == "2.0":
            _count_operations(doc, max_operations)  # cheap refusal before validating a huge document
            _validate_swagger2(doc)
            doc = convert_swagger2(doc)
        ops = _collect_operations(doc, max_operations)
        spec = _resolve_and_validate(doc)
    except InvalidSpecError:
        raise
    except RecursionError as exc:
        raise InvalidSpecError(f"OpenAPI document nests too deeply to be read. {_FIX}") from exc
    except Exception as exc:  # a validator bug must not become a 500 for one bad upload
        raise InvalidSpecError(
            f"OpenAPI document could not be read ({type(exc).__name__}: {_one_line(str(exc), 200)}). {_FIX}"
        ) from exc
    info = spec.get("info") or {}
    return OpenAPIDocument(
        spec=spec,
        title=str(info.get("title") or ""),
        description=str(info.get("description") or ""),
        version=str(info.get("version") or ""),
        openapi_version=str(spec.get("openapi")),
        operations=ops,
        source_version=source_version or str(spec.get("openapi")),
    )


def _check_version(doc: dict[str, Any]) -> str:
    """``"2.0"`` for Swagger 2.0, ``""`` for OpenAPI 3.x; raises for anything else."""
    if "swagger" in doc:
        if doc.get("swagger") != "2.0":
            raise InvalidSpecError(
                f"Swagger version {doc.get('swagger')!r} is not supported: use Swagger 2.0 or OpenAPI 3.x. "
                "Write the version as the string \"2.0\" (quoted in YAML). " + _FIX
            )
        if "openapi" in doc:
            raise InvalidSpecError("OpenAPI document has both 'swagger' and 'openapi' fields: keep one. " + _FIX)
        return "2.0"
    version = doc.get("openapi")
    if version is None:
        raise InvalidSpecError(
            "OpenAPI document has no 'openapi' version field: add e.g. \"openapi: 3.1.0\" at the top. " + _FIX
        )
    if not isinstance(version, str):
        raise InvalidSpecError(
            f"OpenAPI version must be a string such as \"3.1.0\", got {version!r} ({type(version).__name__}): "
            "quote it in YAML. " + _FIX
        )
    if not re.fullmatch(r"3\.\d+(\.\d+)?(-.+)?", str(version)):
        raise InvalidSpecError(
            f"OpenAPI version {version!r} is not supported: only OpenAPI 3.x (3.0, 3.1) and Swagger 2.0 are supported. "
            + _FIX
        )
    return ""


def _normalize(node: Any, where: str, budget: list[int]) -> Any:
    """Copy ``node`` as plain JSON data, refusing non-local ``$ref`` values.

    Keys become strings (YAML reads ``200:`` as an int), dates become ISO text;
    copying (rather than sharing) YAML aliases is bounded by ``budget`` nodes.
    """
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidSpecError(
            "OpenAPI document expands to too many nodes (YAML anchors/aliases?): "
            "remove aliases or split the API into several tools."
        )
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            skey = str(key).lower() if isinstance(key, bool) else str(key)
            child = f"{where}.{skey}" if where else skey
            if skey == "$ref" and isinstance(value, str):
                _check_ref(value, where or "(root)")
            out[skey] = _normalize(value, child, budget)
        return out
    if isinstance(node, list):
        return [_normalize(v, f"{where}[{i}]", budget) for i, v in enumerate(node)]
    if isinstance(node, (_dt.date, _dt.datetime)):
        return node.isoformat()
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    return str(node)


def _check_ref(ref: str, where: str) -> None:
    # Only "#/..." (same document) is allowed: anything else makes prance read
    # local files or fetch URLs on the server's behalf.
    if ref == "#" or ref.startswith("#/"):
        return
    raise InvalidSpecError(
        f"remote or file $ref {ref!r} at {where} is refused: inline the schema or use a "
        "local '#/components/...' reference."
    )


def _check_local_refs(doc: dict[str, Any]) -> None:
    """Refuse a ``#/...`` ``$ref`` that points nowhere, naming it and where it is (clearer than the validators)."""
    stack: list[tuple[Any, str]] = [(doc, "")]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and not _pointer_exists(doc, ref):
                raise InvalidSpecError(
                    f"OpenAPI document has a $ref that cannot be resolved: {ref!r} at {where or '(root)'} points to "
                    f"nothing. Add the referenced object or fix the reference. {_FIX}"
                )
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))


def _pointer_exists(doc: Any, ref: str) -> bool:
    node = doc
    for raw in ref[2:].split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _count_operations(doc: dict[str, Any], max_operations: int) -> None:
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return
    n = sum(1 for item in paths.values() if isinstance(item, dict)
            for m in HTTP_METHODS if isinstance(item.get(m), dict))
    if n > max_operations:
        raise InvalidSpecError(
            f"OpenAPI document has {n} operations, more than the limit of {max_operations}: "
            "split the API into several tools, keeping the operations agents need."
        )


def _validate_swagger2(doc: dict[str, Any]) -> None:
    """Validate a Swagger 2.0 document as 2.0 (prance, openapi-spec-validator backend)."""
    import prance
    from prance.util.url import ResolutionError

    try:
        prance.BaseParser(spec_string=json.dumps(doc), backend="openapi-spec-validator", lazy=True,
                          strict=False).parse()
    except prance.ValidationError as exc:
        raise InvalidSpecError(f"Swagger 2.0 document is not valid: {_describe(exc)}. {_FIX}") from exc
    except ResolutionError as exc:
        msg = _one_line(str(exc)).replace("file:///__placeholder_url__.yaml", "")
        raise InvalidSpecError(f"Swagger 2.0 document has a $ref that cannot be resolved: {msg}. {_FIX}") from exc


def _collect_operations(doc: dict[str, Any], max_operations: int) -> list[Operation]:
    """List operations, generating missing ``operationId`` values in ``doc``."""
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return []  # the validator reports a missing/invalid 'paths'
    found: list[tuple[str, str, dict[str, Any]]] = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                found.append((method, path, op))
    if len(found) > max_operations:
        raise InvalidSpecError(
            f"OpenAPI document has {len(found)} operations, more than the limit of {max_operations}: "
            "split the API into several tools, keeping the operations agents need."
        )
    # fastmcp renames tools whose operationId is not a plain slug (``issues/get`` -> ``issuesget``), so
    # such ids are rewritten to that name here: the stored operation ids are the MCP tool names agents use.
    for _, _, op in found:
        raw_id = op.get("operationId")
        if raw_id is not None and str(raw_id) != mcp_tool_name(str(raw_id)):
            op["x-original-operation-id"] = str(raw_id)
            op["operationId"] = mcp_tool_name(str(raw_id)) or None
    used: set[str] = set()
    where: dict[str, str] = {}
    for method, path, op in found:
        oid = op.get("operationId")
        renamed = "x-original-operation-id" in op
        if oid and oid in where and not renamed:  # the document itself uses this id twice
            raise InvalidSpecError(
                f"operationId {oid!r} is used by two operations ({where[oid]} and {method.upper()} {path}): "
                f"operationIds must be unique; rename one. {_FIX}"
            )
        if oid and not renamed and oid not in where:
            where[oid] = f"{method.upper()} {path}"
        if oid and oid in used:  # duplicate created by renaming to an MCP name: the later one gets a suffix
            n = 2
            while f"{oid}_{n}" in used:
                n += 1
            op.setdefault("x-original-operation-id", oid)
            op["operationId"] = f"{oid}_{n}"
        if op.get("operationId"):
            used.add(str(op["operationId"]))
    ops: list[Operation] = []
    for method, path, op in found:
        if not op.get("operationId"):
            # MCP tools need a name; derive a stable one from method and path.
            base = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]+", "_", f"{method}_{path}")).strip("_")[:50]
            name, n = base, 2
            while name in used:
                name, n = f"{base}_{n}", n + 1
            used.add(name)
            op["operationId"] = name
        summary = op.get("summary") or op.get("description") or ""
        tags = tuple(str(t) for t in op.get("tags") or () if isinstance(t, (str, int)))
        ops.append(Operation(str(op["operationId"]), method.upper(), path, _one_line(str(summary)), tags))
    return ops


def mcp_tool_name(operation_id: str) -> str:
    """The MCP tool name fastmcp gives an operationId (same rules as fastmcp's ``_slugify``).

    ``.``/``-``/spaces become ``_``, other characters outside ``[A-Za-z0-9_]`` are dropped,
    runs of ``_`` collapse, and the name is cut to 56 characters (fastmcp's limit).
    """
    slug = re.sub(r"[\s\-\.]+", "_", operation_id)
    slug = re.sub(r"[^a-zA-Z0-9_]", "", slug)
    return re.sub(r"_+", "_", slug).strip("_")[:56]


def _resolve_and_validate(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate with prance (openapi-spec-validator backend) and inline local refs."""
    import prance
    from prance.util.resolver import permissive_object_on_recursion
    from prance.util.url import ResolutionError

    try:
        parser = prance.ResolvingParser(
            spec_string=json.dumps(doc),
            backend="openapi-spec-validator",
            lazy=True,
            strict=False,  # keys are already strings; don't fail on odd YAML keys
            # Recursive schemas (trees) are legal; inline them as open objects.
            recursion_limit_handler=permissive_object_on_recursion,
        )
        parser.parse()
    except prance.ValidationError as exc:
        raise InvalidSpecError(f"OpenAPI document is not valid: {_describe(exc)}. {_FIX}") from exc
    except ResolutionError as exc:
        msg = _one_line(str(exc)).replace("file:///__placeholder_url__.yaml", "")
        raise InvalidSpecError(f"OpenAPI document has a $ref that cannot be resolved: {msg}. {_FIX}") from exc
    except (ValueError, TypeError, KeyError, AssertionError) as exc:
        raise InvalidSpecError(f"OpenAPI document could not be read: {_one_line(str(exc))}. {_FIX}") from exc
    return json.loads(json.dumps(parser.specification))  # plain dicts, no shared nodes


def _describe(exc: Exception) -> str:
    """``path.to.node: message`` from the jsonschema error prance wraps."""
    cause = exc.__cause__
    if getattr(cause, "context", None):
        # oneOf/anyOf failures: report the most relevant sub-error, not "<whole node> is not valid under...".
        from jsonschema.exceptions import best_match

        cause = best_match(cause.context) or cause  # type: ignore[union-attr]
    message = getattr(cause, "message", None)
    if message is None:
        return _one_line(str(exc))
    path = ".".join(str(p) for p in getattr(cause, "absolute_path", ()) or ())
    return f"{path or '(root)'}: {_one_line(str(message))}"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def check_base_url(base_url: str, *, timeout_s: float = 5.0) -> None:
    """Check that a tool's base URL answers HTTP.

    Any HTTP status (even 404 or 500) counts as reachable: the API root need not
    be a real route. Redirects are not followed.

    Args:
        base_url: ``http(s)://host[:port][/prefix]`` of the API.
        timeout_s: seconds allowed to connect and get the response headers.

    Raises:
        UserError: code ``BASE_URL_UNREACHABLE`` when the URL is not http(s) with
            a host, or nothing answers within ``timeout_s``.
    """
    try:
        url = httpx.URL(base_url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UserError(
            f"base URL {base_url!r} is not a valid URL ({exc}): use http(s)://host[:port][/prefix].",
            code="BASE_URL_UNREACHABLE",
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise UserError(
            f"base URL {base_url!r} must be http:// or https:// with a host, e.g. http://127.0.0.1:8101.",
            code="BASE_URL_UNREACHABLE",
        )
    try:
        async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False) as client:
            async with client.stream("GET", url):
                pass  # headers received: reachable; the body is not needed
    except httpx.HTTPError as exc:
        raise UserError(
            f"base URL {base_url} is unreachable ({type(exc).__name__}: {_one_line(str(exc), 200) or 'no answer'} "
            f"within {timeout_s:g}s): start the service or fix the URL (scheme, host, port) and try again.",
            code="BASE_URL_UNREACHABLE",
        ) from exc
