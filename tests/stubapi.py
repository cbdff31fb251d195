"""A generic stub server built from an OpenAPI 3 document (tests and benchmarks).

:func:`build_stub` turns a resolved OpenAPI 3 spec (``load_openapi(...).spec``;
Swagger 2.0 documents arrive converted) into a Starlette app that answers every
operation with data shaped by the operation's success-response schema, checks
the credentials it was told to expect (401 otherwise), serves an OAuth 2
client-credentials token endpoint when asked, and records each call. Tests can
make it fail the next N calls (``fail_next``) or answer slowly / hugely.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


@dataclass
class Expect:
    """Credentials the stub requires (``kind`` as in ``ToolAuth``)."""

    kind: str = "none"
    name: str = ""
    location: str = "header"
    value: str = ""
    username: str = ""
    password: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_ttl_s: int = 3600


@dataclass
class Stub:
    """The app plus what it saw and how it should misbehave."""

    app: Starlette
    expect: Expect
    calls: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    issued: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch s)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    pad_bytes: int = 0  # extra bytes added to every JSON answer (size-cap tests)
    delay_s: float = 0.0

    def fail_next(self, status: int, count: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``count`` operation calls with ``status``."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures.extend([(status, headers)] * count)

    def op_calls(self, operation_id: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.calls if operation_id is None or c["operation_id"] == operation_id]


def example(schema: Any, depth: int = 0) -> Any:
    """A value fitting ``schema`` (examples and enums first; bounded depth)."""
    if not isinstance(schema, dict) or depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if "example" in schema:
        return schema["example"]
    if isinstance(schema.get("examples"), list) and schema["examples"]:  # JSON Schema 2020-12 (OpenAPI 3.1)
        return schema["examples"][0]
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example(schema[key][0], depth + 1)
    if schema.get("allOf"):
        out: dict[str, Any] = {}
        for part in schema["allOf"]:
            val = example(part, depth + 1)
            if isinstance(val, dict):
                out.update(val)
        return out
    t = schema.get("type")
    if isinstance(t, list):  # OpenAPI 3.1: ["string", "null"]
        t = next((x for x in t if x != "null"), "null")
    if t == "object" or (t is None and "properties" in schema):
        return {k: example(v, depth + 1) for k, v in (schema.get("properties") or {}).items()}
    if t == "array":
        return [example(schema.get("items") or {}, depth + 1)]
    if t == "integer":
        return int(schema.get("minimum", 1))
    if t == "number":
        return float(schema.get("minimum", 1.5))
    if t == "boolean":
        return True
    if t == "null":
        return None
    fmt = schema.get("format")
    return {"date-time": "2024-05-01T12:00:00Z", "date": "2024-05-01", "email": "ada@example.com",
            "uuid": "7d444840-9dc0-11d1-b245-5ffdce74fad2", "uri": "https://example.com/x"}.get(fmt, "text")


def _success(op: dict[str, Any]) -> tuple[int, Any]:
    responses = op.get("responses") or {}
    for code in sorted(responses):
        if str(code).startswith("2"):
            content = (responses[code] or {}).get("content") or {}
            media = content.get("application/json") or next(iter(content.values()), None)
            return int(code), example((media or {}).get("schema") or {}) if media else None
    return 200, {"ok": True}


def build_stub(spec: dict[str, Any], expect: Expect | None = None, *, token_path: str = "/oauth/token") -> Stub:
    """Build the stub app for a resolved OpenAPI 3 ``spec`` (see module docstring)."""
    expect = expect or Expect()
    counter = itertools.count(1)
    stub = Stub(app=Starlette(), expect=expect)

    def authorised(request: Request) -> bool:
        e = expect
        if e.kind == "none":
            return True
        if e.kind == "api_key":
            got = request.headers.get(e.name) if e.location == "header" else request.query_params.get(e.name)
            return got == e.value
        header = request.headers.get("authorization", "")
        if e.kind == "bearer":
            return header == f"Bearer {e.value}"
        if e.kind == "basic":
            return header == "Basic " + base64.b64encode(f"{e.username}:{e.password}".encode()).decode()
        if e.kind == "oauth2_client_credentials":
            token = header.removeprefix("Bearer ")
            return header.startswith("Bearer ") and stub.issued.get(token, 0) > time.time()
        return False

    async def token(request: Request) -> Response:
        stub.token_requests += 1
        form = await request.form()
        cid, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            cid, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if form.get("grant_type") != "client_credentials" or (cid, secret) != (expect.client_id, expect.client_secret):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        tok = f"tok-{next(counter)}"
        stub.issued[tok] = time.time() + expect.token_ttl_s
        return JSONResponse({"access_token": tok, "token_type": "Bearer", "expires_in": expect.token_ttl_s,
                             "scope": form.get("scope") or ""})

    def handler(op_id: str, op: dict[str, Any]):
        status, body = _success(op)

        async def endpoint(request: Request) -> Response:
            import asyncio

            raw = await request.body()
            stub.calls.append({"operation_id": op_id, "method": request.method, "path": request.url.path,
                               "query": dict(request.query_params), "headers": dict(request.headers),
                               "body": raw.decode("utf-8", "replace"), "path_params": dict(request.path_params)})
            if stub.delay_s:
                await asyncio.sleep(stub.delay_s)
            if not authorised(request):
                return JSONResponse({"error": "unauthorised", "operation": op_id}, status_code=401)
            if stub.failures:
                code, headers = stub.failures.pop(0)
                return JSONResponse({"error": f"injected {code}"}, status_code=code, headers=headers)
            if status == 204 or body is None:
                return Response(status_code=204 if status == 204 else status)
            payload = body
            if stub.pad_bytes:
                payload = {"data": body, "padding": "x" * stub.pad_bytes}
            return Response(json.dumps(payload), status_code=status, media_type="application/json")

        return endpoint

    routes = [Route(token_path, token, methods=["POST"])] if expect.kind == "oauth2_client_credentials" else []
    for path, item in (spec.get("paths") or {}).items():
        for method in _METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if isinstance(op, dict):
                routes.append(Route(path, handler(str(op.get("operationId")), op), methods=[method.upper()]))
    stub.app.router.routes.extend(routes)
    return stub


class _Server:
    """uvicorn server that leaves signal handlers to the caller (pytest, benchmarks)."""

    def __new__(cls, config):  # type: ignore[no-untyped-def]
        import contextlib

        import uvicorn

        class S(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):  # type: ignore[override]
                yield

        return S(config)


def serve(app: Any):
    """``async with serve(app) as url:`` runs ``app`` with uvicorn on a free 127.0.0.1 port in this loop."""
    import asyncio
    import contextlib

    import uvicorn

    from agentgraph.supervisor import free_port

    @contextlib.asynccontextmanager
    async def run():  # type: ignore[no-untyped-def]
        port = free_port()
        server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        try:
            for _ in range(200):
                if server.started or task.done():
                    break
                await asyncio.sleep(0.05)
            assert server.started, "uvicorn did not start"
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=15)

    return run()
