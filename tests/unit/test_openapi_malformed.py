"""At least 50 malformed OpenAPI / Swagger documents, made by mutating valid ones: each must give
an InvalidSpecError with a message that says what is wrong (and never another exception)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgraph.errors import InvalidSpecError
from runners._openapi import load_openapi

DATA = Path(__file__).parent.parent / "data" / "openapi"
OAS30 = yaml.safe_load((DATA / "museum-openapi30-apikey.yaml").read_text())
SWAGGER2 = yaml.safe_load((DATA / "petstore-swagger2.yaml").read_text())
OAS31 = json.loads((DATA / "issues-openapi31-bearer.json").read_text())


def _mut(base: dict[str, Any], fn: Callable[[dict[str, Any]], Any]) -> str:
    doc = copy.deepcopy(base)
    fn(doc)
    return json.dumps(doc)


def _walk(doc: Any, path: str) -> tuple[Any, Any]:
    *parents, last = path.split("|")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    return node, int(last) if isinstance(node, list) else last


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def fn(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        node[key] = value
    return fn


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    def fn(doc: dict[str, Any]) -> None:
        node, key = _walk(doc, path)
        del node[key]
    return fn


def _schema_ref(ref: str) -> Callable[[dict[str, Any]], None]:
    return _set("components|schemas|Error|properties|type", {"$ref": ref})


EV = "paths|/special-events|get"
PET = "paths|/pet/{petId}|get"
_rng = random.Random(4)
BINARY = bytes(_rng.randrange(256) for _ in range(2048))

# (id, source, words the message must contain)
CASES: list[tuple[str, str | bytes, str]] = [
    # --- structure (OpenAPI 3.0)
    ("oas30-no-info", _mut(OAS30, _del("info")), "'info' is a required property"),
    ("oas30-no-paths", _mut(OAS30, _del("paths")), "paths"),
    ("oas30-info-is-list", _mut(OAS30, _set("info", ["x"])), "not valid"),
    ("oas30-no-title", _mut(OAS30, _del("info|title")), "title"),
    ("oas30-no-version", _mut(OAS30, _del("info|version")), "version"),
    ("oas30-title-is-list", _mut(OAS30, _set("info|title", ["a", "b"])), "not valid"),
    ("oas30-paths-is-list", _mut(OAS30, _set("paths", ["/a"])), "not valid"),
    ("oas30-path-without-slash", _mut(OAS30, _set("paths|museum", {"get": {"responses": {"200": {"description": "x"}}}})),
     "not valid"),
    ("oas30-no-responses", _mut(OAS30, _del(f"{EV}|responses")), "'responses' is a required property"),
    ("oas30-empty-responses", _mut(OAS30, _set(f"{EV}|responses", {})), "not valid"),
    ("oas30-response-no-description", _mut(OAS30, _del(f"{EV}|responses|200|description")), "description"),
    ("oas30-param-no-in", _mut(OAS30, _del("components|parameters|StartDate|in")), "not valid"),
    ("oas30-param-in-body", _mut(OAS30, _set("components|parameters|StartDate|in", "body")), "not valid"),
    ("oas30-path-param-not-required", _mut(OAS30, _set("paths|/special-events/{eventId}|parameters|0|required", False)),
     "not valid"),
    ("oas30-schema-bad-type", _mut(OAS30, _set("components|schemas|Error|type", "strin")), "not valid"),
    ("oas30-operation-is-string", _mut(OAS30, _set(EV, "list events")), "not valid"),
    ("oas30-operationid-is-int", _mut(OAS30, _set(f"{EV}|operationId", 42)), "not valid"),
    ("oas30-duplicate-operationid", _mut(OAS30, _set("paths|/tickets|post|operationId", "listSpecialEvents")),
     "operationId"),
    ("oas30-requestbody-no-content", _mut(OAS30, _del("paths|/tickets|post|requestBody|content")), "content"),
    ("oas30-apikey-no-name", _mut(OAS30, _del("components|securitySchemes|MuseumKey|name")), "not valid"),
    ("oas30-scheme-bad-type", _mut(OAS30, _set("components|securitySchemes|MuseumKey|type", "password")), "not valid"),
    ("oas30-tags-not-list", _mut(OAS30, _set("tags", {"name": "x"})), "not valid"),
    ("oas30-servers-not-list", _mut(OAS30, _set("servers", "https://x")), "not valid"),
    ("oas30-externaldocs-no-url", _mut(OAS30, _set("externalDocs", {"description": "x"})), "url"),
    ("oas30-schemas-not-object", _mut(OAS30, _set("components|schemas|Error", "an error")), "not valid"),
    ("oas30-response-code-bad", _mut(OAS30, _set(f"{EV}|responses|2000", {"description": "x"})), "not valid"),
    # --- versions
    ("version-4", _mut(OAS30, _set("openapi", "4.0.0")), "only OpenAPI 3.x"),
    ("version-2-as-openapi", _mut(OAS30, _set("openapi", "2.0")), "only OpenAPI 3.x"),
    ("version-float", _mut(OAS30, _set("openapi", 3.0)), "must be a string"),
    ("version-missing", _mut(OAS30, _del("openapi")), "no 'openapi' version field"),
    ("swagger-1.2", _mut(SWAGGER2, _set("swagger", "1.2")), "Swagger 2.0 or OpenAPI 3.x"),
    ("swagger-float", _mut(SWAGGER2, _set("swagger", 2.0)), "Swagger 2.0 or OpenAPI 3.x"),
    ("swagger-and-openapi", _mut(SWAGGER2, _set("openapi", "3.0.0")), "both 'swagger' and 'openapi'"),
    # --- Swagger 2.0 structure
    ("swagger-no-info", _mut(SWAGGER2, _del("info")), "'info' is a required property"),
    ("swagger-no-responses", _mut(SWAGGER2, _del(f"{PET}|responses")), "'responses' is a required property"),
    ("swagger-body-no-schema", _mut(SWAGGER2, _del("paths|/pet|post|parameters|0|schema")), "not valid"),
    ("swagger-bad-param-in", _mut(SWAGGER2, _set("parameters|petId|in", "cookie")), "not valid"),
    ("swagger-bad-scheme", _mut(SWAGGER2, _set("schemes", ["gopher"])), "not valid"),
    ("swagger-broken-definition-ref", _mut(SWAGGER2, _set("definitions|Pet|properties|category", {"$ref": "#/definitions/Nope"})),
     "cannot be resolved"),
    ("swagger-file-ref", _mut(SWAGGER2, _set("definitions|Tag", {"$ref": "file:///etc/passwd"})), "refused"),
    # --- OpenAPI 3.1
    ("oas31-no-info", _mut(OAS31, _del("info")), "'info' is a required property"),
    ("oas31-bad-dialect", _mut(OAS31, _set("jsonSchemaDialect", 7)), "not valid"),
    ("oas31-broken-param-ref", _mut(OAS31, _set("paths|/repos/{owner}/{repo}|parameters|0", {"$ref": "#/components/parameters/nope"})),
     "cannot be resolved"),
    # --- references
    ("ref-dangling", _mut(OAS30, _schema_ref("#/components/schemas/Nope")), "cannot be resolved"),
    ("ref-list-index", _mut(OAS30, _schema_ref("#/servers/5")), "cannot be resolved"),
    ("ref-file", _mut(OAS30, _schema_ref("file:///etc/passwd")), "refused"),
    ("ref-http", _mut(OAS30, _schema_ref("http://169.254.169.254/latest/meta-data")), "refused"),
    ("ref-https", _mut(OAS30, _schema_ref("https://example.com/s.json#/a")), "refused"),
    ("ref-relative-file", _mut(OAS30, _schema_ref("common.yaml#/Error")), "refused"),
    ("ref-parent-dir", _mut(OAS30, _schema_ref("../secrets.yaml")), "refused"),
    # --- not a document at all
    ("yaml-syntax", "openapi: 3.0.0\ninfo: {title: x\n", "neither YAML nor JSON"),
    ("yaml-tabs", "openapi: 3.0.0\n\tinfo: x\n", "neither YAML nor JSON"),
    ("json-truncated", json.dumps(OAS30)[:500], "neither YAML nor JSON"),
    ("yaml-python-tag", "!!python/object/apply:os.system ['true']\n", "neither YAML nor JSON"),
    ("binary-garbage", BINARY, "not UTF-8"),
    ("utf16", json.dumps(OAS30).encode("utf-16"), "not UTF-8"),
    ("empty", "", "must be a YAML/JSON object"),
    ("whitespace", "   \n\n  ", "must be a YAML/JSON object"),
    ("yaml-list", "- openapi\n- info\n", "must be a YAML/JSON object"),
    ("scalar-number", "42", "must be a YAML/JSON object"),
    ("plain-sentence", "this is my API, it has endpoints", "must be a YAML/JSON object"),
    ("deep-nesting", "openapi: 3.0.0\nx: " + "[" * 5000 + "]" * 5000 + "\n", "OpenAPI document"),
]


@pytest.mark.parametrize("case_id,source,words", CASES, ids=[c[0] for c in CASES])
def test_malformed_document_gives_a_clear_error(case_id: str, source: str | bytes, words: str):
    with pytest.raises(InvalidSpecError) as info:
        load_openapi(source)
    msg = info.value.message
    assert words in msg, msg
    assert info.value.code == "INVALID_SPEC"
    assert len(msg) < 800  # one readable paragraph, no dump of the document
    assert "Traceback" not in msg


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50


def test_size_and_operation_caps():
    big = json.dumps({**OAS30, "info": {**OAS30["info"], "description": "x" * 3_000_000}})
    with pytest.raises(InvalidSpecError, match="more than the limit of 2000000 bytes"):
        load_openapi(big)
    many = copy.deepcopy(OAS30)
    many["paths"] = {f"/r{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(501)}
    with pytest.raises(InvalidSpecError, match="501 operations, more than the limit of 500"):
        load_openapi(json.dumps(many))
    swagger_many = copy.deepcopy(SWAGGER2)
    swagger_many["paths"] = {f"/r{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(30)}
    with pytest.raises(InvalidSpecError, match="30 operations"):
        load_openapi(json.dumps(swagger_many), max_operations=20)


def test_the_unmutated_bases_are_valid():
    # Control: the mutations above are what breaks each document.
    for base in (OAS30, SWAGGER2, OAS31):
        assert load_openapi(json.dumps(base)).operations
