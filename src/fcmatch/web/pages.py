"""Jinja2 page rendering shared by every router of the web app.

Templates are looked up in ``fcmatch/web/templates`` and then ``fcmatch/web/annotate/templates``, so the
annotation part can ``{% extends "base.html" %}``. Autoescaping is on for every template: any user text
(sentences, concept names, judge names, comments) is escaped unless a view marks it ``Markup`` itself,
which only :mod:`fcmatch.web.svg` does, after escaping every string it puts in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

WEB_DIR = Path(__file__).resolve().parent
TEMPLATE_DIRS = [WEB_DIR / "templates", WEB_DIR / "annotate" / "templates"]
STATIC_DIR = WEB_DIR / "static"

_env = Environment(
    loader=FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
templates = Jinja2Templates(env=_env)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render template ``name`` with ``context`` (``request`` is always available to the template).

    Args:
        request: the current request.
        name: template file name, e.g. ``"judge.html"``.
        status_code: HTTP status of the page.
        **context: template variables.
    """
    return templates.TemplateResponse(request, name, context, status_code=status_code)
