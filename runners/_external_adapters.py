"""Adapters of :class:`runners._external.ExternalAgent`, one per remote agent platform.

Each speaks the platform's documented shape (docs/external-agents.md):

* ``rest`` - any HTTP endpoint: ``method`` + ``url``, body from ``request_template``, answer
  at ``response_path``.
* ``n8n`` - a Webhook-node workflow: ``POST <n8n>/webhook/<path>`` with JSON; the answer is
  what its "Respond to Webhook" node returns. Health: the instance's ``GET /healthz``.
* ``make`` - a scenario's custom webhook ``https://hook.<zone>.make.com/<token>``: answers
  ``Accepted`` (text) unless the scenario ends in a "Webhook response" module.
* ``zapier`` - a catch hook ``https://hooks.zapier.com/hooks/catch/<id>/<key>/``: answers
  ``{"status": "success", "id": ..., "request_id": ...}`` at once (Zaps run asynchronously):
  the run's output is that acknowledgement.
* ``langgraph`` - a LangGraph Platform / ``langgraph dev`` deployment via ``langgraph-sdk``'s
  ``LangGraphClient``: ``runs.wait`` on a thread derived from ours (created if missing), answer:
  the last message.
  Health: ``GET /ok``.
* ``langserve`` - a LangServe runnable: ``POST <url>/invoke`` ``{"input": ..., "config": {...}}``
  -> ``{"output": ...}``. Health: ``GET <url>/input_schema``.
* ``crewai`` - a CrewAI AMP (Enterprise) crew over REST (no crewai install):
  ``POST /kickoff`` ``{"inputs": {...}}`` -> ``{"kickoff_id"}``, then ``GET /status/{kickoff_id}``
  every ``poll_interval_s`` until completed / error. Health: ``GET /inputs``.

All HTTP goes through httpx; a connection that could not be opened (nothing was sent) is
retried once with tenacity; anything else is not retried here (webhooks are not idempotent).
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from agentgraph.spec import ExternalAgentConfig, ExternalKind

from runners._external import (
    ExternalAgent,
    ExternalAgentError,
    ExternalContext,
    ExternalMappingError,
    ExternalResult,
    ExternalTimeoutError,
    HealthResult,
    auth_headers,
    check_against_schema,
    extract,
    output_text,
    parse_input,
    render_template,
    status_hint,
)

__all__ = ["ADAPTERS", "HttpExternalAgent", "build_adapter"]

_WEBHOOK_BODY = {"input": "{{input}}", "thread_id": "{{thread_id}}", "run_id": "{{run_id}}"}


class HttpExternalAgent(ExternalAgent):
    """Generic REST / webhook agent; the other HTTP adapters refine its defaults.

    Args:
        config: the spec's ``external`` section.
        secret: the decrypted secret named by ``config.auth.secret`` (None without auth).
        transport: httpx transport override (tests); None: the network.
    """

    platform = "rest"
    default_template: Any = _WEBHOOK_BODY
    default_path: str | None = None

    def __init__(self, config: ExternalAgentConfig, *, secret: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(config)
        self._secret = secret
        self._transport = transport

    def __repr__(self) -> str:  # never show the secret
        return f"{type(self).__name__}(url={self.config.url!r})"

    # --- HTTP ---------------------------------------------------------------------------------
    def _client(self, timeout_s: float | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout_s or self.config.timeout_s, transport=self._transport,
                                 verify=_ssl_context(),
                                 headers={"User-Agent": "agentgraph-external/1", **self.config.headers})

    async def _call(self, method: str, url: str, *, body: Any = None, params: dict[str, Any] | None = None,
                    timeout_s: float | None = None) -> httpx.Response:
        """One HTTP call with auth; errors mapped (see :meth:`ExternalAgent.execute`)."""
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        headers.update(auth_headers(self.config.auth, self._secret, content))
        try:
            async with self._client(timeout_s) as client:
                async for attempt in AsyncRetrying(retry=retry_if_exception_type(httpx.ConnectError),
                                                   stop=stop_after_attempt(2), wait=wait_fixed(0.2), reraise=True):
                    with attempt:
                        resp = await client.request(method, url, content=content or None, headers=headers,
                                                    params=params)
        except httpx.TimeoutException as exc:
            raise ExternalTimeoutError(
                f"{self.platform}: no answer from {_host(url)} within timeout_s={timeout_s or self.config.timeout_s}"
                " s; raise external.timeout_s or check the remote workflow's duration.") from exc
        except httpx.HTTPError as exc:
            raise ExternalAgentError(
                f"{self.platform}: cannot reach {_host(url)} ({type(exc).__name__}): check the URL and that the "
                "platform is up and reachable from this server.") from exc
        if resp.status_code >= 400:
            raise ExternalAgentError(
                f"{self.platform}: {method} {_host(url)} answered HTTP {resp.status_code} - "
                f"{status_hint(resp.status_code)}. Body: {resp.text[:200]!r}", status_code=resp.status_code)
        return resp

    @staticmethod
    def _body_of(resp: httpx.Response) -> Any:
        if "json" in resp.headers.get("content-type", "") or resp.text[:1] in ("{", "["):
            try:
                return resp.json()
            except ValueError:
                pass
        return resp.text

    # --- mapping ------------------------------------------------------------------------------
    def _request_body(self, input: str, ctx: ExternalContext) -> Any:
        check_against_schema(parse_input(input), self.input_schema, what="input", platform=self.platform)
        template = self.config.request_template if self.config.request_template is not None \
            else self.default_template
        return render_template(template, input=input, ctx=ctx, platform=self.platform)

    def _result(self, raw: Any, status_code: int | None, *, calls: int = 1) -> ExternalResult:
        if self.config.await_callback:  # an acknowledgement: the answer comes with the callback
            return ExternalResult(output=output_text(raw), raw=raw, status_code=status_code, calls=calls)
        return self.mapped(raw, status_code, calls=calls)

    def mapped(self, raw: Any, status_code: int | None, *, calls: int = 1) -> ExternalResult:
        """The answer in ``raw`` (a response, or a callback body): ``response_path``, then ``output_schema``.

        Raises:
            ExternalMappingError: nothing at the path, an empty answer, or a schema mismatch.
        """
        value = extract(raw, self.config.response_path or self.default_path, platform=self.platform)
        value = self._refine(value)
        check_against_schema(value, self.output_schema, what="output", platform=self.platform)
        if value is None or value == "":
            raise ExternalMappingError(
                f"{self.platform}: the answer is empty (response: {str(raw)[:200]!r}); check response_path.")
        return ExternalResult(output=output_text(value), data=value, raw=raw, status_code=status_code, calls=calls)

    def _refine(self, value: Any) -> Any:
        return value

    # --- interface ----------------------------------------------------------------------------
    async def execute(self, input: str, ctx: ExternalContext) -> ExternalResult:  # noqa: D102
        body = self._request_body(input, ctx)
        method = self.config.method
        if method == "GET":  # the template's top-level fields become query parameters
            params = {k: output_text(v) for k, v in body.items()} if isinstance(body, dict) else {"input": body}
            resp = await self._call("GET", self.config.url, params=params)
        else:
            resp = await self._call(method, self.config.url, body=body)
        return self._result(self._body_of(resp), resp.status_code)

    def health_url(self) -> tuple[str, bool]:
        """URL the health check GETs, and whether any non-5xx, non-auth answer counts as up."""
        if self.config.health_path:
            return _join(_origin(self.config.url), self.config.health_path), False
        return self.config.url, True

    async def health_check(self) -> HealthResult:  # noqa: D102
        url, lenient = self.health_url()
        started = time.perf_counter()
        try:
            async with self._client(min(self.config.timeout_s, 10.0)) as client:
                resp = await client.get(url, headers=auth_headers(self.config.auth, self._secret, b""))
        except httpx.HTTPError as exc:
            return HealthResult(False, _ms(started), f"{self.platform}: {_host(url)} unreachable "
                                                     f"({type(exc).__name__}); check the URL.")
        ms, code = _ms(started), resp.status_code
        if code in (401, 403):
            return HealthResult(False, ms, f"{self.platform}: HTTP {code}: {status_hint(code)}.", code)
        if code < 400 or (lenient and code < 500):
            how = "answered" if code < 400 else f"is reachable (GET answered {code}; the endpoint takes POST)"
            return HealthResult(True, ms, f"{self.platform}: {_host(url)} {how}.", code)
        return HealthResult(False, ms, f"{self.platform}: GET {_host(url)} answered HTTP {code}: "
                                       f"{status_hint(code)}.", code)


class N8nAgent(HttpExternalAgent):
    """n8n Webhook-node workflow (answer from "Respond to Webhook"); health ``GET /healthz``."""

    platform = "n8n"

    def health_url(self) -> tuple[str, bool]:  # noqa: D102
        if self.config.health_path:
            return super().health_url()
        return _join(_origin(self.config.url), "/healthz"), False


class MakeAgent(HttpExternalAgent):
    """Make scenario custom webhook; ``Accepted`` unless the scenario has a Webhook response module."""

    platform = "make"


class ZapierAgent(HttpExternalAgent):
    """Zapier catch hook: asynchronous, the output is the acknowledgement ``{"status","id","request_id"}``."""

    platform = "zapier"

    def _result(self, raw: Any, status_code: int | None, *, calls: int = 1) -> ExternalResult:
        if isinstance(raw, dict) and raw.get("status") not in (None, "success"):
            raise ExternalAgentError(f"zapier: the catch hook did not accept the event: {str(raw)[:200]!r}; "
                                     "check that the Zap is on.", status_code=status_code)
        return super()._result(raw, status_code, calls=calls)


class LangServeAgent(HttpExternalAgent):
    """LangServe runnable: ``POST <url>/invoke`` -> ``{"output": ...}``; health ``GET <url>/input_schema``."""

    platform = "langserve"
    default_template = "{{input}}"
    default_path = "output"

    async def execute(self, input: str, ctx: ExternalContext) -> ExternalResult:  # noqa: D102
        body = {"input": self._request_body(input, ctx),
                "config": {"configurable": {"thread_id": ctx.thread_id}, "run_id": _uuid(ctx.run_id)},
                "kwargs": {}}
        resp = await self._call("POST", _join(self.config.url, "/invoke"), body=body)
        return self._result(self._body_of(resp), resp.status_code)

    def _refine(self, value: Any) -> Any:
        # A chat model's output is a serialised AIMessage: the answer is its content.
        if isinstance(value, dict) and isinstance(value.get("content"), str) and "type" in value:
            return value["content"]
        return value

    def health_url(self) -> tuple[str, bool]:  # noqa: D102
        if self.config.health_path:
            return super().health_url()
        return _join(self.config.url, "/input_schema"), False


class CrewAIAgent(HttpExternalAgent):
    """CrewAI AMP crew over REST: kickoff, then poll the status until completed or error."""

    platform = "crewai"
    default_template = {"input": "{{input}}"}
    default_path = None

    async def execute(self, input: str, ctx: ExternalContext) -> ExternalResult:  # noqa: D102
        inputs = self._request_body(input, ctx)
        if not isinstance(inputs, dict):
            raise ExternalMappingError("crewai: `inputs` must be a JSON object; make request_template a mapping "
                                       "of the crew's input names (GET /inputs lists them).")
        resp = await self._call("POST", _join(self.config.url, "/kickoff"), body={"inputs": inputs})
        kickoff = self._body_of(resp)
        kickoff_id = kickoff.get("kickoff_id") if isinstance(kickoff, dict) else None
        if not kickoff_id:
            raise ExternalMappingError(f"crewai: POST /kickoff answered without kickoff_id: {str(kickoff)[:200]!r}")
        deadline, calls = time.monotonic() + self.config.poll_timeout_s, 1
        while True:
            resp = await self._call("GET", _join(self.config.url, f"/status/{kickoff_id}"))
            calls += 1
            status = self._body_of(resp)
            state = str((status.get("status") or status.get("state") or "") if isinstance(status, dict) else "")
            if state.lower() in ("completed", "success", "succeeded"):
                result = status.get("result")
                if self.config.response_path is None:  # documented shape: result.output (older: result text)
                    result = result.get("output", result) if isinstance(result, dict) else result
                    return self._finish(result, status, resp.status_code, calls)
                return self._result(status, resp.status_code, calls=calls)
            if state.lower() in ("error", "failed", "failure"):
                raise ExternalAgentError(f"crewai: kickoff {kickoff_id} ended with an error: "
                                         f"{str(status.get('error') or status)[:300]}; check the crew's traces.")
            if time.monotonic() >= deadline:
                raise ExternalTimeoutError(f"crewai: kickoff {kickoff_id} still {state or 'running'} after "
                                           f"poll_timeout_s={self.config.poll_timeout_s} s.")
            await asyncio.sleep(self.config.poll_interval_s)

    def _finish(self, value: Any, raw: Any, status_code: int, calls: int) -> ExternalResult:
        check_against_schema(value, self.output_schema, what="output", platform=self.platform)
        if value in (None, ""):
            raise ExternalMappingError(f"crewai: the crew completed without a result: {str(raw)[:200]!r}")
        return ExternalResult(output=output_text(value), data=value, raw=raw, status_code=status_code, calls=calls)

    def health_url(self) -> tuple[str, bool]:  # noqa: D102
        if self.config.health_path:
            return super().health_url()
        return _join(self.config.url, "/inputs"), False


class LangGraphAgent(HttpExternalAgent):
    """Remote LangGraph deployment through ``langgraph-sdk`` (``LangGraphClient``, ``runs.wait``).

    The remote thread id is a UUID derived from tenant, agent and our thread id, so a
    conversation continues on the same remote thread (created on first use:
    ``if_not_exists="create"``).
    """

    platform = "langgraph"
    default_template = {"messages": [{"role": "user", "content": "{{input}}"}]}
    default_path = "$.messages[-1].content"

    async def execute(self, input: str, ctx: ExternalContext) -> ExternalResult:  # noqa: D102
        from langgraph_sdk.client import LangGraphClient

        body = self._request_body(input, ctx)
        thread = str(uuid.uuid5(uuid.NAMESPACE_URL, f"agentgraph:{ctx.tenant_id}:{ctx.agent_id}:{ctx.thread_id}"))
        # What ``langgraph_sdk.get_client(url=...)`` builds, with the shared TLS context (a new one per
        # run costs ~100 ms, tests/bench/bench_external.py) and our auth headers (x-api-key included).
        http = httpx.AsyncClient(
            base_url=self.config.url, timeout=self.config.timeout_s,
            transport=self._transport or httpx.AsyncHTTPTransport(retries=1, verify=_ssl_context()),
            headers={"User-Agent": "agentgraph-external/1", **self.config.headers,
                     **auth_headers(self.config.auth, self._secret, b"")})
        client = LangGraphClient(http)
        try:
            raw = await client.runs.wait(thread, str(self.config.assistant_id), input=body, if_not_exists="create",
                                         metadata={"agentgraph_run_id": ctx.run_id})
        except httpx.TimeoutException as exc:
            raise ExternalTimeoutError(f"langgraph: no answer from {_host(self.config.url)} within timeout_s="
                                       f"{self.config.timeout_s} s; raise external.timeout_s.") from exc
        except httpx.HTTPStatusError as exc:
            code = exc.response.status_code
            hint = "check assistant_id (the graph name in langgraph.json)" if code == 404 else status_hint(code)
            raise ExternalAgentError(f"langgraph: {_host(self.config.url)} answered HTTP {code} - {hint}. "
                                     f"Body: {exc.response.text[:200]!r}", status_code=code) from exc
        except httpx.HTTPError as exc:
            raise ExternalAgentError(f"langgraph: cannot reach {_host(self.config.url)} ({type(exc).__name__}): "
                                     "check the deployment URL.") from exc
        finally:
            await client.aclose()
        if isinstance(raw, dict) and isinstance(raw.get("__error__"), dict):
            err = raw["__error__"]
            raise ExternalAgentError(f"langgraph: the run failed remotely: {err.get('error')}: "
                                     f"{str(err.get('message'))[:300]}; check the deployment's logs.")
        return self._result(raw, 200)

    def health_url(self) -> tuple[str, bool]:  # noqa: D102
        if self.config.health_path:
            return super().health_url()
        return _join(self.config.url, "/ok"), False


#: Adapter class per ``ExternalKind``.
ADAPTERS: dict[ExternalKind, type[HttpExternalAgent]] = {
    ExternalKind.rest: HttpExternalAgent, ExternalKind.n8n: N8nAgent, ExternalKind.make: MakeAgent,
    ExternalKind.zapier: ZapierAgent, ExternalKind.langgraph: LangGraphAgent,
    ExternalKind.langserve: LangServeAgent, ExternalKind.crewai: CrewAIAgent,
}


def build_adapter(config: ExternalAgentConfig, *, secret: str | None = None,
                  transport: httpx.AsyncBaseTransport | None = None) -> HttpExternalAgent:
    """The adapter for ``config.kind`` (see module docstring)."""
    return ADAPTERS[config.kind](config, secret=secret, transport=transport)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One TLS context (certifi's CAs, httpx's default) for every call: building one costs tens of ms."""
    return httpx.create_ssl_context()


def _origin(url: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "", "", ""))


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _uuid(run_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"agentgraph-run:{run_id}"))
