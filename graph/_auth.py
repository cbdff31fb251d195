"""Authentication and audit records in the graph: API keys, users' roles, the audit log.

* ``(:User)-[:OWNS_KEY]->(:ApiKey)``: an API key stores only the SHA-256 of its secret
  (``agk_`` + 43 url-safe characters = 256 random bits, so a plain hash is enough; the
  practice of GitHub and Stripe tokens), a display prefix, and revocation/usage times.
* ``(:AuditEvent)``: one per mutation: who (user, role), what (operation and GraphQL
  field), when, the target (type and id), SHA-256 hashes of the target before and
  after, and the outcome. Append-only: no method updates or deletes one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from pydantic import BaseModel

from agentgraph.errors import AuthenticationError, ConflictError, NotFoundError, UserError

from graph._card_cache import forget_people
from graph._client import GraphClient
from graph._models import User, new_id, now_iso
from graph._org import ROLES, check_role

API_KEY_PREFIX = "agk_"
#: Strength of each tenant role (issue 3: viewers read, operators run, admins configure).
_RANK = {"viewer": 0, "operator": 1, "admin": 2}


def role_rank(role: str) -> int:
    """Strength of ``role``: viewer 0 < operator 1 < admin 2.

    Raises:
        UserError: unknown role (``INVALID_ROLE``, from ``graph._org.check_role``).
    """
    return _RANK[check_role(role)]


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of an API key secret (what is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyRecord(BaseModel):
    """An API key as stored (never the secret). Times are ISO 8601 UTC."""

    id: str
    tenant_id: str
    user_id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None = None
    revoked_at: str | None = None
    expires_at: str | None = None


class AuditEvent(BaseModel):
    """One audited mutation. ``before_hash``/``after_hash`` are SHA-256 hex of the target's properties."""

    id: str
    tenant_id: str
    user_id: str
    role: str
    action: str
    target_type: str | None = None
    target_id: str | None = None
    before_hash: str | None = None
    after_hash: str | None = None
    ok: bool = True
    error_code: str | None = None
    at: str


class UserDirectory:
    """Users of a tenant and their roles."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def get(self, *, tenant_id: str, user_id: str) -> User:
        """Raises NotFoundError when the user is not in the tenant."""
        rows = await self.client.query(
            "MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid RETURN properties(u) AS u", uid=user_id, tid=tenant_id)
        if not rows:
            raise NotFoundError(f"User {user_id!r} does not exist in tenant {tenant_id!r}.")
        return User(**rows[0]["u"])

    async def list(self, *, tenant_id: str, limit: int = 500) -> list[User]:
        """Users of the tenant by id (at most ``limit``)."""
        rows = await self.client.query(
            "MATCH (u:User) WHERE u.tenant_id = $tid RETURN properties(u) AS u ORDER BY u.id LIMIT $limit",
            tid=tenant_id, limit=limit)
        return [User(**r["u"]) for r in rows]

    async def create(self, *, tenant_id: str, user_id: str, name: str | None = None, email: str | None = None,
                     role: str = "viewer") -> User:
        """Create a user in the tenant (the tenant must exist).

        Raises:
            UserError: unknown role or empty id. ConflictError: the id is taken (ids are unique across tenants).
            NotFoundError: unknown tenant.
        """
        check_role(role)
        if not user_id.strip():
            raise UserError("A user needs a non-empty id (e.g. their login or e-mail local part).")
        rows = await self.client.query("MATCH (u:User {id: $uid}) RETURN u.tenant_id AS t", uid=user_id)
        if rows:
            raise ConflictError(f"User id {user_id!r} is taken; choose another id.")
        rows = await self.client.write(
            """
            MATCH (t:Tenant {id: $tid})
            CREATE (u:User {id: $uid, tenant_id: $tid, name: $name, email: $email, role: $role, created_at: $ts})
            CREATE (u)-[:MEMBER_OF]->(t)
            RETURN properties(u) AS u
            """,
            tid=tenant_id, uid=user_id, name=name or user_id, email=email or f"{user_id}@{tenant_id}.local",
            role=role, ts=now_iso())
        if not rows:
            raise NotFoundError(f"Tenant {tenant_id!r} does not exist.")
        return User(**rows[0]["u"])

    async def set_role(self, *, tenant_id: str, user_id: str, role: str) -> User:
        """Change a user's tenant role. Raises UserError (unknown role), NotFoundError (unknown user)."""
        check_role(role)
        rows = await self.client.write(
            "MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid SET u.role = $role RETURN properties(u) AS u",
            uid=user_id, tid=tenant_id, role=role)
        if not rows:
            raise NotFoundError(f"User {user_id!r} does not exist in tenant {tenant_id!r}.")
        forget_people()  # agent cards show the creator's role
        return User(**rows[0]["u"])


