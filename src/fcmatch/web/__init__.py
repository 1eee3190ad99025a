"""The judging (and annotation) web app: ``fcmatch serve``; build it with :func:`fcmatch.web.app.create_app`."""
