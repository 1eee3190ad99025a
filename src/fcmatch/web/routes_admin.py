"""The admin side: log in with the admin secret, create studies from uploaded causal maps, invite
judges, watch results, export verdicts. Every route here depends on :func:`require_admin`; every POST
checks the admin CSRF token.
"""

from __future__ import annotations

import hmac
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from fcmatch.store.inputs import shown_as
from fcmatch.store.study_tables import Judge, Study
from fcmatch.study.assignment import progress
from fcmatch.study.create import StudyConfig, create_study, invite_judge, load_labelled_maps, reissue_link, revoke_link
from fcmatch.study.export import export_records, records_csv, records_jsonl, study_summary, write_match_folder
from fcmatch.study.results import study_results
from fcmatch.web.admin import DbId, admin_csrf, admin_router, flash_error, flash_query, row_or_404
from fcmatch.web.pages import render
from fcmatch.web.security import (
    LOGIN_CSRF_COOKIE,
    check_admin_csrf,
    check_login_csrf,
    end_admin_session,
    login_csrf_cookie,
    start_admin_session,
)
from fcmatch.web.svg import draw_scores
from fcmatch.web.transaction import transaction

router = APIRouter()
admin = admin_router("/admin")


def _study(session, study_id: int) -> Study:
    return row_or_404(session, Study, study_id, f"no study {study_id}")


# the login page shows one of these, picked by a code in the query string: never the query's own text
LOGIN_ERRORS = {
    "wrong-token": "Wrong admin token.",
    "too-many": "Too many failed logins from this address; wait a few minutes and try again.",
    "expired": "Your admin session has ended (logged out or expired); log in again.",
}


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/admin/login", response_class=HTMLResponse)
def login_page(request: Request, error: str = ""):
    value = login_csrf_cookie()
    response = render(request, "login.html", csrf=value, error=LOGIN_ERRORS.get(error, ""))
    response.set_cookie(LOGIN_CSRF_COOKIE, value, httponly=True, samesite="strict", path="/admin",
                        secure=request.app.state.secure_cookies)
    return response


@router.post("/admin/login")
def login(request: Request, token: str = Form(""), csrf: str = Form("")):
    check_login_csrf(request, csrf)
    throttle = request.app.state.login_throttle
    wait = throttle.retry_after(_client(request))
    if wait:
        return RedirectResponse("/admin/login?error=too-many", status_code=303, headers={"Retry-After": str(wait)})
    if not hmac.compare_digest(token.encode(), request.app.state.admin_token.encode()):
        throttle.failed(_client(request))
        return RedirectResponse("/admin/login?error=wrong-token", status_code=303)
    throttle.succeeded(_client(request))
    response = RedirectResponse("/admin", status_code=303)
    start_admin_session(request, response)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin")
    return response


@admin.post("/logout")
def logout(request: Request, csrf: str = Form("")):
    check_admin_csrf(request, csrf)
    response = RedirectResponse("/admin/login", status_code=303)
    end_admin_session(request, response)
    return response


PAGE_SIZE = 50  # rows per admin listing page


