"""Swagger 2.0 -> OpenAPI 3.0.3, offline, for the subset ``FastMCP.from_openapi`` needs.

Why our own: FastMCP reads only OpenAPI 3.x; the well-kept converter
(``swagger2openapi``) is an npm package, and prance's converter posts the
document to an online service, which a self-hosted platform must not do. This
translation follows the OpenAPI 3.0.3 specification's mapping of Swagger 2.0
objects and covers what an MCP tool needs:

* ``host`` / ``basePath`` / ``schemes`` -> ``servers``;
* non-body parameters: type keywords move into ``schema``; ``collectionFormat``
  becomes ``style``/``explode``;
* ``in: body`` -> ``requestBody`` (one media type per ``consumes``); ``in: formData``
  -> a form or multipart ``requestBody`` (``type: file`` -> binary string);
* responses: ``schema`` -> ``content`` per ``produces``; headers get a ``schema``;
* ``definitions`` / ``parameters`` / ``responses`` -> ``components``; every
  ``$ref`` is rewritten (global parameters are inlined because a body parameter
  must become a request body);
* ``securityDefinitions`` -> ``components.securitySchemes`` (basic -> http basic;
  oauth2 flows renamed: application -> clientCredentials, accessCode ->
  authorizationCode); ``x-nullable`` -> ``nullable``.

Examples, ``x-`` extensions on parameters and XML details are dropped. The input
must already be a valid Swagger 2.0 document (see :func:`runners._openapi.load_openapi`).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["convert_swagger2"]

_SCHEMA_KEYS = ("type", "format", "items", "default", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
                "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "enum", "multipleOf")
_REF_PREFIXES = (("#/definitions/", "#/components/schemas/"), ("#/responses/", "#/components/responses/"),
                 ("#/parameters/", "#/components/parameters/"))
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_FLOWS = {"implicit": "implicit", "password": "password", "application": "clientCredentials",
          "accessCode": "authorizationCode"}
# collectionFormat -> (style, explode) for query parameters (OpenAPI 3.0.3, "Style Values").
_COLLECTION = {"csv": ("form", False), "ssv": ("spaceDelimited", False), "pipes": ("pipeDelimited", False),
               "multi": ("form", True)}


def convert_swagger2(doc: dict[str, Any]) -> dict[str, Any]:
    """Translate a valid Swagger 2.0 document into an OpenAPI 3.0.3 document.

    Args:
        doc: the Swagger 2.0 document as plain JSON data (not modified).

    Returns:
        A new OpenAPI 3.0.3 document (``$ref`` values point into ``components``).
    """
    src = copy.deepcopy(doc)
    consumes = src.get("consumes") or ["application/json"]
    produces = src.get("produces") or ["application/json"]
    global_params = src.get("parameters") or {}
    out: dict[str, Any] = {"openapi": "3.0.3", "info": src.get("info") or {}}
    servers = _servers(src)
    if servers:
        out["servers"] = servers
    for key in ("tags", "security", "externalDocs"):
        if key in src:
            out[key] = src[key]
    components: dict[str, Any] = {}
    if src.get("definitions"):
        components["schemas"] = {k: _schema(v) for k, v in src["definitions"].items()}
    if src.get("responses"):
        components["responses"] = {k: _response(v, produces) for k, v in src["responses"].items()}
    plain_params = {k: _parameter(v) for k, v in global_params.items() if v.get("in") not in ("body", "formData")}
    if plain_params:
        components["parameters"] = plain_params
    schemes = {k: _security_scheme(v) for k, v in (src.get("securityDefinitions") or {}).items()}
    if schemes:
        components["securitySchemes"] = schemes
    paths: dict[str, Any] = {}
    for path, item in (src.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        new_item: dict[str, Any] = {k: v for k, v in item.items() if k.startswith("x-") or k in ("summary", "description")}
        shared = [_deref_param(p, global_params) for p in item.get("parameters") or []]
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                new_item[method] = _operation(op, shared, global_params, op.get("consumes") or consumes,
                                              op.get("produces") or produces)
        paths[path] = new_item
    out["paths"] = paths
    if components:
        out["components"] = components
    return _rewrite_refs(out)


def _servers(src: dict[str, Any]) -> list[dict[str, str]]:
    host = src.get("host")
    base = src.get("basePath") or ""
    if not host:
        return [{"url": base}] if base else []
    return [{"url": f"{scheme}://{host}{base}"} for scheme in (src.get("schemes") or ["https"])]


def _deref_param(p: dict[str, Any], global_params: dict[str, Any]) -> dict[str, Any]:
    ref = p.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/parameters/"):
        return copy.deepcopy(global_params.get(ref[len("#/parameters/"):], {}))
    return p


def _operation(op: dict[str, Any], shared: list[dict[str, Any]], global_params: dict[str, Any],
               consumes: list[str], produces: list[str]) -> dict[str, Any]:
    new = {k: v for k, v in op.items()
           if k in ("tags", "summary", "description", "operationId", "deprecated", "security", "externalDocs")
           or k.startswith("x-")}
    own = [_deref_param(p, global_params) for p in op.get("parameters") or []]
    # An operation parameter overrides a path-level one with the same name and location.
    keys = {(p.get("in"), p.get("name")) for p in own}
    params = [p for p in shared if (p.get("in"), p.get("name")) not in keys] + own
    plain, body, form = [], None, []
    for p in params:
        where = p.get("in")
        if where == "body":
            body = p
        elif where == "formData":
            form.append(p)
        else:
            plain.append(_parameter(p))
    if plain:
        new["parameters"] = plain
    if body is not None:
        request: dict[str, Any] = {"content": {m: {"schema": _schema(body.get("schema") or {})} for m in consumes}}
        if body.get("description"):
            request["description"] = body["description"]
        if body.get("required"):
            request["required"] = True
        new["requestBody"] = request
    elif form:
        new["requestBody"] = _form_body(form, consumes)
    new["responses"] = {str(code): _response(r, produces) for code, r in (op.get("responses") or {}).items()
                        if not str(code).startswith("x-")}
    return new


def _parameter(p: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in p:
        return dict(p)
    new = {k: p[k] for k in ("name", "in", "description", "required", "allowEmptyValue") if k in p}
    if p.get("in") == "path":
        new["required"] = True
    new["schema"] = _schema({k: p[k] for k in _SCHEMA_KEYS if k in p})
    fmt = p.get("collectionFormat")
    if p.get("type") == "array" and fmt:
        if p.get("in") == "query" and fmt in _COLLECTION:
            new["style"], new["explode"] = _COLLECTION[fmt]
        elif fmt == "csv":
            new["style"], new["explode"] = "simple", False
    return new


def _form_body(form: list[dict[str, Any]], consumes: list[str]) -> dict[str, Any]:
    props: dict[str, Any] = {}
    required: list[str] = []
    has_file = False
    for p in form:
        if p.get("type") == "file":
            has_file = True
            props[p["name"]] = {"type": "string", "format": "binary"}
        else:
            props[p["name"]] = _schema({k: p[k] for k in _SCHEMA_KEYS if k in p})
        if p.get("description"):
            props[p["name"]]["description"] = p["description"]
        if p.get("required"):
            required.append(p["name"])
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    media = "multipart/form-data" if has_file or "multipart/form-data" in consumes else "application/x-www-form-urlencoded"
    return {"content": {media: {"schema": schema}}, "required": bool(required)}


def _response(r: dict[str, Any], produces: list[str]) -> dict[str, Any]:
    if "$ref" in r:
        return dict(r)
    new: dict[str, Any] = {"description": r.get("description") or ""}
    if "schema" in r:
        new["content"] = {m: {"schema": _schema(r["schema"])} for m in produces}
    if r.get("headers"):
        new["headers"] = {name: {"description": h.get("description", ""),
                                 "schema": _schema({k: h[k] for k in _SCHEMA_KEYS if k in h})}
                          for name, h in r["headers"].items()}
    return new


def _schema(s: Any) -> Any:
    """Swagger schema -> OpenAPI 3.0 schema (recursive)."""
    if isinstance(s, list):
        return [_schema(x) for x in s]
    if not isinstance(s, dict):
        return s
    new: dict[str, Any] = {}
    for k, v in s.items():
        if k == "x-nullable":
            new["nullable"] = bool(v)
        elif k == "type" and v == "file":
            new["type"], new["format"] = "string", "binary"
        elif k == "discriminator" and isinstance(v, str):
            new["discriminator"] = {"propertyName": v}
        elif k in ("properties", "definitions", "patternProperties") and isinstance(v, dict):
            new[k] = {name: _schema(sub) for name, sub in v.items()}
        elif k in ("items", "additionalProperties", "not") or k in ("allOf", "anyOf", "oneOf"):
            new[k] = _schema(v)
        elif k == "example":
            new[k] = v
        else:
            new[k] = v
    return new


def _security_scheme(s: dict[str, Any]) -> dict[str, Any]:
    kind = s.get("type")
    if kind == "basic":
        return {"type": "http", "scheme": "basic", **({"description": s["description"]} if "description" in s else {})}
    if kind == "apiKey":
        return {k: s[k] for k in ("type", "name", "in", "description") if k in s}
    flow = _FLOWS.get(s.get("flow", ""), "clientCredentials")
    body: dict[str, Any] = {"scopes": s.get("scopes") or {}}
    if flow in ("implicit", "authorizationCode"):
        body["authorizationUrl"] = s.get("authorizationUrl", "")
    if flow in ("password", "clientCredentials", "authorizationCode"):
        body["tokenUrl"] = s.get("tokenUrl", "")
    new = {"type": "oauth2", "flows": {flow: body}}
    if "description" in s:
        new["description"] = s["description"]
    return new


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                for old, new in _REF_PREFIXES:
                    if v.startswith(old):
                        v = new + v[len(old):]
                        break
                out[k] = v
            else:
                out[k] = _rewrite_refs(v)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node
