"""HTTP layer of annotation: admin pages under ``/admin/annotate`` and the annotator's editor under
``/annotate/a/<token>``. Each handler opens one transaction and calls :mod:`fcmatch.annotate`.

An annotator link is a capability: it opens that person's own tasks and nothing else. The editor
saves with ``PUT /annotate/a/<token>/t/<task>`` (JSON, ``X-CSRF-Token`` header); a stale version is
answered 409 with what is stored now. Admin pages sit under ``/admin`` so the admin cookie and the
app's ``no-store`` rule cover them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from fcmatch.annotate import project as projects
from fcmatch.annotate import results
from fcmatch.annotate.annotation import AnnotationError
from fcmatch.annotate.ordering import ORDERINGS
from fcmatch.annotate.sentences import read_sentences
from fcmatch.annotate.tasks import (
    StaleAnnotation,
    fix_suggestions,
    next_task,
    ordered_tasks,
    progress,
    save_task,
    task_view,
)
from fcmatch.data.formats import FormatError, read_jsonl
from fcmatch.evaluate.matching import MATCHERS
from fcmatch.store.annotation_tables import Annotator, Project, ProjectSentence, Task
from fcmatch.store.inputs import read_named, shown_as
from fcmatch.store.paging import Page, paginate
from fcmatch.web.admin import DbId, admin_csrf, admin_router, row_or_404
from fcmatch.web.pages import render
from fcmatch.web.security import check_admin_csrf, check_csrf, csrf_token

router = APIRouter()
admin = admin_router("/admin/annotate")
STATIC = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"annotate.js": "text/javascript", "annotate.css": "text/css"}
EXPORTS = {"jsonl": ("jsonl", ".jsonl", "application/x-ndjson"), "csv": ("csv", ".csv", "text/csv")}
EXPORTS["match"] = ("match", ".json", "application/json")
NO_STORE = {"Cache-Control": "no-store"}  # secret links and unsaved work must not sit in caches


def _csrf_key(token: str) -> str:
    return "annotate:" + token


@router.get("/annotate/static/{name}")
def static_file(name: str) -> FileResponse:
    if name not in STATIC_FILES:
        raise HTTPException(status_code=404)
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name])


# ---- annotator -------------------------------------------------------------------------------


def _annotator(session, token: str):
    annotator = projects.annotator_for_token(session, token)
    if annotator is None:
        raise HTTPException(status_code=404, detail="unknown link")
    return annotator


@router.get("/annotate/a/{token}", response_class=HTMLResponse)
def annotator_home(request: Request, token: str):
    with request.app.state.sessions.begin() as session:
        annotator = _annotator(session, token)
        tasks = ordered_tasks(session, annotator)
        upcoming = next_task(tasks)
        page = render(
            request,
            "annotate_home.html",
            annotator_name=annotator.name,
            project=annotator.project,
            tasks=tasks,
            progress=progress(tasks),
            next_task=upcoming,
            token=token,
        )
    page.headers.update(NO_STORE)
    return page


@router.get("/annotate/a/{token}/t/{task_id}", response_class=HTMLResponse)
def editor_page(request: Request, token: str, task_id: DbId):
    with request.app.state.sessions.begin() as session:
        annotator = _annotator(session, token)
        tasks = ordered_tasks(session, annotator)
        index = next((i for i, t in enumerate(tasks) if t.id == task_id), None)
        if index is None:
            raise HTTPException(status_code=404, detail="no such sentence for this link")
        task = tasks[index]
        fix_suggestions(session, task)
        later = [t for t in tasks[index + 1 :] + tasks[:index] if t.status != "done"]
        base = f"/annotate/a/{token}"
        data = {
            **task_view(session, task),
            "save_url": f"{base}/t/{task.id}",
            "next_url": f"{base}/t/{later[0].id}" if later else base,
            "csrf": csrf_token(request, _csrf_key(token)),
        }
        page = render(
            request,
            "annotate_editor.html",
            data=data,
            text=task.sentence.text,
            project=annotator.project,
            annotator_name=annotator.name,
            position=index + 1,
            progress=progress(tasks),
            prev_url=f"{base}/t/{tasks[index - 1].id}" if index else None,
            next_url=f"{base}/t/{tasks[index + 1].id}" if index + 1 < len(tasks) else None,
            home_url=base,
        )
    page.headers.update(NO_STORE)
    return page


@router.put("/annotate/a/{token}/t/{task_id}")
async def save(request: Request, token: str, task_id: DbId) -> JSONResponse:
    check_csrf(request, _csrf_key(token), request.headers.get("x-csrf-token"))
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body must be JSON"}, status_code=400)
    except RecursionError:  # the JSON parser recurses once per level of nesting
        return JSONResponse({"error": "the body is nested too deeply"}, status_code=422)
    if not isinstance(body, dict):
        return JSONResponse({"error": "the body must be a JSON object"}, status_code=422)
    with request.app.state.sessions.begin() as session:
        annotator = _annotator(session, token)
        task = session.get(Task, task_id)
        if task is None or task.annotator_id != annotator.id:
            raise HTTPException(status_code=404, detail="no such sentence for this link")
        try:
            version = save_task(session, task, body.get("doc"), body.get("version"))
        except AnnotationError as err:
            return JSONResponse({"error": str(err)}, status_code=422, headers=NO_STORE)
        except StaleAnnotation as stale:
            return JSONResponse({"error": "conflict", "current": stale.current}, status_code=409, headers=NO_STORE)
        return JSONResponse({"version": version, "status": task.status}, headers=NO_STORE)


# ---- admin -------------------------------------------------------------------------------------


@router.get("/annotate/admin", include_in_schema=False)
def admin_alias() -> RedirectResponse:
    return RedirectResponse("/admin/annotate", status_code=303)


def _project(session, project_id: int) -> Project:
    return row_or_404(session, Project, project_id, "no such project")


PageNumber = Annotated[int, Query(ge=1, le=10**9)]  # ?page= of a listing (past the end: the last page)


def _admin_list(request: Request, session, error: str = "", status_code: int = 200, page: int = 1) -> HTMLResponse:
    # progress is computed for the projects shown only
    shown = paginate(session, select(Project).order_by(Project.id), page)
    rows = [(p, results.project_progress(session, p)) for p in shown.rows]
    return render(
        request, "annotate_admin.html", status_code, rows=rows, pager=shown, error=error, csrf=admin_csrf(request)
    )


@admin.get("", response_class=HTMLResponse)
def admin_home(request: Request, page: PageNumber = 1):
    with request.app.state.sessions.begin() as session:
        return _admin_list(request, session, page=page)


async def _saved_upload(upload: UploadFile, folder: str) -> Path:
    # keep the extension: the readers pick the format from it
    suffix = Path(upload.filename or "").suffix.lower()
    path = Path(folder) / f"upload{suffix if suffix in ('.txt', '.csv', '.jsonl') else '.txt'}"
    path.write_bytes(await upload.read())
    return path


@admin.post("/projects")
async def create(
    request: Request,
    sentences: Annotated[UploadFile, File()],
    csrf: str = Form(""),
    name: str = Form(...),
    column: str = Form(""),
    overlap: float = Form(0.2),
    redundancy: int = Form(2),
    seed: int = Form(0),
    instructions: str = Form(""),
):
    check_admin_csrf(request, csrf)
    with tempfile.TemporaryDirectory() as folder:
        path = await _saved_upload(sentences, folder)
        try:
            records = read_sentences(path, column or None)
            with request.app.state.sessions.begin() as session:
                project = projects.create_project(session, name, records, overlap, redundancy, seed, instructions)
                project_id = project.id
        except ValueError as err:
            message = shown_as(str(err), folder, {path.name: Path(sentences.filename or "file").name})
            with request.app.state.sessions.begin() as session:
                return _admin_list(request, session, message, 400)
    return RedirectResponse(f"/admin/annotate/{project_id}", status_code=303)


def _sentence_page(session, project: Project, number: int) -> tuple[Page, dict[int, list[tuple[str, str]]]]:
    """Page ``number`` of the project's sentences in input order, and per shown sentence its
    ``(annotator, status)`` pairs: two queries, whatever the project's size."""
    page = paginate(session, select(ProjectSentence).where(ProjectSentence.project_id == project.id)
                    .order_by(ProjectSentence.position), number)
    who: dict[int, list[tuple[str, str]]] = {s.id: [] for s in page.rows}
    if who:
        for sentence_id, name, status in session.execute(
            select(Task.sentence_id, Annotator.name, Task.status).join(Annotator, Annotator.id == Task.annotator_id)
            .where(Task.sentence_id.in_(list(who))).order_by(Annotator.id)
        ):
            who[sentence_id].append((name, status))
    return page, who


