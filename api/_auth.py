"""Who is calling: API keys and bearer JWTs -> a :class:`Caller` (tenant, user, role).

Credentials (first match wins):

* ``Authorization: Bearer agk_...`` or ``X-API-Key: agk_...`` - an API key (hash looked up
  in the graph, see ``graph._auth``);
* ``Authorization: Bearer <JWT>`` - verified with PyJWT: in ``local`` mode against the
  platform's own Ed25519 key (its JWKS is served at ``/.well-known/jwks.json``), in
  ``oidc`` mode against the provider's JWKS (``PyJWKClient``), checking ``iss``, ``aud``,
  ``exp`` and the tenant claim;
* the ``agentgraph_session`` cookie - a local JWT set by ``POST /auth/session`` (the UI login).

The role always comes from the user's record in the graph (so a role change takes
effect at once for keys, and within the token cache TTL for JWTs), never from a claim.

The caller of the current request lives in a context variable (:func:`current_caller`),
set for the whole GraphQL execution by ``api._access.AccessExtension`` and for REST
routes by :func:`require_caller`; ``Platform.tenant_id``/``user_id`` read it, which is
how every resolver works inside the caller's tenant.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cachetools import TTLCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from agentgraph.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from agentgraph.settings import Settings
from graph import API_KEY_PREFIX, ApiKeyRepository, UserDirectory, hash_secret, new_id, role_rank

log = logging.getLogger("agentgraph.auth")
SESSION_COOKIE = "agentgraph_session"
#: How long a verified credential is trusted without asking the graph again (seconds).
#: Revocation through this process evicts at once; other processes see it within this time.
CACHE_TTL_S = 30.0


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a request.

    ``via``: ``api_key``, ``jwt``, ``session``, ``anonymous`` (auth not required, dev only)
    or ``system`` (the platform's own background work: schedules, workers).
    """

    tenant_id: str
    user_id: str
    role: str
    via: str
    key_id: str | None = None

    def at_least(self, role: str) -> bool:
        """True when the caller's role is ``role`` or stronger (viewer < operator < admin)."""
        return role_rank(self.role) >= role_rank(role)

    def require(self, role: str, action: str) -> None:
        """Raise PermissionDeniedError unless the caller has ``role`` or stronger; ``action`` names what was tried."""
        if not self.at_least(role):
            raise PermissionDeniedError(
                f"{action} needs the {role} role; you ({self.user_id}) are {self.role} in tenant "
                f"{self.tenant_id!r}. Ask a tenant admin to change your role.")


_CALLER: ContextVar[Caller | None] = ContextVar("agentgraph_caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the request being served, or None outside requests (start-up, background work)."""
    return _CALLER.get()


@contextlib.contextmanager
def acting_as(caller: Caller | None) -> Iterator[None]:
    """Run a block as ``caller`` (request handling, or background work as a system caller)."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        try:
            _CALLER.reset(token)
        except ValueError:  # an async generator closed from another task's context: nothing to restore there
            pass


class LocalIssuer:
    """The embedded identity provider: an Ed25519 key on disk, tokens for the platform's users.

    Args:
        key_path: PEM file of the private key; created (mode 0600, exclusively) when
            missing, so several processes sharing a data dir agree on one key.
        issuer / audience / ttl_s: claims of issued tokens.
    """

    def __init__(self, key_path: Path, *, issuer: str, audience: str, ttl_s: int) -> None:
        self.issuer, self.audience, self.ttl_s = issuer, audience, ttl_s  # claims of issued tokens
        self._key = _load_or_create_key(key_path)
        raw = self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.kid = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")

    @property
    def public_key(self) -> Ed25519PublicKey:
        """Verification key of local tokens."""
        return self._key.public_key()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set (RFC 7517) with the one verification key."""
        jwk = OKPAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}]}

    def issue(self, *, tenant_id: str, user_id: str, ttl_s: int | None = None) -> tuple[str, int]:
        """Sign a token for a user; return ``(token, expires_in_s)``."""
        ttl = ttl_s or self.ttl_s
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": user_id, "tenant": tenant_id, "iat": now,
                  "exp": now + ttl, "jti": new_id("jti")}
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid}), ttl


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:  # O_EXCL: the first process wins, the others read its key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
        except FileExistsError:
            time.sleep(0.05)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise AuthenticationError(f"{path} does not hold an Ed25519 private key; delete it to generate a new one.")
    return key


