"""Corpus-map review pages, the HTTP layer only (the page itself is :func:`fcmatch.fcm.html.render_html`).

Two ways to serve them:

- in the main app (``fcmatch serve``), behind the admin login, under ``/admin/fcm``: the corpus maps
  listed in ``$FCMATCH_CORPUS_MAPS`` (JSON files from ``fcmatch fcm build``, separated by ``os.pathsep``),
  or in ``app.state.fcm_corpora`` (name -> path) when a caller set it;
- alone, for one corpus map on 127.0.0.1: ``fcmatch fcm review CORPUS --serve`` (:func:`create_fcm_app`).

Per corpus map: the interactive page (evidence per edge, filters by source and weight), its JSON and its
merge table. The corpus file is re-read on every request, so rebuilding it (``fcm build --merges ...``)
and reloading shows the edited map. Only registered files are served: a URL names a map, never a path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from fcmatch.fcm.corpus import CorpusMap, load_corpus
from fcmatch.fcm.html import SCRIPT, STYLE, render_html
from fcmatch.fcm.merge import corpus_clusters, merge_table_text
from fcmatch.web.security import SECURITY_HEADERS, require_admin

CORPORA_ENV = "FCMATCH_CORPUS_MAPS"


def corpora(request: Request) -> dict[str, Path]:
    """The corpus maps this app serves: ``app.state.fcm_corpora``, else ``$FCMATCH_CORPUS_MAPS`` (by file stem)."""
    given = getattr(request.app.state, "fcm_corpora", None)
    if given is not None:
        return {str(k): Path(v) for k, v in given.items()}
    paths = [Path(p) for p in os.environ.get(CORPORA_ENV, "").split(os.pathsep) if p.strip()]
    return {p.stem: p for p in paths}


def _load(request: Request, name: str) -> CorpusMap:
    path = corpora(request).get(name)
    if path is None:
        raise HTTPException(status_code=404, detail=f"no corpus map named {name!r}")
    try:
        return load_corpus(path)
    except (FileNotFoundError, ValueError) as err:
        raise HTTPException(status_code=404, detail=str(err)) from None


def corpus_router(prefix: str, dependencies: Sequence = ()) -> APIRouter:
    """The pages under ``prefix``: an index, ``/{name}``, ``/{name}/corpus.json``, ``/{name}/merges.csv``
    and the page's script and style under ``/assets/``."""
    router = APIRouter(prefix=prefix, dependencies=list(dependencies))

    @router.get("/assets/fcm.js")
    def script() -> Response:
        return Response(SCRIPT, media_type="text/javascript")

    @router.get("/assets/fcm.css")
    def style() -> Response:
        return Response(STYLE, media_type="text/css")

    @router.get("", response_class=HTMLResponse)
    def index(request: Request) -> str:
        from html import escape

        items = "".join(f'<li><a href="{prefix}/{escape(n)}">{escape(n)}</a> ({escape(str(p))})</li>'
                        for n, p in sorted(corpora(request).items()))
        return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Corpus maps</title></head>"
                f"<body><h1>Corpus maps</h1><ul>{items or f'<li>none: set ${CORPORA_ENV}</li>'}</ul></body></html>")

    @router.get("/{name}", response_class=HTMLResponse)
    def page(request: Request, name: str, min_weight: float = 0.0) -> str:
        corpus = _load(request, name)
        return render_html(corpus, min(max(min_weight, 0.0), 1.0), f"Corpus causal map: {name}",
                           assets=f"{prefix}/assets")

    @router.get("/{name}/corpus.json")
    def corpus_json(request: Request, name: str) -> JSONResponse:
        return JSONResponse(_load(request, name).to_dict())

    @router.get("/{name}/merges.csv", response_class=PlainTextResponse)
    def merges(request: Request, name: str) -> PlainTextResponse:
        text = merge_table_text(corpus_clusters(_load(request, name)))
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{name}.merges.csv"'})

    return router


router = corpus_router("/admin/fcm", [Depends(require_admin)])
"""The main app's pages (admin only); :func:`fcmatch.web.app.create_app` includes it."""


def create_fcm_app(corpus_path: str | os.PathLike) -> FastAPI:
    """An app for one corpus map with no login, for ``fcm review --serve`` on 127.0.0.1: ``/`` redirects
    to ``/fcm/<stem>``; the same security headers as the main app."""
    path = Path(corpus_path)
    app = FastAPI(title="fcmatch corpus map", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.fcm_corpora = {path.stem: path}
    app.include_router(corpus_router("/fcm"))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse(f"/fcm/{path.stem}")

    return app
