"""The admin side: log in with the admin secret, create studies from uploaded causal maps, invite
judges, watch results, export verdicts. Every route here depends on :func:`require_admin`; every POST
checks the admin CSRF token.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fcmatch.store.study_tables import Study
from fcmatch.study.assignment import progress
from fcmatch.study.create import StudyConfig, create_study, invite_judge, load_labelled_maps
from fcmatch.study.export import export_records, records_csv, records_jsonl, study_summary, write_match_folder
from fcmatch.study.results import study_results
from fcmatch.web.admin import admin_csrf, admin_router, row_or_404
from fcmatch.web.pages import render
from fcmatch.web.security import (
    ADMIN_COOKIE,
    LOGIN_CSRF_COOKIE,
    admin_cookie_value,
    check_admin_csrf,
    check_login_csrf,
    login_csrf_cookie,
)
from fcmatch.web.svg import draw_scores
from fcmatch.web.transaction import transaction

router = APIRouter()
admin = admin_router("/admin")


def _study(session, study_id: int) -> Study:
    return row_or_404(session, Study, study_id, f"no study {study_id}")


@router.get("/admin/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = ""):
    value = login_csrf_cookie()
    response = render(request, "login.html", csrf=value, error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, value, httponly=True, samesite="strict", path="/admin")
    return response


@router.post("/admin/login")
def login(request: Request, token: str = Form(""), csrf: str = Form("")):
    check_login_csrf(request, csrf)
    if token != request.app.state.admin_token:
        return RedirectResponse("/admin/login?error=wrong+admin+token", status_code=303)
    response = RedirectResponse("/admin", status_code=303)
    response.set_cookie(ADMIN_COOKIE, admin_cookie_value(request), httponly=True, samesite="strict", path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return response


@admin.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    check_admin_csrf(request, csrf)
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(ADMIN_COOKIE, path="/")
    return response


@admin.get("", response_class=HTMLResponse)
def studies_page(request: Request, error: str = ""):
    with request.app.state.sessions() as session:
        studies = [study_summary(session, s) for s in session.scalars(select(Study).order_by(Study.id))]
    return render(request, "admin_studies.html", studies=studies, csrf=admin_csrf(request), error=error)


@admin.post("/studies")
async def create_study_route(
    request: Request,
    files: Annotated[list[UploadFile], File()],
    name: str = Form("study"),
    per_judge: int = Form(40),
    pairing: str = Form("random"),
    n_repeats: int = Form(0),
    n_common: int = Form(0),
    hide_labelers: str = Form(""),
    seed: int = Form(0),
    csrf: str = Form(""),
):
    check_admin_csrf(request, csrf)
    config = StudyConfig(name, per_judge, pairing, n_repeats, n_common, bool(hide_labelers), seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for upload in files:
            # keep only the base name: the file stem is the labeler, and a path must not escape tmp
            base = Path(upload.filename or "upload.jsonl").name
            if Path(base).suffix not in (".json", ".jsonl"):
                return RedirectResponse(f"/admin?error=only+.json+and+.jsonl+files+({base})", status_code=303)
            path = Path(tmp) / base
            path.write_bytes(await upload.read())
            paths.append(path)
        try:
            maps = load_labelled_maps(paths)
            with transaction(request) as session:
                study_id = create_study(session, maps, config).id
        except ValueError as err:
            return RedirectResponse("/admin?" + _query(error=str(err)), status_code=303)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


def _query(**params: str) -> str:
    return urlencode(params)


def _study_page(request: Request, study_id: int, error: str = "", links: list | None = None) -> HTMLResponse:
    with request.app.state.sessions() as session:
        study = _study(session, study_id)
        judges = [{"name": j.name, "progress": progress(session, j), "created": j.created} for j in study.judges]
        return render(
            request, "admin_study.html", study=study, summary=study_summary(session, study), judges=judges,
            csrf=admin_csrf(request), error=error, links=links,
        )


@admin.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: int, error: str = ""):
    return _study_page(request, study_id, error)


@admin.post("/studies/{study_id}/judges", response_class=HTMLResponse)
def invite_route(request: Request, study_id: int, names: str = Form(...), csrf: str = Form("")):
    check_admin_csrf(request, csrf)
    wanted = [n.strip() for n in names.replace(",", "\n").splitlines() if n.strip()]
    base = str(request.base_url).rstrip("/")
    try:
        with transaction(request) as session:
            study = _study(session, study_id)
            links = [(name, f"{base}/j/{invite_judge(session, study, name)[1]}") for name in wanted]
    except ValueError as err:
        return RedirectResponse(f"/admin/studies/{study_id}?" + _query(error=str(err)), status_code=303)
    if "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps(dict(links)), media_type="application/json")
    # the links are shown once, on this page: only their hashes are stored
    return _study_page(request, study_id, links=links)


@admin.get("/studies/{study_id}/results", response_class=HTMLResponse)
def results_page(request: Request, study_id: int):
    with request.app.state.sessions() as session:
        study = _study(session, study_id)
        results = study_results(session, study)
        for entry in results["sentences"]:
            if entry["rows"]:
                entry["svg"] = draw_scores([(r["labeler"], r["score"], r["ci95"]) for r in entry["rows"]])
        return render(request, "admin_results.html", study=study, results=results, csrf=admin_csrf(request))


def _download(body: str | bytes, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@admin.get("/studies/{study_id}/export.jsonl")
def export_route(request: Request, study_id: int):
    with request.app.state.sessions() as session:
        records = export_records(session, _study(session, study_id))
    return _download(records_jsonl(records), "application/x-ndjson", f"study-{study_id}-comparisons.jsonl")


@admin.get("/studies/{study_id}/export.csv")
def export_csv_route(request: Request, study_id: int):
    with request.app.state.sessions() as session:
        records = export_records(session, _study(session, study_id))
    return _download(records_csv(records), "text/csv; charset=utf-8", f"study-{study_id}-comparisons.csv")


@admin.get("/studies/{study_id}/export.zip")
def export_match_route(request: Request, study_id: int):
    """The MATCH-layout folder of ``fcmatch study export N FOLDER``, zipped."""
    with request.app.state.sessions() as session, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / f"study-{study_id}"
        write_match_folder(session, _study(session, study_id), folder)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*.json")):
                archive.write(path, path.relative_to(tmp).as_posix())
    return _download(buffer.getvalue(), "application/zip", f"study-{study_id}-match.zip")


router.include_router(admin)
