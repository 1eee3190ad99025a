"""What a project produced: exports for training and judging, agreement, suggestion rates, progress."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fcmatch.annotate.agreement import agreement_report
from fcmatch.annotate.suggestions import outcome_rates
from fcmatch.annotate.tasks import load_doc, progress
from fcmatch.data.causal_map import CausalMap, Edge
from fcmatch.data.formats import write_maps
from fcmatch.store.annotation_tables import Annotator, Project, ProjectSentence, SuggestionOutcome, Task
from fcmatch.store.csv_cells import safe_cell

PER_SENTENCE = ("one", "all")


def annotated_maps(
    session: Session, project: Project, include_drafts: bool = False, include_unclear: bool = False
) -> list[tuple[Task, CausalMap]]:
    """Every finished annotation as a CausalMap, in sentence order then annotator order.

    Args:
        session: open session.
        project: the project.
        include_drafts: also annotations not yet marked done (but touched).
        include_unclear: also sentences a person flagged as unclear (left out by default: a guess is
            worse than no label for training).

    Returns:
        ``[(task, map)]``; a map's ``source`` is the sentence's source, ``meta["labeler"]`` the
        annotator, ``meta["project"]`` the project, and a ``no_claim`` sentence has no edges.
    """
    statuses = ("done", "draft") if include_drafts else ("done",)
    rows = session.execute(
        select(Task, ProjectSentence, Annotator)
        .join(ProjectSentence, Task.sentence_id == ProjectSentence.id)
        .join(Annotator, Task.annotator_id == Annotator.id)
        .where(ProjectSentence.project_id == project.id, Task.status.in_(statuses))
        .order_by(ProjectSentence.position, Task.updated, Annotator.id)
    ).all()
    out = []
    for task, sentence, annotator in rows:
        doc = load_doc(task)
        if doc.flag == "unclear" and not include_unclear:
            continue
        meta = {**sentence.meta, "labeler": annotator.name, "project": project.name}
        out.append((task, doc.causal_map(sentence.text, sentence.source, meta)))
    return out


def export_maps(session: Session, project: Project, per_sentence: str = "one", **kwargs: Any) -> list[CausalMap]:
    """The maps to export.

    Args:
        per_sentence: ``one`` keeps, per sentence, the finished annotation last saved earliest (a training file
            must not hold one sentence twice with different labels); ``all`` keeps everyone's (a MATCH
            judging study compares labelers of the same sentence).
        **kwargs: ``include_drafts`` / ``include_unclear`` of :func:`annotated_maps`.

    Raises:
        ValueError: unknown ``per_sentence``.
    """
    if per_sentence not in PER_SENTENCE:
        raise ValueError(f"--per-sentence must be one of {', '.join(PER_SENTENCE)}, got {per_sentence!r}")
    maps = annotated_maps(session, project, **kwargs)
    if per_sentence == "all":
        return [m for _, m in maps]
    seen: set[int] = set()
    out = []
    for task, cmap in maps:
        if task.sentence_id not in seen:
            seen.add(task.sentence_id)
            out.append(cmap)
    return out


def export_project(
    session: Session, project: Project, path: str | os.PathLike, fmt: str | None = None, **kwargs: Any
) -> int:
    """Write :func:`export_maps` to ``path`` (.jsonl fcmatch, .csv causal claims, .json MATCH); return the count.

    In a CSV, text that a spreadsheet would run as a formula (``=...``, ``+...``, ``-...``, ``@...``)
    gets a leading ``'`` (:func:`fcmatch.store.csv_cells.safe_cell`); the other formats keep it as typed.
    """
    maps = export_maps(session, project, **kwargs)
    if (fmt or Path(path).suffix.lower().lstrip(".")) == "csv":
        maps = [_spreadsheet_safe(m) for m in maps]
    write_maps(maps, path, fmt)
    return len(maps)


def _spreadsheet_safe(cmap: CausalMap) -> CausalMap:
    edges = [Edge(safe_cell(e.cause), safe_cell(e.effect), e.sign) for e in cmap.edges]
    return CausalMap(safe_cell(cmap.text), edges, safe_cell(cmap.source), cmap.meta)


def project_agreement(session: Session, project: Project, matcher: str = "exact", worst: int = 10) -> dict[str, Any]:
    """:func:`fcmatch.annotate.agreement.agreement_report` over the sentences several people finished."""
    groups: dict[int, dict[str, CausalMap]] = defaultdict(dict)
    for task, cmap in annotated_maps(session, project, include_unclear=True):
        groups[task.sentence_id][cmap.meta["labeler"]] = cmap
    return agreement_report({k: v for k, v in groups.items() if len(v) >= 2}, matcher, worst=worst)


def suggestion_report(session: Session, project: Project) -> dict[str, dict[str, float]]:
    """Accepted / edited / rejected rates of suggested edges, per model (see :mod:`fcmatch.annotate.suggestions`)."""
    rows = session.execute(
        select(SuggestionOutcome.model, SuggestionOutcome.outcome)
        .join(Task, SuggestionOutcome.task_id == Task.id)
        .join(Annotator, Task.annotator_id == Annotator.id)
        .where(Annotator.project_id == project.id)
    ).all()
    return outcome_rates((m, o) for m, o in rows)


def project_progress(session: Session, project: Project) -> dict[str, Any]:
    """``{"sentences", "assigned", "finished_sentences", "annotators": [{"name", "done", "draft", "new", "total"}]}``."""
    people = []
    for annotator in project.annotators:
        people.append({"name": annotator.name, **progress(annotator.tasks)})
    tasks = [t for a in project.annotators for t in a.tasks]
    return {
        "sentences": len(project.sentences),
        "assigned": len({t.sentence_id for t in tasks}),
        "finished_sentences": len({t.sentence_id for t in tasks if t.status == "done"}),
        "annotators": people,
    }
