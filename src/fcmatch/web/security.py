"""Secrets, CSRF, admin authentication and request-size limits for the web app.

The model: every credential is a secret the server issued.

- A **judge** (or annotator) holds a capability link ``/j/<token>``; only ``sha256(token)`` is stored
  (:func:`fcmatch.store.tokens.hash_token`), so a copy of the database does not hand out working links.
- The **admin** holds the admin token given to ``create_app`` (at least 16 characters); the browser
  trades it at ``/admin/login`` for an HttpOnly, SameSite=Strict cookie holding a random session id,
  one per login. The database keeps only the id's hash and its expiry (:class:`~fcmatch.store.schema.AdminSession`),
  so logging out (the row is deleted) or the expiry ends that cookie for good, and a copied cookie
  stops working with it. Failed logins are limited per client address (:class:`LoginThrottle`).
  Scripts may send ``Authorization: Bearer <admin token>`` instead. :func:`require_admin` checks both.
- **CSRF**: every POST form carries ``csrf = HMAC(app secret, purpose + session)`` where the session is
  the credential itself (judge token, admin session id), so a page of another origin cannot forge it.
  :func:`csrf_token` makes it for a template, :func:`check_csrf` verifies it (403 on mismatch).
  Forms before login use the double-submit cookie of :func:`login_csrf_cookie`.
- **Logs**: secret links must not land in the access log; :class:`RedactTokens` rewrites
  ``/j/<token>`` and ``/annotate/a/<token>`` to ``/j/…`` before uvicorn writes the line.

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
import logging
import re
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import delete

from fcmatch.store.schema import AdminSession
from fcmatch.store.tokens import hash_token, new_token

ADMIN_COOKIE = "fcmatch_admin"
LOGIN_CSRF_COOKIE = "fcmatch_login_csrf"
DEFAULT_MAX_BODY = 256 * 1024  # bytes; a verdict form is < 5 KB, so this only stops abuse
MIN_ADMIN_TOKEN = 16  # characters; `fcmatch serve` makes a 32-character one when none is given
ADMIN_SESSION_HOURS = 12  # a login lasts one working day; logging out ends it at once
LOGIN_FAILURES = 5  # failed logins per client address within LOGIN_WINDOW_S before it must wait
LOGIN_WINDOW_S = 15 * 60


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(request: Request, message: str) -> str:
    """HMAC of ``message`` under the app secret (hex)."""
    return _sign(app_secret(request), message)


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


def start_admin_session(request: Request, response: Response) -> None:
    """Log the browser in: store a new session (hash and expiry) and set its cookie on ``response``."""
    session_id = new_token(32)
    now = datetime.now(timezone.utc)
    expires = now + timedelta(hours=ADMIN_SESSION_HOURS)
    with request.app.state.write_lock, request.app.state.sessions.begin() as session:
        session.execute(delete(AdminSession).where(AdminSession.expires < now))  # forgotten logins
        session.add(AdminSession(id_hash=hash_token(session_id), created=now, expires=expires))
    response.set_cookie(ADMIN_COOKIE, session_id, max_age=ADMIN_SESSION_HOURS * 3600, httponly=True,
                        samesite="strict", secure=request.app.state.secure_cookies, path="/")


def end_admin_session(request: Request, response: Response) -> None:
    """Log out: delete the cookie's session from the database (the cookie no longer works anywhere)."""
    session_id = request.cookies.get(ADMIN_COOKIE, "")
    if session_id:
        with request.app.state.write_lock, request.app.state.sessions.begin() as session:
            session.execute(delete(AdminSession).where(AdminSession.id_hash == hash_token(session_id)))
    response.delete_cookie(ADMIN_COOKIE, path="/", secure=request.app.state.secure_cookies, httponly=True,
                           samesite="strict")


def admin_session_id(request: Request) -> str | None:
    """The request's admin session id when it is a live login (stored, not expired), else None."""
    if hasattr(request.state, "admin_session"):
        return request.state.admin_session
    session_id = request.cookies.get(ADMIN_COOKIE, "")
    live = None
    if session_id and len(session_id) <= 200:
        with request.app.state.sessions() as session:
            row = session.get(AdminSession, hash_token(session_id))
            expires = row.expires if row is not None else None
        if expires is not None and expires.replace(tzinfo=expires.tzinfo or timezone.utc) > datetime.now(timezone.utc):
            live = session_id
    request.state.admin_session = live
    return live


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def is_admin(request: Request) -> bool:
    """True when the request carries a live admin session cookie or ``Authorization: Bearer <admin token>``."""
    bearer = _bearer(request)
    if bearer is not None:
        return hmac.compare_digest(bearer.encode(), request.app.state.admin_token.encode())
    return admin_session_id(request) is not None


def require_admin(request: Request) -> None:
    """FastAPI dependency guarding the admin side.

    Raises:
        HTTPException: 401 for a browser without the cookie is answered by a redirect to the login page
            (303 with ``Location``), for an API client with a plain 401.
    """
    if is_admin(request):
        return
    if "text/html" in request.headers.get("accept", ""):
        ended = "?error=expired" if request.cookies.get(ADMIN_COOKIE) else ""
        raise HTTPException(status_code=303, headers={"Location": "/admin/login" + ended})
    raise HTTPException(status_code=401, detail="admin authentication required")


def admin_csrf_key(request: Request) -> str:
    """What the admin's CSRF tokens are bound to: this login's session id (a new login, new tokens)."""
    return "admin:" + (admin_session_id(request) or "")


def check_admin_csrf(request: Request, token: str | None) -> None:
    """CSRF check for admin forms; a Bearer-token client (no cookie, no ambient credential) is exempt."""
    if _bearer(request) is not None:
        return
    check_csrf(request, admin_csrf_key(request), token)


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


class LoginThrottle:
    """At most ``failures`` failed logins per client address within ``window_s`` seconds.

    In memory, per process: enough to stop guessing the admin token online (with 16+ random characters
    guessing is hopeless anyway); behind a reverse proxy every client shares its address, so there
    one attacker can lock the admin out for ``window_s`` at most.
    """

    def __init__(self, failures: int = LOGIN_FAILURES, window_s: float = LOGIN_WINDOW_S):
        self.failures, self.window_s = failures, window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            return int(times[0] + self.window_s - now) + 1 if len(times) >= self.failures else 0

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client, time.monotonic()).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)


_SECRET_PATH = re.compile(r"(/j/|/annotate/a/)[^/?#\s\"]+")


def redact_path(text: str) -> str:
    """``text`` with the secret token of every judge or annotator link replaced by ``…``."""
    return _SECRET_PATH.sub(r"\1…", text)


class RedactTokens(logging.Filter):
    """Logging filter for uvicorn's access log (and any other): secret link tokens become ``…``.

    Uvicorn's access records carry the path in ``args`` (client, method, path, HTTP version, status).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_path(record.msg)
        return True


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
