"""Authentication, roles, tenant isolation and the audit log over real HTTP (issue 3).

A second platform process-in-thread with ``auth.required=True`` runs against the
session's real ArcadeDB and Redis; requests carry API keys or JWTs like real clients.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from agentgraph.settings import Settings
from agentgraph.spec import AgentSpec
from tests.conftest import TEST_ADMIN_KEY

SAVE = """mutation($y: String!) { saveAgent(specYaml: $y, publish: true) { id status } }"""
ME = "{ me { userId tenantId role via } }"


@pytest.fixture(scope="module")
def secured(secured_url: str) -> str:
    """The platform with authentication required (tests/conftest.py)."""
    return secured_url


def _gql(url: str, query: str, token: str | None = None, **variables) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=60)


def _ok(resp: httpx.Response) -> dict:
    body = resp.json()
    assert resp.status_code == 200 and "errors" not in body, body
    return body["data"]


def _code(resp: httpx.Response) -> str:
    return resp.json()["errors"][0]["extensions"]["code"]


def _user_with_key(url: str, user_id: str, role: str) -> str:
    _ok(_gql(url, "mutation($id: String!, $r: String!) { createUser(id: $id, role: $r) { id role } }",
             TEST_ADMIN_KEY, id=user_id, r=role))
    data = _ok(_gql(url, "mutation($u: String!) { createApiKey(name: \"t\", userId: $u) { secret key { id prefix } } }",
                    TEST_ADMIN_KEY, u=user_id))
    secret = data["createApiKey"]["secret"]
    assert secret.startswith("agk_") and data["createApiKey"]["key"]["prefix"] == secret[:8]
    return secret


def test_no_or_bad_credentials_get_401(secured: str) -> None:
    resp = _gql(secured, ME)
    assert resp.status_code == 401
    assert resp.json()["code"] == "UNAUTHENTICATED" and "Authorization: Bearer" in resp.json()["error"]
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert _gql(secured, ME, "agk_" + "x" * 43).status_code == 401
    assert _gql(secured, ME, "not-a-jwt").status_code == 401


def test_admin_key_and_jwt_exchange(secured: str) -> None:
    me = _ok(_gql(secured, ME, TEST_ADMIN_KEY))["me"]
    assert me == {"userId": "admin", "tenantId": "default", "role": "admin", "via": "api_key"}
    tok = httpx.post(f"{secured}/auth/token", headers={"Authorization": f"Bearer {TEST_ADMIN_KEY}"}).json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] > 0
    assert _ok(_gql(secured, ME, tok["access_token"]))["me"]["via"] == "jwt"
    # The JWKS verifies the token like any OIDC relying party would.
    jwks = httpx.get(f"{secured}/.well-known/jwks.json").json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    claims = jwt.decode(tok["access_token"], key, algorithms=["EdDSA"], audience="agentgraph")
    assert claims["sub"] == "admin" and claims["tenant"] == "default"
    # A token signed by another key, or altered, is refused.
    head, body, sig = tok["access_token"].split(".")
    forged = ".".join([head, body, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])
    assert _gql(secured, ME, forged).status_code == 401


def test_roles_viewer_reads_operator_runs_admin_configures(secured: str) -> None:
    suffix = str(int(time.time() * 1000))[-8:]
    viewer = _user_with_key(secured, f"viv-{suffix}", "viewer")
    operator = _user_with_key(secured, f"opa-{suffix}", "operator")
    assert _ok(_gql(secured, ME, viewer))["me"]["role"] == "viewer"
    assert "agents" in _ok(_gql(secured, "{ agents { id } }", viewer))
    spec = AgentSpec(name=f"auth-{suffix}", description="d", system_prompt="p").to_yaml()
    denied = _gql(secured, SAVE, viewer, y=spec)
    assert _code(denied) == "FORBIDDEN" and "operator role" in denied.json()["errors"][0]["message"]
    agent = _ok(_gql(secured, SAVE, operator, y=spec))["saveAgent"]
    assert agent["status"] == "active"
    assert _code(_gql(secured, 'mutation { createUser(id: "sneaky", role: "admin") { id } }', operator)) == "FORBIDDEN"
    assert _code(_gql(secured, "{ auditLog { id } }", operator)) == "FORBIDDEN"
    # Promote the viewer: the change applies to its key at once.
    _ok(_gql(secured, 'mutation($u: String!) { setUserRole(userId: $u, role: "operator") { role } }', TEST_ADMIN_KEY,
             u=f"viv-{suffix}"))
    assert _ok(_gql(secured, ME, viewer))["me"]["role"] == "operator"


def test_revoked_key_is_refused(secured: str) -> None:
    suffix = str(int(time.time() * 1000))[-8:]
    secret = _user_with_key(secured, f"rev-{suffix}", "viewer")
    assert _ok(_gql(secured, ME, secret))
    keys = _ok(_gql(secured, "query($u: String) { apiKeys(userId: $u) { id prefix revokedAt } }", TEST_ADMIN_KEY,
                    u=f"rev-{suffix}"))["apiKeys"]
    _ok(_gql(secured, "mutation($id: String!) { revokeApiKey(id: $id) { revokedAt } }", TEST_ADMIN_KEY,
             id=keys[0]["id"]))
    assert _gql(secured, ME, secret).status_code == 401


def test_tenants_are_isolated(secured: str, services: Settings) -> None:
    import asyncio

    from graph import ApiKeyRepository, GraphClient, TenantRepository

    async def make_tenant() -> str:
        g = services.graph
        client = GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                             http_url=f"http://127.0.0.1:{g.http_port}")
        try:
            await TenantRepository(client).ensure_default(tenant_id="acme", user_id="acme-admin")
            _, secret = await ApiKeyRepository(client).create(tenant_id="acme", user_id="acme-admin", name="t")
            return secret
        finally:
            await client.close()

    acme = asyncio.run(make_tenant())
    suffix = str(int(time.time() * 1000))[-8:]
    spec = AgentSpec(name=f"private-{suffix}", description="d", system_prompt="p").to_yaml()
    mine = _ok(_gql(secured, SAVE, TEST_ADMIN_KEY, y=spec))["saveAgent"]["id"]
    assert _ok(_gql(secured, ME, acme))["me"]["tenantId"] == "acme"
    assert mine not in {a["id"] for a in _ok(_gql(secured, "{ agents { id } }", acme))["agents"]}
    assert _code(_gql(secured, "query($id: ID!) { agent(id: $id) { id } }", acme, id=mine)) == "NOT_FOUND"
    run = _gql(secured, 'mutation($id: String!) { runAgent(agentId: $id, input: "hi") { id } }', acme, id=mine)
    assert _code(run) == "NOT_FOUND"
    # acme's admin sees only acme's audit log and users.
    users = {u["id"] for u in _ok(_gql(secured, "{ users { id } }", acme))["users"]}
    assert users == {"acme-admin"}


def test_audit_log_records_mutations(secured: str) -> None:
    suffix = str(int(time.time() * 1000))[-8:]
    spec = AgentSpec(name=f"audited-{suffix}", description="d", system_prompt="p")
    agent_id = _ok(_gql(secured, SAVE, TEST_ADMIN_KEY, y=spec.to_yaml()))["saveAgent"]["id"]
    spec.description = "changed"
    _ok(_gql(secured, "mutation($y: String!, $id: String) { saveAgent(specYaml: $y, agentId: $id, publish: false) "
                      "{ id } }", TEST_ADMIN_KEY, y=spec.to_yaml(), id=agent_id))
    failed = _gql(secured, "mutation { publishAgent(agentId: \"agent-that-does-not-exist\") { id } }", TEST_ADMIN_KEY)
    assert _code(failed) == "NOT_FOUND"
    log = _ok(_gql(secured, "query($t: String) { auditLog(targetId: $t) { action userId role targetType targetId "
                            "beforeHash afterHash ok errorCode at } }", TEST_ADMIN_KEY, t=agent_id))["auditLog"]
    assert [e["action"] for e in log] == ["saveAgent", "saveAgent"]
    update, create = log
    assert create["beforeHash"] is None and create["afterHash"] and create["targetType"] == "Agent"
    assert update["beforeHash"] and update["afterHash"] and update["userId"] == "admin" and update["ok"]
    bad = _ok(_gql(secured, "{ auditLog(action: \"publishAgent\", limit: 5) { ok errorCode targetId } }",
                   TEST_ADMIN_KEY))["auditLog"]
    assert any(e["targetId"] == "agent-that-does-not-exist" and not e["ok"] and e["errorCode"] == "NOT_FOUND"
               for e in bad)


def test_ui_requires_a_session(secured: str) -> None:
    with httpx.Client(base_url=secured, follow_redirects=False, timeout=60) as client:
        resp = client.get("/ui/")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
        assert "API key" in client.get("/login").text
        bad = client.post("/auth/session", data={"api_key": "agk_wrong", "next": "/ui/"})
        assert bad.status_code == 401 and "not valid" in bad.text
        good = client.post("/auth/session", data={"api_key": TEST_ADMIN_KEY, "next": "https://evil.example/"})
        assert good.status_code == 303 and good.headers["location"] == "/ui/"
        assert "httponly" in good.headers["set-cookie"].lower()
        assert client.get("/ui/").status_code == 200