class Authenticator:
    """Turns request credentials into a :class:`Caller`.

    Args:
        settings: ``settings.auth`` (mode, issuer, audience, jwks_url, tenant_claim, required).
        keys / users: graph repositories.
        issuer: the local issuer (always present: the UI session cookie uses it).
    """

    def __init__(self, settings: Settings, *, keys: ApiKeyRepository, users: UserDirectory,
                 issuer: LocalIssuer) -> None:
        self.settings = settings
        self.auth = settings.auth
        self.keys, self.users, self.issuer = keys, users, issuer
        self._cache: TTLCache[str, Caller] = TTLCache(maxsize=10_000, ttl=CACHE_TTL_S)
        self._jwks = jwt.PyJWKClient(self.auth.jwks_url, cache_keys=True, lifespan=300) if self.auth.jwks_url else None
        self._algorithms = [a for a in self.auth.algorithms if a.lower() != "none" and not a.upper().startswith("HS")]

    def anonymous(self) -> Caller:
        """The caller used when auth is not required (the default tenant's admin)."""
        return Caller(tenant_id=self.settings.tenant_id, user_id=self.settings.user_id, role="admin", via="anonymous")

    async def authenticate(self, headers: Any, cookies: Any = None) -> Caller:
        """Caller for request ``headers`` (a case-insensitive mapping) and ``cookies``.

        Raises:
            AuthenticationError: no credentials (when required), or invalid ones.
        """
        token = None
        authz = headers.get("authorization") or ""
        if authz.lower().startswith("bearer "):
            token = authz[7:].strip()
        token = token or (headers.get("x-api-key") or "").strip() or None
        via = "api_key" if token and token.startswith(API_KEY_PREFIX) else "jwt"
        if token is None and cookies:
            token, via = cookies.get(SESSION_COOKIE), "session"
        if not token:
            if not self.auth.required:
                return self.anonymous()
            raise AuthenticationError(
                "Authentication required: send 'Authorization: Bearer <API key or token>' (an admin creates API "
                "keys with the createApiKey mutation; `agentgraph up` prints the first admin key).")
        cache_key = hash_secret(token)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        caller = await (self._from_api_key(token) if via == "api_key" else self._from_jwt(token, via))
        self._cache[cache_key] = caller
        return caller

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached credentials (after a revocation or a role change)."""
        if key_id is None:
            self._cache.clear()
            return
        for k, c in list(self._cache.items()):
            if c.key_id == key_id:
                self._cache.pop(k, None)

    async def _from_api_key(self, secret: str) -> Caller:
        key, user = await self.keys.verify(secret)
        with contextlib.suppress(Exception):  # last-use time is informative; never fail a request on it
            await self.keys.touch(key.id)
        return Caller(tenant_id=user.tenant_id, user_id=user.id, role=user.role, via="api_key", key_id=key.id)

    async def _from_jwt(self, token: str, via: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") == self.issuer.kid:  # a local token (CLI, UI session, embedded default)
                key, algorithms, issuer = self.issuer.public_key, ["EdDSA"], self.issuer.issuer
            elif self.auth.mode == "oidc" and self._jwks is not None:
                key = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
                algorithms, issuer = self._algorithms, self.auth.issuer
            else:
                raise AuthenticationError(
                    "The bearer token was not signed by this platform's key; in OIDC mode set "
                    "AGENTGRAPH_AUTH__JWKS_URL to your identity provider's JWKS.")
            claims = jwt.decode(token, key, algorithms=algorithms, audience=self.issuer.audience
                                if issuer == self.issuer.issuer else self.auth.audience, issuer=issuer,
                                options={"require": ["exp", "iat", "sub"]}, leeway=30)
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired; get a new one (POST /auth/token).") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"The bearer token is not valid: {exc}.") from None
        tenant = claims.get(self.auth.tenant_claim) or claims.get("tenant")
        try:
            user = await self.users.get(tenant_id=tenant or "", user_id=claims["sub"])
        except NotFoundError:
            raise AuthenticationError(
                f"The token's user {claims['sub']!r} is not a member of tenant {tenant!r}; an admin must add it "
                "(createUser).") from None
        return Caller(tenant_id=user.tenant_id, user_id=user.id, role=user.role, via=via)


async def ensure_bootstrap_key(settings: Settings, keys: ApiKeyRepository) -> str | None:
    """Make sure the default admin has an API key; return a newly created secret (else None).

    With ``auth.bootstrap_api_key`` set, that key is ensured (idempotent). Otherwise,
    the first start generates one and writes it to ``<data_dir>/auth/admin-api-key``
    (mode 0600), where the CLI finds it; later starts reuse the file.
    """
    from agentgraph.errors import ConflictError

    configured = settings.auth.bootstrap_api_key
    path = Path(settings.data_dir) / "auth" / "admin-api-key"
    secret = configured.get_secret_value() if configured else (path.read_text().strip() if path.exists() else None)
    if secret:
        try:
            await keys.verify(secret)
            return None
        except AuthenticationError:
            pass
    try:
        _, secret = await keys.create(tenant_id=settings.tenant_id, user_id=settings.user_id, name="bootstrap admin",
                                      secret=secret)
    except ConflictError:  # created concurrently by another process (revoked keys are not recreated)
        return None
    if not configured:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
    return secret


__all__ = ["Caller", "Authenticator", "LocalIssuer", "SESSION_COOKIE", "acting_as", "current_caller",
           "ensure_bootstrap_key"]
