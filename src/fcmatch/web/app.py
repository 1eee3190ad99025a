"""The fcmatch web app: comparative judging of causal maps (and, when installed, annotation).

Run it with ``fcmatch serve [--db URL] [--host 127.0.0.1 --port 8000]``; build it in code with
:func:`create_app`. What a router of this app can rely on:

- ``fcmatch.web.transaction.transaction(request)``: ``with transaction(request) as session: ...`` runs
  one transaction that commits (durably: SQLite WAL, ``synchronous=FULL``) before the response is
  built; it queues on ``request.app.state.write_lock`` so concurrent SQLite writers take turns fairly.
  ``request.app.state.sessions`` is the plain ``sessionmaker`` (for reads that need no lock).
- ``request.app.state.engine``, ``.admin_token``, ``.secure_cookies`` and ``.secret`` (the CSRF/cookie signing key, kept in
  the database so pages rendered before a restart still post after it).
- :mod:`fcmatch.web.security` for CSRF and the ``require_admin`` dependency, :mod:`fcmatch.web.admin`
  for an admin router, :mod:`fcmatch.web.pages` for ``render(request, "x.html", **context)``,
  ``/static/...`` for local assets (no CDN anywhere).
- ``fcmatch.web.annotate.router`` (an ``APIRouter``), if that module exists, is included here.

The tables are :mod:`fcmatch.store` (all created here, with their migrations); the logic behind the
pages is :mod:`fcmatch.study` and :mod:`fcmatch.annotate`.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

# importing fcmatch.store registers every table on Base, so init_db below creates them all
from fcmatch.store.engine import DEFAULT_DB_URL, make_engine, session_factory, writer_lock
from fcmatch.store.schema import get_or_create_setting, init_db
from fcmatch.store.tokens import new_token
from fcmatch.web.pages import STATIC_DIR, render
from fcmatch.web.security import MIN_ADMIN_TOKEN, SECURITY_HEADERS, BodySizeLimit, LoginThrottle

log = logging.getLogger(__name__)

ADMIN_TOKEN_ENV = "FCMATCH_ADMIN_TOKEN"
UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes; the ten MATCH annotation files are ~100 KB together


def _optional_router(module: str):
    """``module.router`` if the module is installed, else None (the annotation part is optional)."""
    if importlib.util.find_spec(module) is None:
        return None
    return getattr(importlib.import_module(module), "router", None)


def create_app(
    db_url: str = DEFAULT_DB_URL,
    admin_token: str | None = None,
    max_body: int = 256 * 1024,
    secure_cookies: bool = False,
) -> FastAPI:
    """Build the web app on the database at ``db_url`` (tables and migrations are applied here).

    Args:
        db_url: SQLAlchemy URL; an SQLite file by default, PostgreSQL works too.
        admin_token: the admin secret, at least 16 characters; None takes ``$FCMATCH_ADMIN_TOKEN`` or,
            failing that, makes a random one and logs it (read it back from ``app.state.admin_token``).
        max_body: request body limit in bytes (uploads under ``/admin/studies`` may be up to 50 MiB).
        secure_cookies: mark cookies ``Secure`` (sent over HTTPS only): set it when the app is served
            behind HTTPS, leave it off for plain http://127.0.0.1.

    Returns:
        The FastAPI app; ``app.state.engine.dispose()`` releases the database.

    Raises:
        ValueError: an admin token shorter than 16 characters.
    """
    admin_token = admin_token or os.environ.get(ADMIN_TOKEN_ENV) or ""
    if not admin_token:
        admin_token = new_token()
        log.warning("no admin token given; using a random one for this run: %s", admin_token)
    if len(admin_token) < MIN_ADMIN_TOKEN:
        raise ValueError(
            f"the admin token must have at least {MIN_ADMIN_TOKEN} characters (it guards every study); "
            "leave it out to get a random one"
        )

    engine = make_engine(db_url)
    annotate_router = _optional_router("fcmatch.web.annotate")
    init_db(engine)

    app = FastAPI(title="fcmatch", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.write_lock = writer_lock(engine)
    app.state.admin_token = admin_token
    app.state.secure_cookies = secure_cookies
    app.state.login_throttle = LoginThrottle()
    app.state.secret = get_or_create_setting(engine, "secret", lambda: new_token(32))

    app.add_middleware(BodySizeLimit, max_bytes=max_body, overrides={"/admin/studies": UPLOAD_LIMIT, "/admin/annotate": UPLOAD_LIMIT})

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith(("/j/", "/admin", "/annotate/a/")):
            response.headers.setdefault("Cache-Control", "no-store")  # secret links and results
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    from fcmatch.web import fcm, routes_admin, routes_judge

    app.include_router(routes_judge.router)
    app.include_router(routes_admin.router)
    app.include_router(fcm.router)  # corpus-map review pages, /admin/fcm
    if annotate_router is not None:
        app.include_router(annotate_router)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        return render(request, "index.html", annotate=annotate_router is not None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return RedirectResponse("/static/favicon.svg")

    return app