def _page_number(request: Request) -> int:
    # the project page is also answered after a POST action: read ?page= leniently there
    value = request.query_params.get("page", "1")
    return min(int(value), 10**9) if value.isdigit() else 1


def _project_page(request: Request, session, project: Project, **extra) -> HTMLResponse:
    matcher = request.query_params.get("matcher", "exact")
    matcher = matcher if matcher in MATCHERS else "exact"
    sentences, annotated_by = _sentence_page(session, project, _page_number(request))
    models = sorted({p.model for s in project.sentences for p in s.predictions})
    return render(
        request,
        "annotate_project.html",
        extra.pop("status_code", 200),
        project=project,
        progress=results.project_progress(session, project),
        agreement=results.project_agreement(session, project, matcher),
        suggestions=results.suggestion_report(session, project),
        models=models,
        matchers=list(MATCHERS),
        matcher=matcher,
        sentence_page=sentences,
        annotated_by=annotated_by,
        orderings=ORDERINGS,
        csrf=admin_csrf(request),
        links=extra.pop("links", []),
        message=extra.pop("message", ""),
        error=extra.pop("error", ""),
    )


@admin.get("/{project_id}", response_class=HTMLResponse)
def project_page(request: Request, project_id: DbId, page: PageNumber = 1):  # page: read by _page_number
    with request.app.state.sessions.begin() as session:
        return _project_page(request, session, _project(session, project_id))


