"""Reading a judging study back out: its verdicts as :class:`~fcmatch.judge.judgements.Comparison`,
as fcmatch comparison JSONL (``fcmatch study export``, the admin's download) and the counts that
study listings show.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fcmatch.data.formats import atomic_write
from fcmatch.judge.judgements import Comparison, item_id
from fcmatch.store.study_tables import Assignment, Item, Judge, Study, Verdict


def item_key(item: Item) -> str:
    """Export id of an item: ``"<sentence position>/<labeler>"`` (fcmatch.judge.judgements.item_id)."""
    return item_id(item.sentence.position, item.labeler)


def study_comparisons(session: Session, study: Study) -> list[tuple[Comparison, Assignment, Verdict]]:
    """Every verdict of a study as a :class:`Comparison` (a = left item), oldest first."""
    rows = session.execute(
        select(Assignment, Verdict, Judge)
        .join(Verdict, Verdict.assignment_id == Assignment.id)
        .join(Judge, Judge.id == Assignment.judge_id)
        .where(Judge.study_id == study.id)
        .order_by(Verdict.created, Verdict.id)
    ).all()
    out = []
    for assignment, verdict, judge in rows:
        # SQLite hands back naive datetimes; every stored time is UTC
        time = verdict.created.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        comp = Comparison(judge.name, item_key(assignment.item_a), item_key(assignment.item_b), verdict.verdict, time)
        out.append((comp, assignment, verdict))
    return out


def export_records(session: Session, study: Study) -> list[dict[str, Any]]:
    """Verdicts in fcmatch's comparison JSONL format, plus ``kind`` (new/common/repeat) and ``comment``."""
    return [
        {**comp.to_dict(), "kind": assignment.kind, "comment": verdict.comment}
        for comp, assignment, verdict in study_comparisons(session, study)
    ]


def export_study(session: Session, study: Study, path: str | os.PathLike) -> int:
    """Write a study's verdicts as comparison JSONL (atomically); returns how many were written."""
    records = export_records(session, study)
    with atomic_write(path) as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)


def study_summary(session: Session, study: Study) -> dict[str, Any]:
    """Counts for listings: sentences, items, judges, verdicts."""
    verdicts = session.scalar(
        select(func.count(Verdict.id))
        .join(Assignment, Assignment.id == Verdict.assignment_id)
        .join(Judge, Judge.id == Assignment.judge_id)
        .where(Judge.study_id == study.id)
    )
    return {
        "id": study.id,
        "name": study.name,
        "pairing": study.pairing,
        "per_judge": study.per_judge,
        "sentences": len(study.sentences),
        "items": sum(len(s.items) for s in study.sentences),
        "judges": len(study.judges),
        "verdicts": int(verdicts or 0),
    }
