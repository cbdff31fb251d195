"""Unit tests of the tool hub's pure parts: rules, credentials sealing/rotation, masking,
redaction, the Swagger 2.0 -> OpenAPI 3 translation, percentiles."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from agentgraph.errors import ConfigError, UserError
from agentgraph.secrets import SecretBox
from graph._tools import percentile
from runners._toolhub_config import (
    OperationRules,
    ToolConfig,
    ToolCredentials,
    auth_summary,
    filter_spec,
    mask_secret,
    open_credentials,
    parse_model,
    redact_arguments,
    seal_credentials,
)
from runners._toolhub_http import CredentialAuth
from runners._toolhub_swagger import convert_swagger2


def test_rules_by_id_method_path_and_tag():
    r = OperationRules(allow=["tag:notes", "get*", "/leads/*"], deny=["DELETE", "id:getSecret", "path:/admin/**"])
    assert r.allows("createNote", "POST", "/notes", ("notes",))
    assert r.allows("getLead", "GET", "/x")
    assert r.allows("updateLead", "PATCH", "/leads/1")
    assert not r.allows("deleteNote", "DELETE", "/notes/1", ("notes",))  # deny wins
    assert not r.allows("getSecret", "GET", "/s")
    assert not r.allows("getAdmin", "GET", "/admin/a/b")
    assert not r.allows("createCompany", "POST", "/companies")  # not allowed by any selector
    assert OperationRules().allows("anything", "GET", "/")
    with pytest.raises(UserError, match="id:, method:, path: or tag:"):
        parse_model(OperationRules, {"allow": ["colour:red"]}, "operation rules")


def test_filter_spec_keeps_allowed_operations_and_strips_credential_params():
    spec = {"paths": {
        "/a": {"get": {"operationId": "getA", "parameters": [{"name": "X-API-Key", "in": "header"},
                                                            {"name": "q", "in": "query"}]},
               "delete": {"operationId": "delA"}},
        "/b": {"post": {"operationId": "postB"}}}}
    out, kept = filter_spec(spec, OperationRules(deny=["DELETE", "postB"]), strip_params={("header", "x-api-key")})
    assert kept == 1 and list(out["paths"]) == ["/a"] and list(out["paths"]["/a"]) == ["get"]
    assert out["paths"]["/a"]["get"]["parameters"] == [{"name": "q", "in": "query"}]
    assert "delete" in spec["paths"]["/a"]  # the input is not modified


def test_auth_validation_names_missing_fields():
    for data, missing in [({"kind": "api_key", "value": "k"}, "name"), ({"kind": "bearer"}, "value"),
                          ({"kind": "basic", "username": "u"}, "password"),
                          ({"kind": "oauth2_client_credentials", "client_id": "c", "client_secret": "s"}, "token_url")]:
        with pytest.raises(UserError, match=missing):
            parse_model(ToolCredentials, {"auth": data}, "tool credentials")
    with pytest.raises(UserError, match="http"):
        parse_model(ToolCredentials, {"auth": {"kind": "oauth2_client_credentials", "token_url": "ftp://x",
                                               "client_id": "c", "client_secret": "s"}}, "tool credentials")
    with pytest.raises(UserError, match="set by the platform"):
        parse_model(ToolCredentials, {"headers": {"Host": "evil"}}, "tool credentials")
    with pytest.raises(UserError, match="rate_limit"):
        parse_model(ToolConfig, {"rate_limit": "often"}, "tool config")
    assert ToolConfig(rate_limit="5 per second").rate_limit == "5 per second"


def test_masking_and_summary_never_show_the_secret():
    key = "sk_live_51H8abcdEFGH9876"
    assert mask_secret(key) == "****9876" and mask_secret("short") == "****"
    creds = ToolCredentials.model_validate({"auth": {"kind": "api_key", "name": "X-Key", "location": "query", "value": key}})
    assert auth_summary(creds) == ("api_key", "query X-Key: ****9876")
    basic = ToolCredentials.model_validate({"auth": {"kind": "basic", "username": "ann", "password": key}})
    assert key not in auth_summary(basic)[1] and key not in repr(basic) and key not in str(basic.model_dump())
    assert key not in repr(CredentialAuth(basic))


def test_sealed_credentials_round_trip_and_survive_key_rotation():
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    creds = ToolCredentials.model_validate({"auth": {"kind": "bearer", "value": "tok-secret-123"},
                                            "headers": {"X-Org": "o-1"}})
    token = seal_credentials(SecretBox([old_key]), creds)
    assert "tok-secret-123" not in token
    rotated_box = SecretBox([new_key, old_key])  # new key prepended
    assert open_credentials(rotated_box, token).auth.value.get_secret_value() == "tok-secret-123"
    rotated = rotated_box.rotate(token)
    after = open_credentials(SecretBox([new_key]), rotated)  # old key removed after rotation
    assert after.headers == {"X-Org": "o-1"}
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        open_credentials(SecretBox([new_key]), token)  # an unrotated token needs the old key
    assert open_credentials(rotated_box, None).auth.kind == "none"


def test_redact_arguments():
    args = {"q": "Ada", "api_key": "k1", "nested": {"Authorization": "Bearer x", "list": [{"password": "p"}]}}
    out = redact_arguments(args)
    assert out == {"q": "Ada", "api_key": "****", "nested": {"Authorization": "****", "list": [{"password": "****"}]}}


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0


SWAGGER = {
    "swagger": "2.0", "info": {"title": "T", "version": "1"}, "host": "api.example.com", "basePath": "/v1",
    "schemes": ["https"], "consumes": ["application/json"], "produces": ["application/json"],
    "securityDefinitions": {
        "basic": {"type": "basic"}, "key": {"type": "apiKey", "name": "k", "in": "query"},
        "cc": {"type": "oauth2", "flow": "application", "tokenUrl": "https://a/token", "scopes": {"r": "read"}},
        "code": {"type": "oauth2", "flow": "accessCode", "authorizationUrl": "https://a/auth",
                 "tokenUrl": "https://a/token", "scopes": {}}},
    "parameters": {"limit": {"name": "limit", "in": "query", "type": "integer", "maximum": 50}},
    "paths": {"/items": {
        "parameters": [{"name": "X-Trace", "in": "header", "type": "string"}],
        "get": {"operationId": "list", "parameters": [
            {"$ref": "#/parameters/limit"},
            {"name": "ids", "in": "query", "type": "array", "items": {"type": "string"}, "collectionFormat": "pipes"}],
            "responses": {"200": {"description": "ok", "schema": {"type": "array", "items": {"$ref": "#/definitions/Item"}},
                                  "headers": {"X-Total": {"type": "integer"}}}}},
        "post": {"operationId": "upload", "consumes": ["multipart/form-data"], "parameters": [
            {"name": "file", "in": "formData", "type": "file", "required": True},
            {"name": "note", "in": "formData", "type": "string"}],
            "responses": {"201": {"$ref": "#/responses/Created"}}}}},
    "responses": {"Created": {"description": "created", "schema": {"$ref": "#/definitions/Item"}}},
    "definitions": {"Item": {"type": "object", "discriminator": "kind", "properties": {
        "kind": {"type": "string"}, "note": {"type": "string", "x-nullable": True}}, "required": ["kind"]}},
}


def test_swagger2_translation():
    out = convert_swagger2(SWAGGER)
    assert out["openapi"] == "3.0.3" and out["servers"] == [{"url": "https://api.example.com/v1"}]
    schemes = out["components"]["securitySchemes"]
    assert schemes["basic"] == {"type": "http", "scheme": "basic"}
    assert schemes["key"] == {"type": "apiKey", "name": "k", "in": "query"}
    assert schemes["cc"]["flows"] == {"clientCredentials": {"tokenUrl": "https://a/token", "scopes": {"r": "read"}}}
    assert set(schemes["code"]["flows"]["authorizationCode"]) == {"authorizationUrl", "tokenUrl", "scopes"}
    get = out["paths"]["/items"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    assert params["limit"]["schema"] == {"type": "integer", "maximum": 50}  # global parameter inlined
    assert params["ids"]["style"] == "pipeDelimited" and params["ids"]["explode"] is False
    assert params["X-Trace"]["in"] == "header"  # path-level parameter carried to the operation
    ok = get["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/Item"}
    assert ok["headers"]["X-Total"]["schema"] == {"type": "integer"}
    post = out["paths"]["/items"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"] == {"type": "string", "format": "binary"} and form["required"] == ["file"]
    assert post["responses"]["201"] == {"$ref": "#/components/responses/Created"}
    item = out["components"]["schemas"]["Item"]
    assert item["discriminator"] == {"propertyName": "kind"} and item["properties"]["note"]["nullable"] is True
    assert "#/definitions" not in json.dumps(out) and SWAGGER["swagger"] == "2.0"  # input untouched
