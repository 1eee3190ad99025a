"""The judging (and annotation) web app, as the HTTP layer only: routes, templates, static files and
security middleware over :mod:`fcmatch.study`, :mod:`fcmatch.annotate` and :mod:`fcmatch.store`.
Run it with ``fcmatch serve``; build it with :func:`fcmatch.web.app.create_app`.
"""