def _act(request: Request, project_id: int, action) -> HTMLResponse:
    """Run ``action(session, project) -> (message, links)`` in one transaction, then show the project page.

    A ValueError from the library (its message names the problem) rolls the whole action back and is
    shown on the page with status 400.
    """
    message, links, error = "", [], ""
    try:
        with request.app.state.sessions.begin() as session:
            message, links = action(session, _project(session, project_id))
    except (ValueError, UnicodeDecodeError) as err:
        error = str(err)
    with request.app.state.sessions.begin() as session:
        project = _project(session, project_id)
        return _project_page(
            request, session, project, message=message, links=links, error=error, status_code=400 if error else 200
        )


def _link(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/annotate/a/{token}"


@admin.post("/{project_id}/invite", response_class=HTMLResponse)
def invite(request: Request, project_id: DbId, csrf: str = Form(""), names: str = Form(...)):
    check_admin_csrf(request, csrf)

    def action(session, project):
        made = projects.invite(session, project, [n for n in names.splitlines() if n.strip()])
        return "Copy these links now: they are shown once.", [(n, _link(request, t)) for n, t in made]

    return _act(request, project_id, action)


@admin.post("/{project_id}/reissue", response_class=HTMLResponse)
def reissue(request: Request, project_id: DbId, csrf: str = Form(""), name: str = Form(...)):
    check_admin_csrf(request, csrf)

    def action(session, project):
        token = projects.reissue_link(session, project, name)
        return "New link made; the old one no longer works.", [(name, _link(request, token))]

    return _act(request, project_id, action)


@admin.post("/{project_id}/revoke", response_class=HTMLResponse)
def revoke(request: Request, project_id: DbId, csrf: str = Form(""), name: str = Form(...)):
    check_admin_csrf(request, csrf)

    def action(session, project):
        projects.revoke_link(session, project, name)
        return f"The link of {name} no longer works; their work stays. \"New link\" gives them another.", []

    return _act(request, project_id, action)


@admin.post("/{project_id}/assign", response_class=HTMLResponse)
def assign(request: Request, project_id: DbId, csrf: str = Form("")):
    check_admin_csrf(request, csrf)

    def action(session, project):
        counts = projects.assign(session, project)
        return "Assigned: " + (", ".join(f"{n} +{c}" for n, c in counts.items()) or "nothing new"), []

    return _act(request, project_id, action)


@admin.post("/{project_id}/suggestions", response_class=HTMLResponse)
async def suggestions(
    request: Request,
    project_id: DbId,
    predictions: Annotated[UploadFile, File()],
    csrf: str = Form(""),
    model: str = Form(""),
):
    check_admin_csrf(request, csrf)
    content = await predictions.read()

    def action(session, project):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "predictions.jsonl"
            path.write_bytes(content)
            try:
                maps = read_named(path, read_jsonl)
            except FormatError as err:
                raise ValueError(shown_as(str(err), folder, {path.name: Path(predictions.filename or "file").name})) from None
        report = projects.import_predictions(session, project, maps, model or None)
        imported = ", ".join(f"{m}: {n}" for m, n in report["models"].items()) or "nothing"
        return f"Imported predictions ({imported}); {report['unmatched']} not in the project.", []

    return _act(request, project_id, action)


@admin.post("/{project_id}/ordering", response_class=HTMLResponse)
def ordering(request: Request, project_id: DbId, csrf: str = Form(""), by: str = Form(...)):
    check_admin_csrf(request, csrf)

    def action(session, project):
        return f"Ordering {by}: {projects.set_ordering(session, project, by)} sentences scored.", []

    return _act(request, project_id, action)


@admin.get("/{project_id}/export")
def export(request: Request, project_id: DbId, fmt: str = "jsonl", per_sentence: str = "one", drafts: bool = False):
    if fmt not in EXPORTS or per_sentence not in results.PER_SENTENCE:
        raise HTTPException(status_code=400, detail="fmt must be jsonl, csv or match; per_sentence one or all")
    kind, suffix, media = EXPORTS[fmt]
    with request.app.state.sessions.begin() as session, tempfile.TemporaryDirectory() as folder:
        project = _project(session, project_id)
        path = Path(folder) / f"export{suffix}"
        results.export_project(session, project, path, kind, per_sentence=per_sentence, include_drafts=drafts)
        body = path.read_bytes()
    filename = f"annotations-{project_id}{suffix}"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


router.include_router(admin)
