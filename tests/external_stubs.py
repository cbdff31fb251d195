"""Local stubs of remote agent platforms, each speaking its documented request/response shape.

One uvicorn server in a background thread listens on one 127.0.0.1 port per platform
and dispatches by the port a request arrived on, so every stub serves the platform's
real paths from its own origin (``/webhook/<path>`` for n8n, ``/hooks/catch/<id>/<key>/``
for Zapier, ``/threads/{id}/runs/wait`` for LangGraph...). Stubs check the credentials
they are told to expect (401 otherwise) and record each call (``Stubs.calls``).

Shapes (see docs/external-agents.md for the sources):

* rest: ``POST /v1/answer`` -> ``{"data": {"answer": ...}}``; ``/v1/fail`` 500; ``/v1/slow``
  sleeps; ``/v1/odd`` answers an unexpected shape; ``GET /health``; bearer auth.
* n8n: ``POST /webhook/<path>`` -> Respond-to-Webhook JSON ``{"reply": ...}``; ``GET /healthz``
  -> ``{"status": "ok"}``; header auth ``X-N8N-Key``.
* make: ``POST /<token>`` -> ``Accepted`` (text); the scenario of ``MAKE_RESPONDING_TOKEN`` ends in
  a Webhook response module answering JSON ``{"summary": ...}``; header auth ``x-make-apikey``.
* zapier: ``POST /hooks/catch/<id>/<key>/`` -> ``{"status": "success", "id", "request_id"}``; when the
  body carries ``callback_url`` the "Zap" POSTs its result there 0.2 s later.
* langgraph: ``POST /threads/{thread_id}/runs/wait`` (thread kept in memory, ``if_not_exists``
  honoured) -> the thread's state values ``{"messages": [...]}``; ``GET /ok``; ``x-api-key``.
* langserve: ``POST /<path>/invoke`` ``{"input", "config", "kwargs"}`` -> ``{"output": AIMessage,
  "metadata": {...}}``; ``GET /<path>/input_schema``.
* crewai: ``POST /kickoff`` -> ``{"kickoff_id"}``; ``GET /status/{id}`` running, then completed
  with ``result.output``; ``GET /inputs``; bearer auth.
* hmac (a rest endpoint that verifies ``X-Agentgraph-Signature``): ``POST /signed``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from agentgraph.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook

#: Token of the Make scenario with a "Webhook response" module (docs/examples/external-make.yaml).
MAKE_RESPONDING_TOKEN = "4x7hkq2m9w8p3n5r"
PLATFORMS = ("rest", "n8n", "make", "zapier", "langgraph", "langserve", "crewai")
SECRETS = {"rest": "rest-token-123", "n8n": "n8n-key-456", "make": "make-key-789", "langgraph": "lg-key-000",
           "crewai": "crew-token-111", "hmac": "hmac-secret-222"}


@dataclass
class Stubs:
    """The running stubs: ``origin[platform]`` is ``http://127.0.0.1:<port>``; ``calls[platform]`` the requests."""

    origin: dict[str, str] = field(default_factory=dict)
    calls: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {p: [] for p in PLATFORMS})
    slow_s: float = 3.0
    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # langgraph thread states
    kickoffs: dict[str, int] = field(default_factory=dict)  # crewai status polls per kickoff
    tasks: list[Any] = field(default_factory=list)  # zapier callbacks in flight


def _denied() -> JSONResponse:
    return JSONResponse({"message": "Authorization failed - please check your credentials"}, status_code=401)


def _bearer_ok(request: Request, token: str) -> bool:
    return request.headers.get("authorization") == f"Bearer {token}"


