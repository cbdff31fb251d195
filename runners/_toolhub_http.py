"""The HTTP path from a tool's MCP app to its upstream API.

``FastMCP.from_openapi`` sends every operation through one ``httpx2.AsyncClient``
(``client.send``); :func:`build_upstream_client` gives each tool a client whose

* ``auth`` is a :class:`CredentialAuth` (API key in header or query, bearer,
  basic, OAuth 2 client credentials through authlib's ``AsyncOAuth2Client``, plus
  custom headers) - applied *after* fastmcp built and logged the request, so
  credentials never appear in its debug log;
* ``transport`` is a :class:`ResilientTransport`: rate limit per tool and per
  tenant (``limits``, moving window, memory or Redis storage), retries with
  exponential backoff and jitter on 429/5xx (tenacity, ``Retry-After`` honoured),
  and a cap on the response body size.

:func:`probe` is "Test connection": one GET through the same client.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import AsyncIterator

import httpx2
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from agentgraph.errors import ToolError
from runners._toolhub_config import ToolConfig, ToolCredentials

__all__ = ["CredentialAuth", "ResilientTransport", "ToolRateLimiter", "RateDecision", "ProbeResult",
           "build_upstream_client", "probe", "PROBE_EXTENSION"]

#: Request extension marking health probes: not counted by rate limits.
PROBE_EXTENSION = "agentgraph_probe"
# Statuses worth retrying (RFC 9110 §15.6: 5xx are server-side and may be transient; 429: RFC 6585).
_RETRY_ANY = {429, 500, 502, 503, 504}
# POST/PATCH may have had an effect on a 500/502/504, so only retry when the server
# said it did not process the request (429, 503) or the connection never opened.
_RETRY_UNSAFE = {429, 503}
_IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}


@dataclass(frozen=True)
class RateDecision:
    """Outcome of :meth:`ToolRateLimiter.acquire`.

    Attributes:
        ok: the call may proceed.
        scope: ``"tool"`` or ``"tenant"``: which limit refused (empty when ok).
        limit: the refusing limit as text (``"5 per 1 minute"``).
        retry_after_s: seconds until the window frees a slot (0 when ok).
    """

    ok: bool
    scope: str = ""
    limit: str = ""
    retry_after_s: float = 0.0


class ToolRateLimiter:
    """Moving-window rate limits per tool and per tenant (the ``limits`` library).

    Args:
        storage_uri: ``limits`` async storage: ``"async+memory://"`` (one process)
            or ``"async+redis://host:port/db"`` (shared by every API process).
        tenant_limit: limit shared by all tools of one tenant, e.g. ``"600/minute"``;
            ``None`` disables it.
    """

    def __init__(self, storage_uri: str = "async+memory://", tenant_limit: str | None = None) -> None:
        from limits import parse
        from limits.aio.strategies import MovingWindowRateLimiter
        from limits.storage import storage_from_string

        self.storage = storage_from_string(storage_uri)
        self._limiter = MovingWindowRateLimiter(self.storage)
        self._parse = parse
        self.tenant_limit = tenant_limit

    async def acquire(self, *, tenant_id: str, tool_id: str, tool_limit: str | None) -> RateDecision:
        """Count one call against the tool's and the tenant's limits.

        Returns:
            A :class:`RateDecision`; when refused, no slot of the refusing limit is used.
        """
        for scope, text, ident in (("tool", tool_limit, f"{tenant_id}/{tool_id}"),
                                   ("tenant", self.tenant_limit, tenant_id)):
            if not text:
                continue
            item = self._parse(text)
            if not await self._limiter.hit(item, "agentgraph-tools", scope, ident):
                stats = await self._limiter.get_window_stats(item, "agentgraph-tools", scope, ident)
                return RateDecision(False, scope, str(item), max(0.0, stats.reset_time - time.time()))
        return RateDecision(True)


class _OAuth2TokenSource:
    """Client-credentials tokens from authlib's ``AsyncOAuth2Client`` (fetch once, refresh when expired)."""

    def __init__(self, creds: ToolCredentials, timeout_s: float) -> None:
        from authlib.integrations.httpx_client import AsyncOAuth2Client

        a = creds.auth
        self.token_url = str(a.token_url)
        self._client = AsyncOAuth2Client(
            client_id=a.client_id, client_secret=a.client_secret.get_secret_value() if a.client_secret else None,
            scope=" ".join(a.scopes) or None, token_endpoint=self.token_url, grant_type="client_credentials",
            timeout=timeout_s, leeway=30,  # refresh 30 s before expiry
        )
        self._lock = asyncio.Lock()

    async def access_token(self, *, force: bool = False) -> str:
        try:
            async with self._lock:
                if force or not self._client.token:
                    await self._client.fetch_token(self.token_url, grant_type="client_credentials")
                else:
                    await self._client.ensure_active_token(self._client.token)
        except Exception as exc:  # authlib OAuthError, httpx2 errors: report without the secret
            raise ToolError(
                f"OAuth 2 token request to {self.token_url} failed ({type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}): check the client id, secret, scopes and token URL."
            ) from exc
        return str(self._client.token["access_token"])

    async def aclose(self) -> None:
        await self._client.aclose()


