"""The annotation part of the web app: admin pages under ``/admin/annotate`` and the annotator's edge
editor under ``/annotate/a/<token>`` (:mod:`~fcmatch.web.annotate.routes`, with its templates and
static files here). The logic lives in :mod:`fcmatch.annotate`, the tables in
:mod:`fcmatch.store.annotation_tables`; this package is the HTTP layer.
"""

from __future__ import annotations

from fcmatch.web.annotate.routes import router

__all__ = ["router"]