def _text_of(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def build_apps(stubs: Stubs) -> dict[str, Starlette]:
    """One Starlette app per platform (see module docstring)."""

    async def record(platform: str, request: Request) -> Any:
        raw = await request.body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        stubs.calls[platform].append({"method": request.method, "path": request.url.path, "body": body,
                                      "headers": dict(request.headers), "raw": raw})
        return body

    # --- rest ---
    async def rest_answer(request: Request) -> Response:
        body = await record("rest", request)
        if not _bearer_ok(request, SECRETS["rest"]):
            return _denied()
        return JSONResponse({"data": {"answer": f"REST agent got: {_text_of(body.get('question', body))}"},
                             "meta": {"thread": body.get("thread_id")}})

    async def rest_fail(request: Request) -> Response:
        await record("rest", request)
        return JSONResponse({"error": "internal"}, status_code=500)

    async def rest_slow(request: Request) -> Response:
        await record("rest", request)
        await asyncio.sleep(stubs.slow_s)
        return JSONResponse({"data": {"answer": "too late"}})

    async def rest_odd(request: Request) -> Response:
        await record("rest", request)
        return JSONResponse({"unexpected": {"shape": True}})

    async def rest_signed(request: Request) -> Response:
        body = await record("rest", request)
        try:
            verify_webhook([SECRETS["hmac"]], timestamp=request.headers.get(TIMESTAMP_HEADER),
                           signature=request.headers.get(SIGNATURE_HEADER), body=await request.body())
        except Exception:
            return _denied()
        return JSONResponse({"result": {"text": f"signed ok: {body['input']}"}})

    async def rest_health(request: Request) -> Response:
        if not _bearer_ok(request, SECRETS["rest"]):
            return _denied()
        return JSONResponse({"status": "ok"})

    # --- n8n ---
    async def n8n_webhook(request: Request) -> Response:
        body = await record("n8n", request)
        if request.headers.get("x-n8n-key") != SECRETS["n8n"]:
            return JSONResponse({"code": 403, "message": "Authorization data is wrong!"}, status_code=403)
        if request.path_params["path"] != "support-agent":
            return JSONResponse({"code": 404, "message": "The requested webhook \"POST x\" is not registered.",
                                 "hint": "Click the 'Execute workflow' button"}, status_code=404)
        return JSONResponse({"reply": f"n8n workflow answered: {body['input']}", "sessionId": body["thread_id"]})

    async def n8n_health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # --- make ---
    async def make_hook(request: Request) -> Response:
        body = await record("make", request)
        if request.headers.get("x-make-apikey") != SECRETS["make"]:
            return PlainTextResponse("Unauthorized", status_code=401)
        token = request.path_params["token"]
        if token == MAKE_RESPONDING_TOKEN:  # scenario ending in a "Webhook response" module
            return JSONResponse({"summary": f"Make scenario processed: {body['input']}"})
        return PlainTextResponse("Accepted")

    async def make_root(request: Request) -> Response:
        return PlainTextResponse("Not found", status_code=404)

    # --- zapier ---
    async def zapier_hook(request: Request) -> Response:
        body = await record("zapier", request)
        if isinstance(body, dict) and body.get("callback_url"):  # the Zap's last step POSTs its result back
            async def finish() -> None:
                import httpx

                await asyncio.sleep(0.2)
                async with httpx.AsyncClient() as client:
                    r = await client.post(body["callback_url"], json={"lead": {"status": "notified"},
                                                                     "note": f"Zap done: {body.get('message')}"})
                stubs.calls["zapier"].append({"callback_status": r.status_code})

            stubs.tasks.append(asyncio.get_running_loop().create_task(finish()))
        return JSONResponse({"attempt": str(uuid.uuid4()), "id": str(uuid.uuid4()),
                             "request_id": str(uuid.uuid4()), "status": "success"})

    # --- langgraph ---
    async def lg_wait(request: Request) -> Response:
        body = await record("langgraph", request)
        if request.headers.get("x-api-key") != SECRETS["langgraph"]:
            return JSONResponse({"detail": "Invalid API key"}, status_code=403)
        if body.get("assistant_id") != "support":
            return JSONResponse({"detail": f"Assistant '{body.get('assistant_id')}' not found"}, status_code=404)
        tid = request.path_params["thread_id"]
        if tid not in stubs.threads:
            if body.get("if_not_exists") != "create":
                return JSONResponse({"detail": f"Thread {tid} not found"}, status_code=404)
            stubs.threads[tid] = []
        msgs = stubs.threads[tid]
        for m in body["input"]["messages"]:
            msgs.append({"type": "human", "content": m["content"], "id": str(uuid.uuid4())})
        turn = sum(1 for m in msgs if m["type"] == "human")
        msgs.append({"type": "ai", "content": f"LangGraph turn {turn}: {msgs[-1]['content']}",
                     "id": str(uuid.uuid4()), "tool_calls": []})
        return JSONResponse({"messages": msgs})

    async def lg_ok(request: Request) -> Response:
        return JSONResponse({"ok": True})

    # --- langserve ---
    async def ls_invoke(request: Request) -> Response:
        body = await record("langserve", request)
        if set(body) - {"input", "config", "kwargs"}:
            return JSONResponse({"detail": "extra fields"}, status_code=422)
        return JSONResponse({"output": {"content": f"LangServe says: {_text_of(body['input'])}", "type": "ai",
                                        "additional_kwargs": {}, "id": None},
                             "metadata": {"run_id": str(uuid.uuid4()), "feedback_tokens": []}})

    async def ls_schema(request: Request) -> Response:
        return JSONResponse({"title": "ChatPromptValue", "type": "string"})

    # --- crewai ---
    async def crew_kickoff(request: Request) -> Response:
        body = await record("crewai", request)
        if not _bearer_ok(request, SECRETS["crewai"]):
            return _denied()
        if not isinstance(body.get("inputs"), dict):
            return JSONResponse({"error": "inputs required"}, status_code=422)
        kid = str(uuid.uuid4())
        stubs.kickoffs[kid] = 0
        stubs.calls["crewai"][-1]["kickoff_id"] = kid
        return JSONResponse({"kickoff_id": kid})

    async def crew_status(request: Request) -> Response:
        await record("crewai", request)
        if not _bearer_ok(request, SECRETS["crewai"]):
            return _denied()
        kid = request.path_params["kid"]
        if kid not in stubs.kickoffs:
            return JSONResponse({"error": "not found"}, status_code=404)
        stubs.kickoffs[kid] += 1
        if stubs.kickoffs[kid] < 2:
            return JSONResponse({"status": "running", "current_task": "research",
                                 "progress": {"completed_tasks": 0, "total_tasks": 1}})
        topic = next(c["body"]["inputs"].get("topic") for c in stubs.calls["crewai"] if c.get("kickoff_id") == kid)
        return JSONResponse({"status": "completed", "execution_time": 1.5,
                             "result": {"output": f"Crew report on {topic}", "tasks": []}})

    async def crew_inputs(request: Request) -> Response:
        if not _bearer_ok(request, SECRETS["crewai"]):
            return _denied()
        return JSONResponse({"inputs": ["topic"]})

    return {
        "rest": Starlette(routes=[Route("/v1/answer", rest_answer, methods=["POST"]),
                                  Route("/v1/fail", rest_fail, methods=["POST"]),
                                  Route("/v1/slow", rest_slow, methods=["POST"]),
                                  Route("/v1/odd", rest_odd, methods=["POST"]),
                                  Route("/signed", rest_signed, methods=["POST"]),
                                  Route("/health", rest_health, methods=["GET"])]),
        "n8n": Starlette(routes=[Route("/webhook/{path}", n8n_webhook, methods=["POST"]),
                                 Route("/healthz", n8n_health, methods=["GET"])]),
        "make": Starlette(routes=[Route("/{token}", make_hook, methods=["POST"]),
                                  Route("/", make_root, methods=["GET"])]),
        "zapier": Starlette(routes=[Route("/hooks/catch/{hid}/{key}/", zapier_hook, methods=["POST"])]),
        "langgraph": Starlette(routes=[Route("/threads/{thread_id}/runs/wait", lg_wait, methods=["POST"]),
                                       Route("/ok", lg_ok, methods=["GET"])]),
        "langserve": Starlette(routes=[Route("/{path:path}/invoke", ls_invoke, methods=["POST"]),
                                       Route("/{path:path}/input_schema", ls_schema, methods=["GET"])]),
        "crewai": Starlette(routes=[Route("/kickoff", crew_kickoff, methods=["POST"]),
                                    Route("/status/{kid}", crew_status, methods=["GET"]),
                                    Route("/inputs", crew_inputs, methods=["GET"])]),
    }


class StubServer:
    """All stubs on one uvicorn server (one socket per platform), in a daemon thread."""

    def __init__(self) -> None:
        import uvicorn

        self.stubs = Stubs()
        apps = build_apps(self.stubs)
        self._sockets: list[socket.socket] = []
        by_port: dict[int, Starlette] = {}
        for name in PLATFORMS:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            self._sockets.append(s)
            by_port[port] = apps[name]
            self.stubs.origin[name] = f"http://127.0.0.1:{port}"

        async def dispatch(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "lifespan":
                msg = await receive()
                while msg["type"] != "lifespan.shutdown":
                    await send({"type": msg["type"] + ".complete"})
                    msg = await receive()
                await send({"type": "lifespan.shutdown.complete"})
                return
            await by_port[scope["server"][1]](scope, receive, send)

        class _Server(uvicorn.Server):
            def install_signal_handlers(self) -> None:  # pytest owns signals
                pass

        self.server = _Server(uvicorn.Config(dispatch, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self._sockets}, daemon=True)

    def start(self, timeout_s: float = 30.0) -> Stubs:
        """Start serving; returns the :class:`Stubs` (origins, recorded calls)."""
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("external stubs did not start")
            time.sleep(0.05)
        return self.stubs

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        for s in self._sockets:
            s.close()


def basic(user: str, password: str) -> str:
    """``Authorization`` value of HTTP Basic credentials (tests)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