class CredentialAuth(httpx2.Auth):
    """Adds a tool's credentials and custom headers to each upstream request.

    On a 401 with OAuth 2 the token is fetched again once (it may have been revoked early).

    Args:
        creds: decrypted credentials (kept in memory only).
        timeout_s: timeout of OAuth 2 token requests, seconds.
    """

    def __init__(self, creds: ToolCredentials, *, timeout_s: float = 30.0) -> None:
        self._creds = creds
        self._oauth = _OAuth2TokenSource(creds, timeout_s) if creds.auth.kind == "oauth2_client_credentials" else None

    def __repr__(self) -> str:  # never show secrets in reprs (logs, tracebacks)
        return f"CredentialAuth(kind={self._creds.auth.kind!r})"

    async def _apply(self, request: httpx2.Request, *, force: bool = False) -> None:
        for name, value in self._creds.headers.items():
            request.headers[name] = value
        a = self._creds.auth
        if a.kind == "api_key" and a.value is not None:
            if a.location == "query":
                request.url = request.url.copy_merge_params({str(a.name): a.value.get_secret_value()})
            else:
                request.headers[str(a.name)] = a.value.get_secret_value()
        elif a.kind == "bearer" and a.value is not None:
            request.headers["Authorization"] = f"Bearer {a.value.get_secret_value()}"
        elif a.kind == "basic" and a.password is not None:
            pair = f"{a.username}:{a.password.get_secret_value()}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()  # RFC 7617
        elif self._oauth is not None:
            request.headers["Authorization"] = f"Bearer {await self._oauth.access_token(force=force)}"

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncIterator[httpx2.Request]:  # type: ignore[override]
        await self._apply(request)
        response = yield request
        if response.status_code == 401 and self._oauth is not None:
            await response.aread()
            await self._apply(request, force=True)
            yield request

    async def aclose(self) -> None:
        """Close the OAuth 2 token client, if any."""
        if self._oauth is not None:
            await self._oauth.aclose()


class _RetryableStatus(Exception):
    def __init__(self, status: int, retry_after_s: float | None) -> None:
        super().__init__(f"HTTP {status}")
        self.retry_after_s = retry_after_s


