"""GraphQL for identity: ``me``, users and roles, API keys, the audit log (issue 3).

Queries: ``me``, ``users``, ``apiKeys`` (admin), ``auditLog`` (admin). Mutations (admin):
``createUser``, ``setUserRole``, ``createApiKey`` (the secret is returned once),
``revokeApiKey``. Role checks live in ``api._access`` (one place).
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from agentgraph.errors import ServiceUnavailableError
from graph import ApiKeyRecord, AuditEvent as AuditRecord, User as UserRecord

from api._auth import Caller, current_caller
from api._platform import Platform


def _p(info: Info) -> tuple[Platform, Caller]:
    p: Platform = info.context["platform"]
    caller = current_caller()
    if p.auth is None or caller is None:
        raise ServiceUnavailableError("Authentication is not initialised in this process.")
    return p, caller


@strawberry.type(description="The authenticated caller.")
class Me:
    user_id: str
    tenant_id: str
    role: str = strawberry.field(description="viewer, operator or admin.")
    via: str = strawberry.field(description="api_key, jwt, session or anonymous.")


@strawberry.type(description="A user of the tenant and their role.")
class UserAccount:
    id: strawberry.ID
    name: str
    email: str
    role: str
    created_at: str

    @staticmethod
    def of(u: UserRecord) -> "UserAccount":  # noqa: D102
        return UserAccount(id=strawberry.ID(u.id), name=u.name, email=u.email, role=u.role, created_at=u.created_at)


@strawberry.type(description="An API key (its secret is shown only when created).")
class ApiKey:
    id: strawberry.ID
    user_id: str
    name: str
    prefix: str = strawberry.field(description="First characters of the secret, to recognise it.")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    expires_at: str | None

    @staticmethod
    def of(k: ApiKeyRecord) -> "ApiKey":  # noqa: D102
        return ApiKey(id=strawberry.ID(k.id), user_id=k.user_id, name=k.name, prefix=k.prefix,
                      created_at=k.created_at, last_used_at=k.last_used_at, revoked_at=k.revoked_at,
                      expires_at=k.expires_at)


@strawberry.type(description="createApiKey's answer: store the secret now, it is not shown again.")
class CreatedApiKey:
    key: ApiKey
    secret: str


@strawberry.type(description="One audited mutation: who, what, when, the target and SHA-256 of it before/after.")
class AuditEntry:
    id: strawberry.ID
    user_id: str
    role: str
    action: str
    target_type: str | None
    target_id: str | None
    before_hash: str | None
    after_hash: str | None
    ok: bool
    error_code: str | None
    at: str

    @staticmethod
    def of(e: AuditRecord) -> "AuditEntry":  # noqa: D102
        return AuditEntry(id=strawberry.ID(e.id), user_id=e.user_id, role=e.role, action=e.action,
                          target_type=e.target_type, target_id=e.target_id, before_hash=e.before_hash,
                          after_hash=e.after_hash, ok=e.ok, error_code=e.error_code, at=e.at)


@strawberry.type
class AuthQuery:
    @strawberry.field(description="Who is calling (user, tenant, role).")
    async def me(self, info: Info) -> Me:
        _, c = _p(info)
        return Me(user_id=c.user_id, tenant_id=c.tenant_id, role=c.role, via=c.via)

    @strawberry.field(description="Users of your tenant.")
    async def users(self, info: Info) -> list[UserAccount]:
        p, c = _p(info)
        return [UserAccount.of(u) for u in await p.users.list(tenant_id=c.tenant_id)]

    @strawberry.field(description="API keys of your tenant (admin), of one user when userId is given.")
    async def api_keys(self, info: Info, user_id: str | None = None) -> list[ApiKey]:
        p, c = _p(info)
        return [ApiKey.of(k) for k in await p.api_keys.list(tenant_id=c.tenant_id, user_id=user_id)]

    @strawberry.field(description="The audit log of your tenant, newest first (admin). `before` is an ISO time "
                                  "for paging; limit <= 500.")
    async def audit_log(self, info: Info, user_id: str | None = None, action: str | None = None,
                        target_id: str | None = None, before: str | None = None, limit: int = 50) -> list[AuditEntry]:
        p, c = _p(info)
        rows = await p.audit.list(tenant_id=c.tenant_id, user_id=user_id, action=action, target_id=target_id,
                                  before=before, limit=max(1, limit))
        return [AuditEntry.of(e) for e in rows]


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Add a user to your tenant with a role (viewer, operator, admin).")
    async def create_user(self, info: Info, id: str, role: str = "viewer", name: str | None = None,
                          email: str | None = None) -> UserAccount:
        p, c = _p(info)
        return UserAccount.of(await p.users.create(tenant_id=c.tenant_id, user_id=id, name=name, email=email,
                                                   role=role))

    @strawberry.mutation(description="Change a user's role; takes effect at once for API keys.")
    async def set_user_role(self, info: Info, user_id: str, role: str) -> UserAccount:
        p, c = _p(info)
        user = await p.users.set_role(tenant_id=c.tenant_id, user_id=user_id, role=role)
        p.auth.forget()
        return UserAccount.of(user)

    @strawberry.mutation(description="Create an API key for a user of your tenant (yourself by default). The "
                                     "secret is in the answer only.")
    async def create_api_key(self, info: Info, name: str, user_id: str | None = None,
                             expires_at: str | None = None) -> CreatedApiKey:
        p, c = _p(info)
        key, secret = await p.api_keys.create(tenant_id=c.tenant_id, user_id=user_id or c.user_id, name=name,
                                              expires_at=expires_at)
        return CreatedApiKey(key=ApiKey.of(key), secret=secret)

    @strawberry.mutation(description="Revoke an API key (kept in the list, refused from now on).")
    async def revoke_api_key(self, info: Info, id: str) -> ApiKey:
        p, c = _p(info)
        key = await p.api_keys.revoke(tenant_id=c.tenant_id, key_id=id)
        p.auth.forget(key.id)
        return ApiKey.of(key)


__all__ = ["AuthQuery", "AuthMutation"]