class ApiKeyRepository:
    """API keys: create (secret returned once), verify, list, revoke."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def create(self, *, tenant_id: str, user_id: str, name: str, secret: str | None = None,
                     expires_at: str | None = None) -> tuple[ApiKeyRecord, str]:
        """Create a key for a user of the tenant; return ``(record, secret)``. The secret is not stored.

        ``secret`` may be given (a bootstrap key from settings); it must start with ``agk_``
        and carry at least 32 characters after it.

        Raises:
            NotFoundError: unknown user. UserError: a malformed given secret. ConflictError: that secret exists.
        """
        if secret is None:
            secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        elif not secret.startswith(API_KEY_PREFIX) or len(secret) < len(API_KEY_PREFIX) + 32:
            raise UserError(f"An API key must look like '{API_KEY_PREFIX}' followed by at least 32 characters; "
                            "generate one with `python -c \"import secrets; print('agk_'+secrets.token_urlsafe(32))\"`.")
        digest = hash_secret(secret)
        if await self.client.query("MATCH (k:ApiKey) WHERE k.hash = $h RETURN k.id AS id", h=digest):
            raise ConflictError("That API key already exists.")
        rows = await self.client.write(
            """
            MATCH (u:User {id: $uid}) WHERE u.tenant_id = $tid
            CREATE (k:ApiKey {id: $id, tenant_id: $tid, user_id: $uid, name: $name, prefix: $prefix, hash: $h,
                              created_at: $ts, expires_at: $exp})
            CREATE (u)-[:OWNS_KEY]->(k)
            RETURN properties(k) AS k
            """,
            uid=user_id, tid=tenant_id, id=new_id("key"), name=name[:100] or "key", prefix=secret[:8], h=digest,
            ts=now_iso(), exp=expires_at)
        if not rows:
            raise NotFoundError(f"User {user_id!r} does not exist in tenant {tenant_id!r}.")
        return ApiKeyRecord(**_public(rows[0]["k"])), secret

    async def verify(self, secret: str) -> tuple[ApiKeyRecord, User]:
        """Return the key and its user for a presented secret.

        Raises:
            AuthenticationError: unknown, revoked or expired key (one message: no oracle for which).
        """
        rows = await self.client.query(
            """
            MATCH (u:User)-[:OWNS_KEY]->(k:ApiKey) WHERE k.hash = $h
            RETURN properties(k) AS k, properties(u) AS u
            """, h=hash_secret(secret))
        if not rows:
            raise AuthenticationError("The API key is not valid (unknown, revoked or expired); create a new one.")
        key = ApiKeyRecord(**_public(rows[0]["k"]))
        if key.revoked_at or (key.expires_at and key.expires_at <= now_iso()):
            raise AuthenticationError("The API key is not valid (unknown, revoked or expired); create a new one.")
        return key, User(**rows[0]["u"])

    async def touch(self, key_id: str) -> None:
        """Record the last use of a key (best effort; callers rate-limit it)."""
        await self.client.write("MATCH (k:ApiKey {id: $id}) SET k.last_used_at = $ts", id=key_id, ts=now_iso())

    async def list(self, *, tenant_id: str, user_id: str | None = None) -> list[ApiKeyRecord]:
        """Keys of the tenant (of one user when ``user_id``), newest first."""
        rows = await self.client.query(
            """
            MATCH (k:ApiKey) WHERE k.tenant_id = $tid AND ($uid IS NULL OR k.user_id = $uid)
            RETURN properties(k) AS k ORDER BY k.created_at DESC
            """, tid=tenant_id, uid=user_id)
        return [ApiKeyRecord(**_public(r["k"])) for r in rows]

    async def revoke(self, *, tenant_id: str, key_id: str) -> ApiKeyRecord:
        """Revoke a key (kept for the audit trail). Raises NotFoundError."""
        rows = await self.client.write(
            """
            MATCH (k:ApiKey {id: $id}) WHERE k.tenant_id = $tid
            SET k.revoked_at = coalesce(k.revoked_at, $ts) RETURN properties(k) AS k
            """, id=key_id, tid=tenant_id, ts=now_iso())
        if not rows:
            raise NotFoundError(f"API key {key_id!r} does not exist in this tenant.")
        return ApiKeyRecord(**_public(rows[0]["k"]))


class AuditRepository:
    """The append-only audit log."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    async def record(self, event: AuditEvent) -> None:
        """Append one event."""
        await self.client.write("CREATE (e:AuditEvent) SET e = $props", props=event.model_dump())

    async def list(self, *, tenant_id: str, user_id: str | None = None, action: str | None = None,
                   target_id: str | None = None, before: str | None = None, limit: int = 50) -> list[AuditEvent]:
        """Events of a tenant, newest first, optionally filtered; ``before`` is an ISO time (paging)."""
        rows = await self.client.query(
            """
            MATCH (e:AuditEvent) WHERE e.tenant_id = $tid
              AND ($uid IS NULL OR e.user_id = $uid) AND ($action IS NULL OR e.action = $action)
              AND ($target IS NULL OR e.target_id = $target) AND ($before IS NULL OR e.at < $before)
            RETURN properties(e) AS e ORDER BY e.at DESC LIMIT $limit
            """, tid=tenant_id, uid=user_id, action=action, target=target_id, before=before, limit=min(limit, 500))
        return [AuditEvent(**r["e"]) for r in rows]

    async def snapshot_hash(self, *, tenant_id: str, label: str, node_id: str) -> str | None:
        """SHA-256 of a node's properties (sorted JSON), or None when it does not exist in the tenant."""
        if not label.isidentifier():
            raise UserError(f"Not a node label: {label!r}.")
        rows = await self.client.query(
            f"MATCH (n:{label} {{id: $id}}) WHERE n.tenant_id = $tid RETURN properties(n) AS p", id=node_id,
            tid=tenant_id)
        if not rows:
            return None
        return _stable_hash(rows[0]["p"])


def _stable_hash(props: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(props, sort_keys=True, default=str).encode()).hexdigest()


def _public(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != "hash"}


__all__ = ["ROLES", "API_KEY_PREFIX", "ApiKeyRecord", "ApiKeyRepository", "AuditEvent", "AuditRepository",
           "UserDirectory", "hash_secret", "role_rank"]
