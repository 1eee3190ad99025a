"""The annotator's side of a project: their sentences in order, opening one, saving it safely.

Saving is optimistic concurrency: the editor sends the ``version`` it started from, the save is an
``UPDATE ... WHERE version = :base`` and bumps the version, and a save from a stale tab (another tab
saved in between) raises :class:`StaleAnnotation` carrying what is stored now, which the web layer
answers with 409 so the page can tell the person instead of silently overwriting.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from fcmatch.annotate.annotation import AnnotationDoc, AnnotationError, parse_annotation
from fcmatch.annotate.suggestions import suggestion_outcomes
from fcmatch.data.causal_map import Edge
from fcmatch.store.annotation_tables import Annotator, Prediction, ProjectSentence, SuggestionOutcome, Task


class StaleAnnotation(Exception):
    """A save based on an old version; ``current`` is the stored view of the task."""

    def __init__(self, current: dict[str, Any]):
        super().__init__(f"annotation changed elsewhere; now at version {current['version']}")
        self.current = current


def ordered_tasks(session: Session, annotator: Annotator) -> list[Task]:
    """The annotator's tasks: highest sentence priority first, then input order."""
    return list(
        session.scalars(
            select(Task)
            .join(ProjectSentence)
            .where(Task.annotator_id == annotator.id)
            .order_by(ProjectSentence.priority.desc(), ProjectSentence.position)
        )
    )


def next_task(tasks: list[Task]) -> Task | None:
    """The first unfinished task in order, or None when all are done."""
    return next((t for t in tasks if t.status != "done"), None)


def suggested_edges(session: Session, task: Task) -> list[Edge]:
    """The edges the editor suggests for this task ([] without predictions)."""
    if not task.suggestion_model:
        return []
    prediction = session.scalar(
        select(Prediction).where(Prediction.sentence_id == task.sentence_id, Prediction.model == task.suggestion_model)
    )
    return prediction.edges() if prediction else []


def fix_suggestions(session: Session, task: Task) -> None:
    """Pick the suggesting model the first time an untouched task is opened, and keep it thereafter.

    Fixing it keeps suggestion indices stable even if predictions are imported mid-project.
    """
    if task.suggestion_model is not None or task.version:
        return
    model = task.annotator.project.suggest_model
    has = model and session.scalar(
        select(Prediction.id).where(Prediction.sentence_id == task.sentence_id, Prediction.model == model)
    )
    task.suggestion_model = model if has else ""
    session.flush()


def load_doc(task: Task) -> AnnotationDoc:
    """The stored annotation document of a task (an empty one for a new task)."""
    return parse_annotation(json.loads(task.doc_json or "{}"), n_suggestions=10**6)


def task_view(session: Session, task: Task) -> dict[str, Any]:
    """What the editor needs: sentence, stored annotation, version and suggestions (JSON-ready)."""
    return {
        "task": task.id,
        "text": task.sentence.text,
        "version": task.version,
        "status": task.status,
        "doc": load_doc(task).to_dict(),
        "suggestions": [e.to_dict() for e in suggested_edges(session, task)],
    }


def save_task(session: Session, task: Task, payload: Any, base_version: Any) -> int:
    """Validate and store the editor's document if ``base_version`` is still current.

    Args:
        session: open session (one transaction; the caller commits).
        task: the task being saved (already checked to belong to the requester).
        payload: the editor's JSON document (see :func:`fcmatch.annotate.annotation.parse_annotation`).
        base_version: the version the editor's state was built on.

    Returns:
        The new version.

    Raises:
        AnnotationError: malformed document (a 400 for the web layer).
        StaleAnnotation: ``base_version`` is not the stored version (a 409).
    """
    if not isinstance(base_version, int) or isinstance(base_version, bool):
        raise StaleAnnotation(task_view(session, task))
    if not 0 <= base_version < 2**63:  # a database integer; a larger one overflows in the driver
        raise AnnotationError(f"'version' must be a stored version, got {base_version}")
    suggested = suggested_edges(session, task)
    doc = parse_annotation(payload, len(suggested))
    status = "done" if doc.status == "done" else "draft"
    result = session.execute(
        update(Task)
        .where(Task.id == task.id, Task.version == base_version)
        .values(
            doc_json=json.dumps(doc.to_dict(), ensure_ascii=False),
            status=status,
            version=Task.version + 1,
            updated=datetime.now(timezone.utc),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(task)
        raise StaleAnnotation(task_view(session, task))
    session.execute(delete(SuggestionOutcome).where(SuggestionOutcome.task_id == task.id))
    for index, outcome in enumerate(suggestion_outcomes(suggested, doc)):
        session.add(SuggestionOutcome(task_id=task.id, model=task.suggestion_model, index=index, outcome=outcome))
    session.flush()
    session.refresh(task)
    return task.version


def progress(tasks: list[Task]) -> dict[str, int]:
    """``{"done", "draft", "new", "total"}`` counts of a list of tasks."""
    counts = {"done": 0, "draft": 0, "new": 0}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    counts["total"] = len(tasks)
    return counts
