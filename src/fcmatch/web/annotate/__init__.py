"""The annotation part of the web app, mounted under ``/annotate``: admin pages to run a project and
the annotator's edge editor. The logic lives in :mod:`fcmatch.annotate`; this package is the HTTP layer.

``router`` is imported lazily so that the command line (and the library) can use the tables in
:mod:`fcmatch.web.annotate.models` without importing FastAPI routes.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "router":
        from fcmatch.web.annotate.routes import router

        return router
    raise AttributeError(name)


__all__ = ["router"]
