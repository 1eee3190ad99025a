"""``fcmatch serve``: run the judging and annotation web app with uvicorn, on one database.

The access log shows judge and annotator links without their secret tokens (``/j/…``).
"""

from __future__ import annotations

import argparse

from fcmatch.store.engine import DEFAULT_DB_URL


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the web app for comparative judging of causal maps")
    serve.add_argument("--db", default=DEFAULT_DB_URL, help="SQLAlchemy URL (default: an SQLite file here)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--admin-token", default=None,
        help="admin secret of 16+ characters (default $FCMATCH_ADMIN_TOKEN, else a random one printed at start)",
    )
    serve.add_argument("--secure-cookies", action="store_true",
                       help="send cookies over HTTPS only (set it when the app is behind HTTPS)")
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from fcmatch.web.app import create_app
    from fcmatch.web.security import RedactTokens

    app = create_app(args.db, admin_token=args.admin_token, secure_cookies=args.secure_cookies)
    print(f"fcmatch web app on http://{args.host}:{args.port}/  (database {args.db})")
    print(f"admin: http://{args.host}:{args.port}/admin/login  token: {app.state.admin_token}")
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info"))
    # uvicorn sets up its loggers in Config(); the filter goes on after that, before the first request
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    server.run()
    return 0
