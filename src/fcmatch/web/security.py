"""Secrets, CSRF, admin authentication and request-size limits for the web app.

The model: every credential is a secret the server issued.

- A **judge** (or annotator) holds a capability link ``/j/<token>``; only ``sha256(token)`` is stored
  (:func:`fcmatch.store.tokens.hash_token`), so a copy of the database does not hand out working links.
- The **admin** holds the admin token given to ``create_app``; the browser trades it once at
  ``/admin/login`` for an HttpOnly, SameSite=Strict cookie that carries an HMAC of it, never the token.
  Scripts may send ``Authorization: Bearer <admin token>`` instead. :func:`require_admin` checks both.
- **CSRF**: every POST form carries ``csrf = HMAC(app secret, purpose + session)`` where the session is
  the credential itself (judge token, admin cookie), so a page of another origin cannot forge it.
  :func:`csrf_token` makes it for a template, :func:`check_csrf` verifies it (403 on mismatch).
  Forms before login use the double-submit cookie of :func:`login_csrf_cookie`.

Using these in a router (the annotation part does the same; :mod:`fcmatch.web.admin` makes the
admin router)::

    from fcmatch.web.security import check_csrf, csrf_token, require_admin

    @router.get("/admin/annotate", dependencies=[Depends(require_admin)])
    ...
    @router.post("/a/{token}/save")
    def save(request: Request, token: str, csrf: str = Form(...)):
        check_csrf(request, "annotate:" + token, csrf)
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import HTTPException, Request

from fcmatch.store.tokens import new_token

ADMIN_COOKIE = "fcmatch_admin"
LOGIN_CSRF_COOKIE = "fcmatch_login_csrf"
DEFAULT_MAX_BODY = 256 * 1024  # bytes; a verdict form is < 5 KB, so this only stops abuse


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def app_secret(request: Request) -> str:
    """The app's signing secret (stored in the database so that it survives restarts)."""
    return request.app.state.secret


def csrf_token(request: Request, session: str) -> str:
    """CSRF token for forms of ``session`` (e.g. ``"judge:" + token`` or ``"admin"``).

    Args:
        request: the current request (gives the app secret).
        session: names the credential the form acts for; for the admin use ``"admin"``.
    """
    return _sign(app_secret(request), "csrf:" + session)


def check_csrf(request: Request, session: str, token: str | None) -> None:
    """Verify a form's CSRF token.

    Raises:
        HTTPException: 403 when the token is missing or wrong.
    """
    if not token or not hmac.compare_digest(token, csrf_token(request, session)):
        raise HTTPException(status_code=403, detail="invalid or missing CSRF token; reload the page")


def admin_cookie_value(request: Request) -> str:
    """The cookie value that proves an admin login: HMAC of the admin token, never the token itself."""
    return _sign(app_secret(request), "admin-session:" + request.app.state.admin_token)


def is_admin(request: Request) -> bool:
    """True when the request carries the admin cookie or ``Authorization: Bearer <admin token>``."""
    expected_token = request.app.state.admin_token
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return hmac.compare_digest(header[7:].strip(), expected_token)
    cookie = request.cookies.get(ADMIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, admin_cookie_value(request))


def require_admin(request: Request) -> None:
    """FastAPI dependency guarding the admin side.

    Raises:
        HTTPException: 401 for a browser without the cookie is answered by a redirect to the login page
            (303 with ``Location``), for an API client with a plain 401.
    """
    if is_admin(request):
        return
    if "text/html" in request.headers.get("accept", ""):
        raise HTTPException(status_code=303, headers={"Location": "/admin/login"})
    raise HTTPException(status_code=401, detail="admin authentication required")


def check_admin_csrf(request: Request, token: str | None) -> None:
    """CSRF check for admin forms; a Bearer-token client (no cookie, no ambient credential) is exempt."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    check_csrf(request, "admin", token)


def login_csrf_cookie() -> str:
    """A fresh double-submit value: set it as cookie and hidden field of the login form."""
    return new_token(16)


def check_login_csrf(request: Request, token: str | None) -> None:
    """The login form's hidden field must equal its cookie (double submit).

    Raises:
        HTTPException: 403 on mismatch.
    """
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not token or not hmac.compare_digest(cookie, token):
        raise HTTPException(status_code=403, detail="invalid or missing CSRF token; reload the login page")


class BodySizeLimit:
    """ASGI middleware: answer 413 to a request body larger than its limit.

    The declared ``Content-Length`` is checked first; a chunked body is counted as it streams, so a
    client cannot bypass the limit by leaving the header out.

    Args:
        app: the wrapped ASGI app.
        max_bytes: the default limit.
        overrides: ``{path prefix: limit}`` for routes that take uploads (longest prefix wins).
    """

    def __init__(self, app: Any, max_bytes: int = DEFAULT_MAX_BODY, overrides: dict[str, int] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = sorted((overrides or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.overrides:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


class _BodyTooLarge(HTTPException):
    # an HTTPException, because FastAPI re-raises those from body parsing (others become a 400)
    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body too large (limit {limit} bytes)")


async def _too_large(send: Any, limit: int) -> None:
    body = f"request body too large (limit {limit} bytes)".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = {
    # every asset is local, so the page may load nothing from elsewhere; inline script is not allowed either
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # judge links are secrets: never leak them in a Referer header
    "X-Frame-Options": "DENY",
}
