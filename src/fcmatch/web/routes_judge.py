"""The judge side: ``/j/<token>`` shows the next pair, ``POST /j/<token>/verdict`` stores a verdict
(``A``, ``B``, ``tie``, ``both_bad`` or ``skip``, optionally ``flag``ged: :mod:`fcmatch.study.verdicts`),
``POST /j/<token>/undo`` takes the last one back.

A judge link is a capability: it opens that judge's own assignments and nothing else (no study listing,
no results, no other judge's pairs). Forms work without JavaScript; ``/static/judge.js`` only adds the
keyboard shortcuts. A POST answered with JSON (``Accept: application/json``) is how scripts and the
load test talk to it; a browser gets a 303 back to the page (post/redirect/get, so reload never
resubmits), or, when the verdict could not be stored (a stale tab), a page that says why.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from fcmatch.store.study_tables import Assignment, Item
from fcmatch.study.assignment import AlreadyAnswered, NotAssigned, next_pair, record_verdict, undo_last_verdict
from fcmatch.study.create import judge_by_token
from fcmatch.study.verdicts import LABELS as VERDICT_LABELS
from fcmatch.web.admin import MAX_DB_ID
from fcmatch.web.pages import render
from fcmatch.web.security import check_csrf, csrf_token
from fcmatch.web.svg import draw_map
from fcmatch.web.transaction import transaction

router = APIRouter()


def _session_key(token: str) -> str:
    return "judge:" + token


def _side(item: Item, label: str, hide: bool) -> dict:
    cmap = item.causal_map()
    return {
        "label": label if hide else f"{label}: {item.labeler}",
        "edges": cmap.edges,
        "svg": draw_map(cmap.edges),
    }


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _judge(session, token: str):
    judge = judge_by_token(session, token)
    if judge is None:
        raise HTTPException(status_code=404, detail="unknown link")
    return judge


@router.get("/j/{token}", response_class=HTMLResponse)
def judge_page(request: Request, token: str):
    with transaction(request) as session:
        judge = _judge(session, token)
        assignment: Assignment | None
        assignment, prog = next_pair(session, judge)
        context = {
            "judge_name": judge.name,
            "study_name": judge.study.name,
            "progress": prog,
            "csrf": csrf_token(request, _session_key(token)),
            "token": token,
            "assignment": None,
        }
        if assignment is not None:
            hide = judge.study.hide_labelers
            context.update(
                assignment=assignment.id,
                sentence=assignment.item_a.sentence.text,
                left=_side(assignment.item_a, "Map A", hide),
                right=_side(assignment.item_b, "Map B", hide),
                number=prog.done + 1,
            )
    return render(request, "judge.html", **context)


def _pair_json(request: Request, token: str, session, judge, content: bool = True) -> dict:
    """The judge's current pair (created if due) as JSON: id, progress, csrf and, with ``content``,
    the sentence and both sides' edges."""
    assignment, prog = next_pair(session, judge)
    body = {"done": prog.done, "total": prog.total, "csrf": csrf_token(request, _session_key(token)), "assignment": None}
    if assignment is not None:
        body["assignment"] = assignment.id
    if assignment is not None and content:
        body["sentence"] = assignment.item_a.sentence.text
        body["a"] = [e.to_dict() for e in assignment.item_a.causal_map().edges]
        body["b"] = [e.to_dict() for e in assignment.item_b.causal_map().edges]
    return body


def _notice(request: Request, token: str, status: int, title: str, message: str, undo: bool = False) -> HTMLResponse:
    """A page that says why a verdict was not stored and offers to go on (and, where it helps, to undo)."""
    page = render(request, "judge_notice.html", status, token=token, title=title, message=message, undo=undo,
                  csrf=csrf_token(request, _session_key(token)))
    return page


@router.post("/j/{token}/verdict")
def submit_verdict(
    request: Request,
    token: str,
    assignment: Annotated[int, Form(ge=0, le=MAX_DB_ID)],
    verdict: str = Form(...),
    comment: str = Form(""),
    flag: str = Form(""),
    csrf: str = Form(""),
):
    check_csrf(request, _session_key(token), csrf)
    json_client = _wants_json(request)
    with transaction(request) as session:
        judge = _judge(session, token)
        try:
            # any value of the checkbox (browsers send "on") flags; absent or empty does not
            stored = record_verdict(session, judge, assignment, verdict, comment, flagged=bool(flag))
        except NotAssigned as err:
            if json_client:
                raise HTTPException(status_code=403, detail=str(err)) from None
            return _notice(request, token, 403, "This pair is not yours",
                           "The form you sent was for a pair that is not on your list, so nothing was stored.")
        except AlreadyAnswered as err:
            if json_client:
                raise HTTPException(status_code=409, detail=str(err)) from None
            return _notice(
                request, token, 409, "You had already judged this pair",
                f"This pair already has your verdict “{VERDICT_LABELS[err.stored]}”, probably given in another "
                f"tab or window. The verdict you just chose (“{VERDICT_LABELS.get(verdict, verdict)}”) was not "
                "stored; the first one stands. Go on to your next pair, or take back your last verdict to judge "
                "it again.", undo=True,
            )
        except ValueError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        result = {"assignment": assignment, "verdict": stored.verdict, "flagged": stored.flagged, "id": stored.id}
        # the next pair is made in the same transaction: one commit (one fsync) per verdict, not two;
        # its content is left to GET /next (loading and parsing both maps is most of a request's CPU)
        result["next"] = _pair_json(request, token, session, judge, content=False)
    # the transaction above has committed (and, on SQLite, fsynced the WAL) before this response exists
    if json_client:
        return JSONResponse(result)
    return RedirectResponse(f"/j/{token}", status_code=303)


@router.post("/j/{token}/undo")
def undo(request: Request, token: str, csrf: str = Form("")):
    """Take back the judge's last verdict; its pair is shown again."""
    check_csrf(request, _session_key(token), csrf)
    with transaction(request) as session:
        judge = _judge(session, token)
        reopened = undo_last_verdict(session, judge)
        body = {"reopened": reopened.id if reopened else None, "next": _pair_json(request, token, session, judge, False)}
    if _wants_json(request):
        return JSONResponse(body)
    return RedirectResponse(f"/j/{token}", status_code=303)


@router.get("/j/{token}/next")
def next_json(request: Request, token: str):
    """The current pair as JSON (for scripts and the load test): ids, sides' edges, progress, csrf."""
    with transaction(request) as session:
        judge = _judge(session, token)
        body = _pair_json(request, token, session, judge)
    return JSONResponse(body)
