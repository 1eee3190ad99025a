"""What every admin router of the app shares: a router whose every route needs the admin login,
the admin forms' CSRF token, and a 404 for a row that is not there.

    admin = admin_router("/admin/annotate")

    @admin.get("/{project_id}")
    def page(request: Request, project_id: int):
        ...
        project = row_or_404(session, Project, project_id, "no such project")
        return render(request, "page.html", csrf=admin_csrf(request))
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session

from fcmatch.web.security import admin_csrf_key, csrf_token, require_admin, sign

T = TypeVar("T")
# the largest id SQLite and PostgreSQL (BIGINT) can hold: a larger one overflows in the driver (a 500)
MAX_DB_ID = 2**63 - 1
DbId = Annotated[int, PathParam(ge=0, le=MAX_DB_ID)]
"""An id in a URL path: anything outside 0..2**63-1 is answered 422 before it reaches the database."""


def admin_router(prefix: str) -> APIRouter:
    """An ``APIRouter`` under ``prefix`` (e.g. ``"/admin"``) whose every route depends on :func:`require_admin`."""
    return APIRouter(prefix=prefix, dependencies=[Depends(require_admin)])


def admin_csrf(request: Request) -> str:
    """The CSRF token of the admin's forms (checked by :func:`fcmatch.web.security.check_admin_csrf`)."""
    return csrf_token(request, admin_csrf_key(request))


def flash_query(request: Request, error: str) -> str:
    """``error=...&sig=...`` for a redirect that shows ``error`` on the next admin page.

    Signed, so that a link from elsewhere (``/admin?error=Your+token+expired,+see+evil.example``)
    cannot put its own words on an admin page: :func:`flash_error` shows only messages this app made.
    """
    return urlencode({"error": error, "sig": sign(request, "flash:" + error)})


def flash_error(request: Request) -> str:
    """The ``error`` of the query string when :func:`flash_query` signed it, else ``""``."""
    error, sig = request.query_params.get("error", ""), request.query_params.get("sig", "")
    return error if error and hmac.compare_digest(sig, sign(request, "flash:" + error)) else ""


def row_or_404(session: Session, table: type[T], key: Any, detail: str) -> T:
    """``session.get(table, key)``.

    Raises:
        HTTPException: 404 with ``detail`` when there is no such row.
    """
    row = session.get(table, key) if isinstance(key, int) and 0 <= key <= MAX_DB_ID else None
    if row is None:
        raise HTTPException(status_code=404, detail=detail)
    return row
