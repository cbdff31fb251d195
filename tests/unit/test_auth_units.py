"""Identity and access pieces without services: roles, policy, audit targets, tokens, UI grant parsing."""

from __future__ import annotations

import jwt
import pytest
from strawberry.types.graphql import OperationType

from agentgraph.errors import PermissionDeniedError, UserError
from api._access import _target, required_role
from api._auth import Caller, LocalIssuer
from api._auth_routes import _safe_next
from api._ui_marketplace import parse_grants
from api._ui_client import UIError
from graph import hash_secret, role_rank


def test_roles_are_ordered_and_unknown_roles_refused() -> None:
    assert role_rank("viewer") < role_rank("operator") < role_rank("admin")
    with pytest.raises(UserError, match="admin, operator, viewer"):
        role_rank("root")
    viewer = Caller(tenant_id="t", user_id="v", role="viewer", via="api_key")
    assert viewer.at_least("viewer") and not viewer.at_least("operator")
    with pytest.raises(PermissionDeniedError, match="needs the operator role"):
        viewer.require("operator", "'runAgent'")


def test_policy_closes_unknown_mutations_and_opens_reads() -> None:
    assert required_role(OperationType.MUTATION, "runAgent") == "operator"
    assert required_role(OperationType.MUTATION, "someNewMutation") == "admin"
    assert required_role(OperationType.QUERY, "agents") == "viewer"
    assert required_role(OperationType.QUERY, "auditLog") == "admin"
    assert required_role(OperationType.SUBSCRIPTION, "runEvents") == "viewer"


def test_audit_targets_from_arguments() -> None:
    assert _target("saveAgent", {"spec_yaml": "x", "agent_id": "a1"}) == ("Agent", "a1")
    assert _target("deleteTool", {"id": "t1"}) == ("Tool", "t1")
    assert _target("cancelRun", {"id": "r1"}) == ("Execution", "r1")
    assert _target("createBudget", {"input": {"scope": "tenant"}}) == (None, None)


def test_local_tokens_verify_and_expire(tmp_path) -> None:
    issuer = LocalIssuer(tmp_path / "k.pem", issuer="agentgraph-local", audience="agentgraph", ttl_s=60)
    again = LocalIssuer(tmp_path / "k.pem", issuer="agentgraph-local", audience="agentgraph", ttl_s=60)
    assert again.kid == issuer.kid  # the key file is created once and reused
    assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o600"
    token, ttl = issuer.issue(tenant_id="t", user_id="u")
    claims = jwt.decode(token, issuer.public_key, algorithms=["EdDSA"], audience="agentgraph")
    assert claims["sub"] == "u" and claims["tenant"] == "t" and ttl == 60
    assert jwt.get_unverified_header(token)["kid"] == issuer.kid
    old, _ = issuer.issue(tenant_id="t", user_id="u", ttl_s=-120)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(old, issuer.public_key, algorithms=["EdDSA"], audience="agentgraph")
    jwk = issuer.jwks()["keys"][0]
    assert jwk["kty"] == "OKP" and jwk["kid"] == issuer.kid and "d" not in jwk  # public part only


def test_api_key_hash_and_login_redirects() -> None:
    assert hash_secret("agk_x") != hash_secret("agk_y") and len(hash_secret("agk_x")) == 64
    assert _safe_next("/ui/") == "/ui/"
    assert _safe_next("https://evil.example/") == "/ui/" and _safe_next("//evil.example") == "/ui/"
    assert _safe_next(None) == "/ui/"


def test_ui_grant_lines() -> None:
    assert parse_grants("grace: Editor\n\nalan:none") == [{"userId": "grace", "role": "editor"},
                                                         {"userId": "alan", "role": None}]
    with pytest.raises(UIError, match="line 1"):
        parse_grants("grace editor")
