"""Bearer JWTs from an external OIDC provider (issue 3): verified against its JWKS over HTTP.

The provider is a stand-in that serves a JWKS (RSA key) on 127.0.0.1; tokens are signed
with its private key the way Keycloak/Auth0/Entra sign theirs. The user records and
roles come from the real graph.
"""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jwt.algorithms import RSAAlgorithm

from agentgraph.errors import AuthenticationError
from agentgraph.settings import Settings
from tests.stubapi import serve

ISSUER = "https://idp.example.test/realms/acme"


def _provider(public_key) -> FastAPI:
    app = FastAPI()
    jwk = {**RSAAlgorithm.to_jwk(public_key, as_dict=True), "kid": "idp-key-1", "use": "sig", "alg": "RS256"}

    @app.get("/jwks")
    async def jwks() -> dict:
        return {"keys": [jwk]}

    return app


async def test_oidc_tokens_are_verified_against_the_providers_jwks(services: Settings, tmp_path) -> None:
    from api._auth import Authenticator, LocalIssuer
    from graph import ApiKeyRepository, GraphClient, TenantRepository, UserDirectory

    g = services.graph
    client = GraphClient(services.graph_uri, g.user, g.password, g.database, backend=services.graph_backend,
                         http_url=f"http://127.0.0.1:{g.http_port}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    try:
        await TenantRepository(client).ensure_default(tenant_id="acme", user_id="acme-admin")
        users = UserDirectory(client)
        uid = f"oidc-{time.time_ns() % 10**9}"
        await users.create(tenant_id="acme", user_id=uid, role="operator")
        async with serve(_provider(key.public_key())) as idp:
            settings = services.model_copy(update={"auth": services.auth.model_copy(update={
                "mode": "oidc", "issuer": ISSUER, "audience": "agentgraph-api", "jwks_url": f"{idp}/jwks",
                "required": True})})
            auth = Authenticator(settings, keys=ApiKeyRepository(client), users=users,
                                 issuer=LocalIssuer(tmp_path / "k.pem", issuer="agentgraph-local", audience="agentgraph",
                                                    ttl_s=600))
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": "agentgraph-api", "sub": uid, "tenant": "acme", "iat": now,
                      "exp": now + 300}

            def bearer(c: dict, k=key, alg="RS256", kid="idp-key-1") -> dict:
                return {"authorization": "Bearer " + jwt.encode(c, k, algorithm=alg, headers={"kid": kid})}

            caller = await auth.authenticate(bearer(claims))
            assert (caller.tenant_id, caller.user_id, caller.role, caller.via) == ("acme", uid, "operator", "jwt")

            refused = {
                "wrong audience": bearer({**claims, "aud": "someone-else"}),
                "wrong issuer": bearer({**claims, "iss": "https://evil.example"}),
                "expired": bearer({**claims, "iat": now - 7200, "exp": now - 3600}),
                "another key": bearer(claims, k=other),
                "unknown user": bearer({**claims, "sub": "nobody-here"}),
                "wrong tenant": bearer({**claims, "tenant": "default"}),
                "HS256 with the public key": bearer(claims, k="not-the-real-secret", alg="HS256"),
                "alg none": {"authorization": "Bearer " + jwt.encode(claims, None, algorithm="none")},
            }
            for why, headers in refused.items():
                with pytest.raises(AuthenticationError):
                    await auth.authenticate(headers)
                    pytest.fail(f"accepted a token with {why}")
    finally:
        await client.close()
