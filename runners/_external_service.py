"""External agents in the platform: named secrets, runs, "Test connection" and the health monitor.

* :class:`ExternalSecretStore` - tenant secrets referenced by name from ``external.auth.secret``,
  each value sealed with :class:`agentgraph.secrets.SecretBox` (Fernet, the tool hub's
  mechanism) and stored as a name -> token map on the Tenant node (``external_secrets_enc``).
  Values are never returned by the API; only names are listed.
* :class:`ExternalAgentService` - runs an external agent for ``RunService`` (span
  ``external.call`` with platform, host, status code, latency), probes one agent now
  (:meth:`test`) or every external agent periodically (:meth:`start`), storing
  ``health_status`` (``up``/``down``), ``health_latency_ms``, ``health_checked_at`` and
  ``health_detail`` on the Agent node (tenant-scoped).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from opentelemetry.trace import Status, StatusCode, Tracer

from agentgraph.errors import NotFoundError, ServiceUnavailableError, UserError
from agentgraph.secrets import SecretBox
from agentgraph.spec import AgentSpec, AgentType
from graph import AgentRepository, GraphClient, now_iso

from runners._external import (ExternalAgentError, ExternalContext, ExternalResult, ExternalTimeoutError,
                               HealthResult)
from runners._external_adapters import HttpExternalAgent, build_adapter
from runners._guardrails import guarded_tool_call, in_sandbox
from runners._local_tools import RunContext
from runners._periodic import Periodic
from runners._runner import RunOutcome, RunUsage
from runners._sandbox import EXTERNAL_PREFIX

__all__ = ["AgentHealth", "ExternalAgentService", "ExternalSecretStore", "OutputHook"]

log = logging.getLogger("agentgraph.external")
_CB_TOKEN = "agentgraph:external:cbtok:{}"  # one-shot callback token of a run (TTL: callback_timeout_s + 60 s)
_CB_BODY = "agentgraph:external:cb:{}"  # the callback body, handed to the waiting run
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
#: Largest secret value accepted, characters (tokens and keys are far shorter).
MAX_SECRET_CHARS = 8192
#: ``async hook(ctx, output) -> output`` applied to an external agent's output before it is
#: recorded: the seam for guardrails / PII redaction (issue 7, helper G).
OutputHook = Callable[[RunContext, str], Awaitable[str]]


class ExternalSecretStore:
    """Named tenant secrets for external agents (see module docstring).

    Args:
        client: the graph client.
        box: seals and opens values (the platform's SecretBox).
    """

    def __init__(self, client: GraphClient, box: SecretBox) -> None:
        self.client = client
        self.box = box
        self._lock = asyncio.Lock()  # one read-modify-write of the map at a time in this process

    async def _map(self, tenant_id: str) -> dict[str, str]:
        rows = await self.client.query("MATCH (t:Tenant {id: $tid}) RETURN t.external_secrets_enc AS m",
                                       tid=tenant_id)
        return json.loads(rows[0]["m"]) if rows and rows[0]["m"] else {}

    async def _write(self, tenant_id: str, mapping: dict[str, str]) -> None:
        rows = await self.client.write("MATCH (t:Tenant {id: $tid}) SET t.external_secrets_enc = $m RETURN t.id AS id",
                                       tid=tenant_id, m=json.dumps(mapping, sort_keys=True))
        if not rows:
            raise NotFoundError(f"Tenant {tenant_id!r} does not exist.")

    async def set(self, *, tenant_id: str, name: str, value: str) -> None:
        """Store (or replace) secret ``name``.

        Raises:
            UserError: a name outside ``[A-Za-z0-9_.-]{1,64}``, or an empty / oversized value.
        """
        if not _NAME.match(name or ""):
            raise UserError(f"Secret name {name!r} is invalid: use 1-64 letters, digits, '_', '.', '-'.")
        if not value or len(value) > MAX_SECRET_CHARS:
            raise UserError(f"The secret value must be 1-{MAX_SECRET_CHARS} characters.")
        async with self._lock:
            mapping = await self._map(tenant_id)
            mapping[name] = self.box.encrypt(value)
            await self._write(tenant_id, mapping)

    async def delete(self, *, tenant_id: str, name: str) -> bool:
        """Remove secret ``name``; False when it did not exist."""
        async with self._lock:
            mapping = await self._map(tenant_id)
            if mapping.pop(name, None) is None:
                return False
            await self._write(tenant_id, mapping)
            return True

    async def names(self, *, tenant_id: str) -> list[str]:
        """Names of the tenant's secrets, sorted (never their values)."""
        return sorted(await self._map(tenant_id))

    async def get(self, *, tenant_id: str, name: str) -> str:
        """The decrypted value.

        Raises:
            UserError: (``SECRET_NOT_FOUND``) no such secret in the tenant.
            ConfigError: it cannot be decrypted with the configured keys.
        """
        token = (await self._map(tenant_id)).get(name)
        if token is None:
            raise UserError(f"The external agent's auth uses secret {name!r}, which does not exist in this tenant; "
                            "create it with the GraphQL mutation setAgentSecret(name, value).",
                            code="SECRET_NOT_FOUND")
        return self.box.decrypt(token)


@dataclass(frozen=True)
class AgentHealth:
    """Last health check of an external agent, as stored on its Agent node (None: never checked)."""

    agent_id: str
    status: str | None
    latency_ms: float | None
    checked_at: str | None
    detail: str | None


class ExternalAgentService:
    """Runs and probes external agents (see module docstring).

    Args:
        agents: agent repository (specs, and the Agent nodes holding health).
        secrets: the named-secret store.
        tracer: where ``external.call`` spans go (the run's tracer).
        health_interval_s: period of the scheduled health check, seconds (0: none).
        transport: httpx transport override for every adapter (tests); None: the network.
        redis: where callbacks (``await_callback``) are handed from the API process that receives
            them to the process running the run; None: callbacks are unavailable.
        public_url: base URL remote platforms reach this platform at (``{{callback_url}}``).
    """

    def __init__(self, *, agents: AgentRepository, secrets: ExternalSecretStore, tracer: Tracer,
                 health_interval_s: float = 300.0, transport: httpx.AsyncBaseTransport | None = None,
                 redis: Any = None, public_url: str = "http://127.0.0.1:8000") -> None:
        self.agents = agents
        self.secrets = secrets
        self.tracer = tracer
        self.redis = redis
        self.public_url = public_url.rstrip("/")
        self.health_interval_s = health_interval_s
        self.transport = transport
        #: Applied in order to each output before it is recorded (guardrails / PII seam).
        self.output_hooks: list[OutputHook] = []
        self._health = Periodic(self.check_all, health_interval_s, name="external-agents-health")
        self.checks_run = 0  # completed scheduled rounds (tests read it)

    async def adapter(self, *, tenant_id: str, spec: AgentSpec) -> HttpExternalAgent:
        """The adapter of ``spec.external`` with its secret decrypted.

        Raises:
            UserError: the spec is not external, or its secret does not exist.
        """
        if spec.external is None:
            raise UserError(f"Agent {spec.name!r} is not an external agent (agent_type {spec.agent_type.value!r}).")
        cfg = spec.external
        secret = await self.secrets.get(tenant_id=tenant_id, name=cfg.auth.secret) if cfg.auth.secret else None
        return build_adapter(cfg, secret=secret, transport=self.transport)

    async def run(self, ctx: RunContext, input: str, usage: RunUsage) -> RunOutcome:
        """Execute ``ctx.spec`` remotely within ``limits.timeout_s``; the output after :attr:`output_hooks`.

        No LLM is called, so ``usage`` keeps zero tokens and cost (budgets do not apply); the remote
        call counts as one tool call (``limits.max_tool_calls``). It goes through the run's tool-call
        choke point (``runners._guardrails.guarded_tool_call``): in a sandbox run the platform is not
        called and the answer is an earlier recording of the same input, else generated from
        ``external.output_schema``, else a placeholder (``runners._sandbox``); the span has ``sandbox``.

        Raises:
            ExternalAgentError / ExternalMappingError / ExternalTimeoutError: see ``runners._external``.
        """
        spec = ctx.spec
        cfg = spec.external
        assert cfg is not None
        sandbox = in_sandbox()  # a sandbox run never reaches the remote platform (runners._sandbox)
        attrs = {"external.platform": cfg.kind.value, "external.host": urlsplit(cfg.url).netloc, "sandbox": sandbox}
        started = time.perf_counter()
        got: list[ExternalResult] = []

        async def real_call() -> str:
            agent = await self.adapter(tenant_id=ctx.tenant_id, spec=spec)
            xctx = ExternalContext(tenant_id=ctx.tenant_id, agent_id=ctx.agent_id, run_id=ctx.run_id,
                                   thread_id=ctx.thread_id,
                                   callback_url=await self._open_callback(ctx.run_id, cfg.callback_timeout_s)
                                   if cfg.await_callback else None)
            result: ExternalResult = await agent.execute(input, xctx)
            if cfg.await_callback:  # the call was acknowledged; the answer comes to callback_url
                span.set_attribute("external.ack", result.output[:200])
                body = await self._wait_callback(ctx.run_id, cfg.kind.value, cfg.callback_timeout_s)
                result = agent.mapped(body, result.status_code, calls=result.calls)
            got.append(result)
            return result.output

        with self.tracer.start_as_current_span("external.call", attributes=attrs) as span:
            try:
                async with asyncio.timeout(spec.limits.timeout_s):
                    # The run's tool-call choke point: limits.max_tool_calls, sandbox answer or recording.
                    output = await guarded_tool_call(usage, f"{EXTERNAL_PREFIX}{ctx.agent_id}", "execute",
                                                     {"input": input}, real_call)
            except TimeoutError as exc:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
                raise ExternalTimeoutError(f"{cfg.kind.value}: the run exceeded limits.timeout_s="
                                           f"{spec.limits.timeout_s} s.") from exc
            except ExternalAgentError as exc:
                if exc.status_code is not None:
                    span.set_attribute("http.status_code", exc.status_code)
                span.set_status(Status(StatusCode.ERROR, exc.message[:200]))
                raise
            finally:
                span.set_attribute("external.latency_ms", round((time.perf_counter() - started) * 1000, 3))
            if got and got[-1].status_code is not None:
                span.set_attribute("http.status_code", got[-1].status_code)
            span.set_attribute("external.calls", got[-1].calls if got else 0)
        for hook in self.output_hooks:
            output = await hook(ctx, output)
        return RunOutcome(output=output, usage=usage)

    # --- callbacks (await_callback) ---------------------------------------------------------
    async def _open_callback(self, run_id: str, timeout_s: float) -> str:
        if self.redis is None:
            raise ServiceUnavailableError("Callbacks need Redis; this process has none configured.")
        token = secrets.token_urlsafe(24)
        await self.redis.set(_CB_TOKEN.format(run_id), token, ex=int(timeout_s) + 60)
        return f"{self.public_url}/external/callback/{run_id}?token={token}"

    async def _wait_callback(self, run_id: str, platform: str, timeout_s: float) -> Any:
        got = await self.redis.blpop([_CB_BODY.format(run_id)], timeout=timeout_s)
        await self.redis.delete(_CB_TOKEN.format(run_id))
        if got is None:
            raise ExternalTimeoutError(
                f"{platform}: no callback within callback_timeout_s={timeout_s} s; check that the remote workflow "
                "ends by POSTing its answer to the {{callback_url}} it was sent.")
        raw = got[1].decode(errors="replace") if isinstance(got[1], bytes) else got[1]
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    async def accept_callback(self, *, run_id: str, token: str, body: bytes) -> bool:
        """Hand a platform's callback body to the run waiting for it (any process).

        Returns:
            False when the token is unknown, used or expired (nothing is stored).
        """
        if self.redis is None:
            return False
        expected = await self.redis.get(_CB_TOKEN.format(run_id))
        expected = expected.decode() if isinstance(expected, bytes) else expected
        if not expected or not token or not hmac.compare_digest(expected, token):
            return False
        if not await self.redis.delete(_CB_TOKEN.format(run_id)):  # one-shot: a racing duplicate loses
            return False
        await self.redis.rpush(_CB_BODY.format(run_id), body)
        await self.redis.expire(_CB_BODY.format(run_id), 600)
        return True

    # --- health -----------------------------------------------------------------------------
    async def test(self, *, tenant_id: str, agent_id: str, store: bool = True) -> HealthResult:
        """"Test connection": probe the agent's platform now and store the outcome on the Agent.

        Raises:
            NotFoundError: no such agent in the tenant.
            UserError: the agent is not external.
        """
        av = await self.agents.get_version(tenant_id=tenant_id, agent_id=agent_id, version=None)
        spec = AgentSpec.from_yaml(av.spec_yaml)
        if spec.external is None:
            raise UserError(f"Agent {agent_id!r} is not an external agent; only external agents have a connection "
                            "to test.")
        try:
            agent = await self.adapter(tenant_id=tenant_id, spec=spec)
        except UserError as exc:
            result = HealthResult(False, 0.0, exc.message)
        else:
            result = await agent.health_check()
        if store:
            await self.agents.client.write(
                "MATCH (a:Agent {id: $id}) WHERE a.tenant_id = $tid SET a.health_status = $s, "
                "a.health_latency_ms = $ms, a.health_checked_at = $at, a.health_detail = $d RETURN a.id AS id",
                id=agent_id, tid=tenant_id, s="up" if result.ok else "down", ms=result.latency_ms, at=now_iso(),
                d=result.detail[:500])
        return result

    async def health(self, *, tenant_id: str, agent_id: str) -> AgentHealth:
        """The stored health of an agent.

        Raises:
            NotFoundError: no such agent in the tenant.
        """
        rows = await self.agents.client.query(
            "MATCH (a:Agent {id: $id}) WHERE a.tenant_id = $tid RETURN a.health_status AS s, "
            "a.health_latency_ms AS ms, a.health_checked_at AS at, a.health_detail AS d", id=agent_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"Agent {agent_id!r} does not exist in this tenant.")
        r = rows[0]
        return AgentHealth(agent_id=agent_id, status=r["s"], latency_ms=r["ms"], checked_at=r["at"], detail=r["d"])

    async def check_all(self, *, tenant_id: str | None = None) -> dict[str, HealthResult]:
        """Probe every external agent of one tenant, or of all tenants (the scheduled round)."""
        where = "a.agent_type = $t" + (" AND a.tenant_id = $tid" if tenant_id else "")
        rows = await self.agents.client.query(f"MATCH (a:Agent) WHERE {where} RETURN a.id AS id, a.tenant_id AS tid",
                                              t=AgentType.external.value, tid=tenant_id)
        out: dict[str, HealthResult] = {}
        for r in rows:
            try:
                out[r["id"]] = await self.test(tenant_id=r["tid"], agent_id=r["id"])
            except Exception:  # deleted meanwhile, an invalid stored spec: the next round retries
                log.exception("health check of external agent %s failed", r["id"])
        self.checks_run += 1
        return out

    def start(self) -> None:
        """Start the periodic health check (call from the API's event loop); no-op when the period is 0."""
        if self.health_interval_s > 0:
            self._health.start()

    async def aclose(self) -> None:
        """Stop the periodic check."""
        await self._health.stop()
