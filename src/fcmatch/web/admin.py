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

from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from sqlalchemy.orm import Session

from fcmatch.web.security import csrf_token, require_admin

T = TypeVar("T")


def admin_router(prefix: str) -> APIRouter:
    """An ``APIRouter`` under ``prefix`` (e.g. ``"/admin"``) whose every route depends on :func:`require_admin`."""
    return APIRouter(prefix=prefix, dependencies=[Depends(require_admin)])


def admin_csrf(request: Request) -> str:
    """The CSRF token of the admin's forms (checked by :func:`fcmatch.web.security.check_admin_csrf`)."""
    return csrf_token(request, "admin")


def row_or_404(session: Session, table: type[T], key: Any, detail: str) -> T:
    """``session.get(table, key)``.

    Raises:
        HTTPException: 404 with ``detail`` when there is no such row.
    """
    row = session.get(table, key)
    if row is None:
        raise HTTPException(status_code=404, detail=detail)
    return row
