"""REST routes of authentication (GraphQL does not fit token exchange and browser login).

* ``GET /.well-known/jwks.json`` - the local issuer's public key (RFC 7517), so other
  services verify tokens the embedded default issues.
* ``POST /auth/token`` - exchange an API key (``Authorization: Bearer agk_...``) for a
  short-lived JWT (OAuth 2.0 token response shape: ``access_token``, ``token_type``,
  ``expires_in``).
* ``GET /login``, ``POST /auth/session``, ``POST /auth/logout`` - the UI login: an API key
  in a form becomes an HttpOnly session cookie holding a local JWT.
* :func:`require_caller` - the dependency REST routes use to get the :class:`Caller`
  (401 without credentials), e.g. ``caller: Annotated[Caller, Depends(require_caller)]``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Annotated, Any

import jwt

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from agentgraph.errors import AuthenticationError

from api._auth import SESSION_COOKIE, Caller

router = APIRouter(tags=["auth"])


async def require_caller(request: Request) -> Caller:
    """The authenticated caller of a REST request (raises AuthenticationError -> 401)."""
    platform = request.app.state.platform
    return await platform.auth.authenticate(request.headers, request.cookies)


CallerDep = Annotated[Caller, Depends(require_caller)]

_LOGIN = """<!doctype html><html><head><meta charset="utf-8"><title>agentgraph - sign in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:12vh auto;padding:0 1rem}}
input{{width:100%;padding:.5rem;margin:.5rem 0 1rem;box-sizing:border-box}}button{{padding:.5rem 1.2rem}}
.err{{color:#b00020}}</style></head><body><h1>agentgraph</h1>
<form method="post" action="/auth/session"><label for="api_key">API key</label>
<input id="api_key" name="api_key" type="password" autocomplete="current-password" placeholder="agk_..." required>
<input type="hidden" name="next" value="{next}"><button id="login-btn" type="submit">Sign in</button></form>
<p class="err" id="login-error">{error}</p>
<p>The first admin key is printed by <code>agentgraph up</code> and stored in
<code>.agentgraph/auth/admin-api-key</code>; admins create more with the <code>createApiKey</code> mutation.</p>
</body></html>"""


def _safe_next(value: str | None) -> str:
    # Only local paths: an open redirect would let a link send a freshly signed-in user anywhere.
    return value if value and value.startswith("/") and not value.startswith("//") else "/ui/"


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> JSONResponse:
    """Public keys of tokens this platform issues."""
    return JSONResponse(request.app.state.platform.auth.issuer.jwks())


@router.post("/auth/token")
async def token(caller: CallerDep, request: Request) -> JSONResponse:
    """A JWT for the caller (authenticate with an API key or a still-valid token)."""
    issuer = request.app.state.platform.auth.issuer
    access, ttl = issuer.issue(tenant_id=caller.tenant_id, user_id=caller.user_id)
    return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": ttl})


@router.get("/login", include_in_schema=False)
async def login_page(next: str | None = None, error: str | None = None) -> HTMLResponse:
    """The sign-in form of the UI."""
    return HTMLResponse(_LOGIN.format(next=html.escape(_safe_next(next)), error=html.escape(error or "")))


@router.post("/auth/session", include_in_schema=False)
async def create_session(request: Request, api_key: Annotated[str, Form()], next: Annotated[str, Form()] = "/ui/"):
    """Check the API key, set the session cookie, go to ``next``."""
    auth = request.app.state.platform.auth
    try:
        caller = await auth.authenticate({"authorization": f"Bearer {api_key.strip()}"})
    except AuthenticationError as exc:
        return HTMLResponse(_LOGIN.format(next=html.escape(_safe_next(next)), error=html.escape(exc.message)),
                            status_code=401)
    access, ttl = auth.issuer.issue(tenant_id=caller.tenant_id, user_id=caller.user_id)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, access, max_age=ttl, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https", path="/")
    return resp


@router.post("/auth/logout", include_in_schema=False)
async def logout() -> RedirectResponse:
    """Drop the session cookie."""
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


def make_session_user(parent_app: Any) -> Callable[[Request], str | None]:
    """Gradio ``auth_dependency`` for the UI mounted on ``parent_app``: the user id of a valid session
    cookie, else None (Gradio then answers 401; the login redirect middleware sends browsers to /login).

    Only the signature and expiry are checked here (no graph call); every GraphQL call
    the UI then makes is authenticated and authorised in full.
    """

    def session_user(request: Request) -> str | None:
        platform = getattr(parent_app.state, "platform", None)
        if platform is None or platform.auth is None:
            return None
        if not platform.settings.auth.required:
            return platform.settings.user_id
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        issuer = platform.auth.issuer
        try:
            claims = jwt.decode(token, issuer.public_key, algorithms=["EdDSA"], audience=issuer.audience,
                                issuer=issuer.issuer)
        except jwt.PyJWTError:
            return None
        return str(claims.get("sub"))

    return session_user


__all__ = ["router", "require_caller", "CallerDep", "make_session_user"]
