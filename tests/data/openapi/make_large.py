"""Generate commerce-openapi30-large.json: a big OpenAPI 3.0 document (240 operations).

Run from the repository root: ``.venv/bin/python tests/data/openapi/make_large.py``.
Modelled on large commerce/ERP APIs: 30 resources, each with list, create, get,
replace, update, delete, a search and a sub-collection listing; shared
parameters, pagination and error components, bearer auth. Deterministic output.
"""

from __future__ import annotations

import json
from pathlib import Path

RESOURCES = [
    "products", "variants", "categories", "collections", "prices", "inventory-items", "locations", "warehouses",
    "orders", "order-lines", "fulfillments", "shipments", "returns", "refunds", "invoices", "payments",
    "customers", "addresses", "carts", "checkouts", "discounts", "gift-cards", "reviews", "suppliers",
    "purchase-orders", "webhooks", "api-clients", "staff-members", "tax-rates", "currencies",
]


def _singular(name: str) -> str:
    return name[:-3] + "y" if name.endswith("ies") else name[:-1] if name.endswith("s") else name


def _camel(name: str) -> str:
    parts = name.replace("-", " ").split()
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def build() -> dict:
    paths: dict = {}
    schemas: dict = {
        "Error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
        "PageInfo": {"type": "object", "properties": {"next_cursor": {"type": "string", "nullable": True},
                                                      "total": {"type": "integer"}}},
    }
    for res in RESOURCES:
        one = _singular(res)
        model = "".join(p.capitalize() for p in one.split("-"))
        tag = res
        schemas[model] = {"type": "object", "required": ["id", "name"], "properties": {
            "id": {"type": "string", "example": f"{one[:3]}_001"}, "name": {"type": "string", "example": f"Sample {one}"},
            "status": {"type": "string", "enum": ["active", "archived", "draft"]},
            "created_at": {"type": "string", "format": "date-time"},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}
        schemas[f"{model}Input"] = {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "status": {"type": "string", "enum": ["active", "archived", "draft"]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}}
        ref = {"$ref": f"#/components/schemas/{model}"}
        body = {"required": True, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}Input"}}}}
        ok = lambda schema: {"description": "OK", "content": {"application/json": {"schema": schema}}}  # noqa: E731
        page = {"type": "object", "properties": {"data": {"type": "array", "items": ref},
                                                 "page": {"$ref": "#/components/schemas/PageInfo"}}}
        idp = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
        c = _camel(res)
        cm = _camel(one)
        paths[f"/{res}"] = {
            "get": {"operationId": f"list_{c}", "summary": f"List {res.replace('-', ' ')}", "tags": [tag],
                    "parameters": [{"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}],
                    "responses": {"200": ok(page), "default": {"$ref": "#/components/responses/Error"}}},
            "post": {"operationId": f"create_{cm}", "summary": f"Create a {one.replace('-', ' ')}", "tags": [tag],
                     "requestBody": body, "responses": {"201": ok(ref), "default": {"$ref": "#/components/responses/Error"}}},
        }
        paths[f"/{res}/search"] = {
            "get": {"operationId": f"search_{c}", "summary": f"Search {res.replace('-', ' ')} by text", "tags": [tag],
                    "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                                   {"$ref": "#/components/parameters/Limit"}],
                    "responses": {"200": ok(page)}}}
        paths[f"/{res}/{{id}}"] = {
            "parameters": [idp],
            "get": {"operationId": f"get_{cm}", "summary": f"Get a {one.replace('-', ' ')}", "tags": [tag],
                    "responses": {"200": ok(ref), "404": {"$ref": "#/components/responses/Error"}}},
            "put": {"operationId": f"replace_{cm}", "summary": f"Replace a {one.replace('-', ' ')}", "tags": [tag],
                    "requestBody": body, "responses": {"200": ok(ref)}},
            "patch": {"operationId": f"update_{cm}", "summary": f"Update a {one.replace('-', ' ')}", "tags": [tag],
                      "requestBody": body, "responses": {"200": ok(ref)}},
            "delete": {"operationId": f"delete_{cm}", "summary": f"Delete a {one.replace('-', ' ')}", "tags": [tag, "admin"],
                       "responses": {"204": {"description": "Deleted"}}},
        }
        paths[f"/{res}/{{id}}/events"] = {
            "get": {"operationId": f"list_{cm}_events", "summary": f"Audit events of a {one.replace('-', ' ')}",
                    "tags": [tag, "audit"], "parameters": [idp, {"$ref": "#/components/parameters/Limit"}],
                    "responses": {"200": ok({"type": "array", "items": {"type": "object", "properties": {
                        "type": {"type": "string"}, "at": {"type": "string", "format": "date-time"}}}})}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Commerce Platform API", "version": "2024-10",
                 "description": "A large commerce API: catalogue, orders, payments, customers, operations."},
        "servers": [{"url": "https://api.commerce.example.com/2024-10"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 250, "default": 50}},
                "Cursor": {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            },
            "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": schemas,
        },
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("commerce-openapi30-large.json")
    out.write_text(json.dumps(build(), indent=1) + "\n")
    doc = build()
    n = sum(1 for item in doc["paths"].values() for m in item if m != "parameters")
    print(f"wrote {out} ({out.stat().st_size} bytes, {n} operations)")