def page_of(rows: list, page: int) -> tuple[list, dict[str, int]]:
    """Rows of listing page ``page`` (1-based, clipped to the pages there are) and the pager's numbers."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], {"page": page, "pages": pages, "rows": len(rows)}


@admin.get("", response_class=HTMLResponse)
def studies_page(request: Request, page: Annotated[int, Query(ge=1, le=10**6)] = 1):
    with request.app.state.sessions() as session:
        studies = list(session.scalars(select(Study).order_by(Study.id.desc())))
        shown, pager = page_of(studies, page)
        rows = [study_summary(session, s) for s in shown]
    return render(request, "admin_studies.html", studies=rows, pager=pager, csrf=admin_csrf(request),
                  error=flash_error(request))


@admin.post("/studies")
async def create_study_route(
    request: Request,
    files: Annotated[list[UploadFile], File()],
    name: str = Form("study"),
    per_judge: int = Form(40, ge=1, le=100_000),
    pairing: str = Form("random"),
    n_repeats: int = Form(0, ge=0, le=100_000),
    n_common: int = Form(0, ge=0, le=100_000),
    hide_labelers: str = Form(""),
    seed: int = Form(0, ge=0, le=2**32 - 1),
    csrf: str = Form(""),
):
    check_admin_csrf(request, csrf)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for upload in files:
            # keep only the base name: the file stem is the labeler, and a path must not escape tmp
            base = Path(upload.filename or "upload.jsonl").name
            if Path(base).suffix not in (".json", ".jsonl"):
                error = f"only .json and .jsonl files can make a study ({base})"
                return RedirectResponse("/admin?" + flash_query(request, error), status_code=303)
            path = Path(tmp) / base
            path.write_bytes(await upload.read())
            paths.append(path)
        try:
            config = StudyConfig(name, per_judge, pairing, n_repeats, n_common, bool(hide_labelers), seed)
            maps = load_labelled_maps(paths)
            with transaction(request) as session:
                study_id = create_study(session, maps, config).id
        except ValueError as err:
            # the files were saved under a temporary folder; the person knows them by their own names
            error = shown_as(str(err), tmp)
            return RedirectResponse("/admin?" + flash_query(request, error), status_code=303)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


def _study_page(request: Request, study_id: int, links: list | None = None, message: str = "") -> HTMLResponse:
    with request.app.state.sessions() as session:
        study = _study(session, study_id)
        judges = [{"id": j.id, "name": j.name, "progress": progress(session, j), "created": j.created,
                   "revoked": j.revoked} for j in study.judges]
        return render(
            request, "admin_study.html", study=study, summary=study_summary(session, study), judges=judges,
            csrf=admin_csrf(request), error=flash_error(request), links=links, message=message,
        )


@admin.get("/studies/{study_id}", response_class=HTMLResponse)
def study_page(request: Request, study_id: DbId):
    return _study_page(request, study_id)


@admin.post("/studies/{study_id}/judges", response_class=HTMLResponse)
def invite_route(request: Request, study_id: DbId, names: str = Form(...), csrf: str = Form("")):
    check_admin_csrf(request, csrf)
    wanted = [n.strip() for n in names.replace(",", "\n").splitlines() if n.strip()]
    base = str(request.base_url).rstrip("/")
    try:
        with transaction(request) as session:
            study = _study(session, study_id)
            links = [(name, f"{base}/j/{invite_judge(session, study, name)[1]}") for name in wanted]
    except ValueError as err:
        return RedirectResponse(f"/admin/studies/{study_id}?" + flash_query(request, str(err)), status_code=303)
    if "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps(dict(links)), media_type="application/json")
    # the links are shown once, on this page: only their hashes are stored
    return _study_page(request, study_id, links=links)


def _judge_of(session, study_id: int, judge_id: int) -> Judge:
    judge = row_or_404(session, Judge, judge_id, "no such judge")
    if judge.study_id != study_id:
        raise HTTPException(status_code=404, detail="no such judge")
    return judge


@admin.post("/studies/{study_id}/judges/{judge_id}/revoke", response_class=HTMLResponse)
def revoke_route(request: Request, study_id: DbId, judge_id: DbId, csrf: str = Form("")):
    """The judge's link stops working at once; their verdicts stay. "New link" gives them another."""
    check_admin_csrf(request, csrf)
    with transaction(request) as session:
        judge = _judge_of(session, study_id, judge_id)
        revoke_link(judge)
        name = judge.name
    return _study_page(request, study_id, message=f"The link of {name} no longer works; their verdicts stay.")


@admin.post("/studies/{study_id}/judges/{judge_id}/reissue", response_class=HTMLResponse)
def reissue_route(request: Request, study_id: DbId, judge_id: DbId, csrf: str = Form("")):
    """A new link for a judge (lost or leaked link); the old one stops working, the verdicts stay."""
    check_admin_csrf(request, csrf)
    base = str(request.base_url).rstrip("/")
    with transaction(request) as session:
        judge = _judge_of(session, study_id, judge_id)
        links = [(judge.name, f"{base}/j/{reissue_link(judge)}")]
    return _study_page(request, study_id, links=links)


@admin.get("/studies/{study_id}/results", response_class=HTMLResponse)
def results_page(request: Request, study_id: DbId):
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
def export_route(request: Request, study_id: DbId):
    with request.app.state.sessions() as session:
        records = export_records(session, _study(session, study_id))
    return _download(records_jsonl(records), "application/x-ndjson", f"study-{study_id}-comparisons.jsonl")


@admin.get("/studies/{study_id}/export.csv")
def export_csv_route(request: Request, study_id: DbId):
    with request.app.state.sessions() as session:
        records = export_records(session, _study(session, study_id), skipped=True)
    return _download(records_csv(records), "text/csv; charset=utf-8", f"study-{study_id}-comparisons.csv")


@admin.get("/studies/{study_id}/export.zip")
def export_match_route(request: Request, study_id: DbId):
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
