"""Unit tests of runners._openapi.load_openapi (no servers)."""

from __future__ import annotations

import json

import pytest
import yaml

from agentgraph.demo.crm import OPENAPI_PATH
from agentgraph.errors import InvalidSpecError, UserError
from runners._openapi import Operation, load_openapi

CRM_OPERATIONS = {
    "health", "searchLeads", "getLead", "listLeadNotes", "createNote",
    "searchContacts", "searchCompanies", "getCompany",
}


def _doc(paths: dict | None = None, **extra) -> dict:
    """A minimal valid OpenAPI 3.0 document."""
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": paths if paths is not None else {
            "/x": {"get": {"operationId": "getX", "responses": {"200": {"description": "ok"}}}}
        },
    }
    doc.update(extra)
    return doc


def _refusal(source: str | bytes, **kw) -> str:
    with pytest.raises(InvalidSpecError) as info:
        load_openapi(source, **kw)
    assert info.value.code == "INVALID_SPEC"
    return info.value.message


def test_crm_document_loads_with_its_eight_operations():
    doc = load_openapi(OPENAPI_PATH.read_text())
    assert doc.title == "Demo CRM"
    assert doc.version == "1.0.0"
    assert doc.openapi_version.startswith("3.1")
    assert {op.operation_id for op in doc.operations} == CRM_OPERATIONS
    assert len(doc.operations) == 8
    create = next(op for op in doc.operations if op.operation_id == "createNote")
    assert create == Operation("createNote", "POST", "/leads/{lead_id}/notes", "Add a note to a lead", ("notes",))
    # Fully resolved: fastmcp gets no $ref to follow.
    assert "$ref" not in json.dumps(doc.spec)
    lead_schema = doc.spec["paths"]["/leads/{lead_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "email" in lead_schema["properties"]
    text = doc.tool_description()
    assert text.splitlines()[0] == "Demo CRM"
    assert "GET /leads - Search leads by name, email or interest" in text
    assert "POST /leads/{lead_id}/notes - Add a note to a lead" in text


def test_json_text_and_bytes_are_accepted():
    source = json.dumps(_doc())
    assert [op.operation_id for op in load_openapi(source).operations] == ["getX"]
    assert [op.operation_id for op in load_openapi(source.encode()).operations] == ["getX"]


def test_missing_operation_ids_are_generated_unique():
    paths = {
        "/leads/{id}": {
            "get": {"parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok"}}},
        },
        "/leads": {"post": {"responses": {"201": {"description": "ok"}}},
                   "get": {"operationId": "post_leads", "responses": {"200": {"description": "ok"}}}},
    }
    doc = load_openapi(json.dumps(_doc(paths)))  # json keeps the path order
    ids = [op.operation_id for op in doc.operations]
    assert ids[0] == "get_leads_id"
    assert "post_leads" in ids and "post_leads_2" in ids  # generated name avoids the taken one
    assert len(set(ids)) == 3
    assert doc.spec["paths"]["/leads/{id}"]["get"]["operationId"] == "get_leads_id"


def test_yaml_integer_status_keys_and_recursive_schemas_are_fine():
    source = """
openapi: 3.0.3
info: {title: Tree, version: 2024-01-01}
paths:
  /nodes:
    get:
      operationId: listNodes
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Node'}
components:
  schemas:
    Node:
      type: object
      properties:
        children: {type: array, items: {$ref: '#/components/schemas/Node'}}
"""
    doc = load_openapi(source)
    assert doc.version == "2024-01-01"
    assert "$ref" not in json.dumps(doc.spec)
    assert "200" in doc.spec["paths"]["/nodes"]["get"]["responses"]


def test_swagger_2_is_converted_and_other_swagger_versions_refused():
    doc = load_openapi(yaml.safe_dump({"swagger": "2.0", "info": {"title": "T", "version": "1"}, "paths": {}}))
    assert doc.source_version == "2.0" and doc.openapi_version == "3.0.3"
    msg = _refusal(yaml.safe_dump({"swagger": "1.2", "info": {"title": "T", "version": "1"}, "paths": {}}))
    assert "Swagger 2.0 or OpenAPI 3.x" in msg


def test_other_versions_and_missing_version_are_refused():
    assert "only OpenAPI 3.x" in _refusal(yaml.safe_dump({**_doc(), "openapi": "4.0.0"}))
    no_version = _doc()
    del no_version["openapi"]
    assert "'openapi'" in _refusal(yaml.safe_dump(no_version))


def test_missing_info_is_named():
    doc = _doc()
    del doc["info"]
    msg = _refusal(yaml.safe_dump(doc))
    assert msg.startswith("OpenAPI document is not valid:")
    assert "'info' is a required property" in msg
    assert "Fix the document" in msg


def test_missing_responses_is_named_with_its_path():
    msg = _refusal(yaml.safe_dump(_doc({"/leads": {"get": {"operationId": "x"}}})))
    assert "paths./leads.get" in msg
    assert "'responses' is a required property" in msg


def test_dangling_local_ref_is_refused():
    paths = {"/x": {"get": {"responses": {"200": {"$ref": "#/components/responses/Nope"}}}}}
    msg = _refusal(yaml.safe_dump(_doc(paths)))
    assert "cannot be resolved" in msg and "Nope" in msg


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "http://example.com/x.yaml", "other.yaml#/x",
                                 "https://example.com/s.json#/a", "../secrets.yaml"])
def test_non_local_refs_are_refused_before_resolution(ref):
    schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
    paths = {"/x": {"get": {"operationId": "getX", "responses": {
        "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}}}}
    msg = _refusal(yaml.safe_dump(_doc(paths)))
    assert repr(ref) in msg
    assert "refused" in msg
    assert "paths./x.get.responses.200.content.application/json.schema.properties.a" in msg


def test_non_local_ref_in_components_is_refused():
    doc = _doc(components={"schemas": {"Evil": {"$ref": "file:///etc/passwd"}}})
    assert "'file:///etc/passwd' at components.schemas.Evil" in _refusal(json.dumps(doc))


def test_oversized_document_is_refused():
    source = yaml.safe_dump(_doc(info={"title": "T", "version": "1", "description": "x" * 5000}))
    assert "limit of 4000 bytes" in _refusal(source, max_bytes=4000)
    assert load_openapi(source, max_bytes=10_000).title == "T"


def test_too_many_operations_are_refused():
    paths = {f"/r{i}": {"get": {"responses": {"200": {"description": "ok"}}}} for i in range(6)}
    source = yaml.safe_dump(_doc(paths))
    msg = _refusal(source, max_operations=5)
    assert "6 operations" in msg and "limit of 5" in msg
    assert len(load_openapi(source, max_operations=6).operations) == 6


def test_yaml_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    source = "openapi: 3.0.3\ninfo: {title: T, version: '1'}\npaths: {}\nx-bomb:\n" + "\n".join(
        "  " + line for line in lines
    )
    assert "too many nodes" in _refusal(source)


@pytest.mark.parametrize("garbage", ["{{{ not yaml", "just a sentence", "- a\n- list", "", b"\xff\xfe\x00bad"])
def test_garbage_is_refused(garbage):
    msg = _refusal(garbage)
    assert "OpenAPI document" in msg


def test_invalid_spec_error_is_a_user_error():
    with pytest.raises(UserError):
        load_openapi("nope")