class ResilientTransport(httpx2.AsyncBaseTransport):
    """Rate limit, retries with backoff, and response size cap around a real transport.

    Args:
        inner: the transport that talks to the network (``httpx2.AsyncHTTPTransport``).
        config: the tool's :class:`ToolConfig` (attempts, backoff, limit, cap).
        limiter: shared :class:`ToolRateLimiter`, or ``None`` for no rate limiting.
        tenant_id / tool_id: whose limits apply.
    """

    def __init__(self, inner: httpx2.AsyncBaseTransport, *, config: ToolConfig,
                 limiter: ToolRateLimiter | None, tenant_id: str, tool_id: str) -> None:
        self.inner = inner
        self.config = config
        self.limiter = limiter
        self.tenant_id = tenant_id
        self.tool_id = tool_id
        self._backoff = wait_exponential_jitter(
            multiplier=config.backoff_initial_s, max=config.backoff_max_s, jitter=config.backoff_initial_s)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.limiter is not None and not request.extensions.get(PROBE_EXTENSION):
            d = await self.limiter.acquire(tenant_id=self.tenant_id, tool_id=self.tool_id,
                                           tool_limit=self.config.rate_limit)
            if not d.ok:
                which = f"tool {self.tool_id!r}" if d.scope == "tool" else f"tenant {self.tenant_id!r}"
                fix = "the tool's rate_limit" if d.scope == "tool" else "AGENTGRAPH_TOOLHUB__TENANT_RATE_LIMIT"
                # A fastmcp ToolError keeps this text; an HTTP 429 answer would be replaced by a generic message.
                from fastmcp.exceptions import ToolError as MCPToolError

                raise MCPToolError(f"HTTP 429 from the platform: rate limit {d.limit} of {which} reached; "
                                   f"retry in {d.retry_after_s:.0f} s or raise {fix}.")
        attempts = self.config.max_attempts
        response: httpx2.Response | None = None
        async for attempt in AsyncRetrying(stop=stop_after_attempt(attempts), wait=self._wait,
                                           retry=retry_if_exception(self._retryable), reraise=True):
            with attempt:
                response = await self.inner.handle_async_request(request)
                if (self._retry_status(request.method, response.status_code)
                        and attempt.retry_state.attempt_number < attempts):
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    await response.aclose()
                    raise _RetryableStatus(response.status_code, retry_after)
        assert response is not None
        return await self._capped(request, response)

    def _retry_status(self, method: str, status: int) -> bool:
        return status in (_RETRY_ANY if method.upper() in _IDEMPOTENT else _RETRY_UNSAFE)

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        # ConnectError/ConnectTimeout: the request never reached the server, safe for any method.
        return isinstance(exc, (_RetryableStatus, httpx2.ConnectError, httpx2.ConnectTimeout))

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.config.backoff_max_s)
        return self._backoff(state)

    async def _capped(self, request: httpx2.Request, response: httpx2.Response) -> httpx2.Response:
        cap = self.config.max_response_bytes
        too_big = (f"the response of {request.method} {request.url.path} is larger than the tool's "
                   f"max_response_bytes ({cap} bytes): ask for less (filters, paging) or raise the cap.")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            await response.aclose()
            return _local(request, 502, too_big)
        body = bytearray()
        try:
            async for chunk in response.stream:  # type: ignore[union-attr]
                body += chunk
                if len(body) > cap:
                    return _local(request, 502, too_big)
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "transfer-encoding"]
        return httpx2.Response(response.status_code, headers=headers, content=bytes(body), request=request,
                               extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form (RFC 9110 §10.2.3); an HTTP date falls back to backoff.
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _local(request: httpx2.Request, status: int, message: str, headers: dict[str, str] | None = None
           ) -> httpx2.Response:
    """A response made by the platform itself (a body over the size cap)."""
    body = json.dumps({"error": message, "source": "agentgraph"}).encode()
    return httpx2.Response(status, headers={"content-type": "application/json", **(headers or {})},
                           content=body, request=request)


def build_upstream_client(base_url: str, *, creds: ToolCredentials, config: ToolConfig,
                          limiter: ToolRateLimiter | None, tenant_id: str, tool_id: str,
                          inner: httpx2.AsyncBaseTransport | None = None) -> httpx2.AsyncClient:
    """The ``httpx2.AsyncClient`` a tool's MCP app uses to call its API.

    Args:
        base_url: the API's base URL (``http(s)://host[:port][/prefix]``).
        creds / config: the tool's credentials and HTTP behaviour.
        limiter: shared rate limiter (``None``: no limits).
        tenant_id / tool_id: whose limits apply.
        inner: network transport (tests and benchmarks may pass another).

    Returns:
        A client the caller must ``aclose()``; redirects are not followed
        (a redirect could carry credentials to another host).
    """
    transport = ResilientTransport(inner or httpx2.AsyncHTTPTransport(), config=config, limiter=limiter,
                                   tenant_id=tenant_id, tool_id=tool_id)
    return httpx2.AsyncClient(base_url=base_url, timeout=config.timeout_s, auth=CredentialAuth(
        creds, timeout_s=config.timeout_s), transport=transport, follow_redirects=False)


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of a connection test or health check.

    Attributes:
        ok: the service answered as expected.
        status: ``"up"``, ``"degraded"`` (answered with an error status) or ``"down"``.
        latency_ms: wall time of the probe in milliseconds.
        http_status: HTTP status when there was an answer.
        message: what was probed and what came back (never a credential).
    """

    ok: bool
    status: str
    latency_ms: float
    http_status: int | None
    message: str


async def probe(client: httpx2.AsyncClient, path: str, *, any_status_ok: bool = False) -> ProbeResult:
    """GET ``path`` through a tool's client (auth applied, not rate limited).

    Args:
        client: from :func:`build_upstream_client`.
        path: path relative to the base URL (``/health``).
        any_status_ok: count any status below 500 except 401/403 as up (used
            when probing the bare base URL, which need not be a route).
    """
    started = time.perf_counter()
    url = client.base_url.join(path.lstrip("/")) if path not in ("", "/") else client.base_url
    try:
        resp = await client.get(url, extensions={PROBE_EXTENSION: True})
    except Exception as exc:
        ms = (time.perf_counter() - started) * 1000
        detail = exc.message if isinstance(exc, ToolError) else f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        return ProbeResult(False, "down", ms, None, f"GET {url.path} failed: {detail}")
    ms = (time.perf_counter() - started) * 1000
    code = resp.status_code
    if code in (401, 403):
        return ProbeResult(False, "degraded", ms, code,
                           f"GET {url.path} answered {code}: the API refused the credentials; update the tool's auth.")
    ok = code < 400 or (any_status_ok and code < 500)
    note = "" if not any_status_ok or code < 400 else " (base URL reachable; set health_path for a real check)"
    return ProbeResult(ok, "up" if ok else "degraded", ms, code, f"GET {url.path} answered {code}{note}.")
