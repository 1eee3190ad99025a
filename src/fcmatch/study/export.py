"""Reading a judging study back out: its verdicts as :class:`~fcmatch.judge.judgements.Comparison`,
the whole study as :class:`~fcmatch.judge.judgements.JudgementData` (what ``fcmatch align --study``
and ``fcmatch judge report --study`` read), the exports of ``fcmatch study export`` and the admin's
downloads, and the counts that study listings show.

Exports, chosen by the output's name (:func:`export_study`):

- ``.jsonl``: fcmatch comparison JSONL (:func:`fcmatch.judge.judgements.read_comparisons`), plus
  ``kind`` (new/common/repeat), ``choice`` (the judge's own answer), ``flagged`` and ``comment`` per
  verdict; skipped pairs are left out and "both bad" is a ``tie`` (:mod:`fcmatch.study.verdicts`);
- ``.csv``: the same rows for a spreadsheet, plus the skipped pairs (empty ``verdict``, ``choice``
  ``skip``), cells that a spreadsheet would run as a formula defused;
- a folder (no extension): the MATCH layout, ``annotations/<labeler>.json``, ``judgements/<judge>.json``
  (every analysed verdict, "both bad" written as MATCH's ``Tie``) and ``reliability/<judge>.json``
  (the common pairs), readable by
  ``fcmatch align --data`` and ``fcmatch judge report`` exactly as :func:`study_judgements` reads the
  database.

Item ids are ``"<sentence id>/<labeler>"`` with the sentence id of the source the study was made from
(MATCH's sentence numbers), so verdicts line up with the original files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import atomic_write, write_match_json
from fcmatch.judge.judgements import Comparison, JudgementData, item_id, sentence_of
from fcmatch.judge.judgements import Item as JudgedItem
from fcmatch.store import open_sessions
from fcmatch.store.csv_cells import safe_row
from fcmatch.store.study_tables import Assignment, Item, Judge, Sentence, Study, Verdict
from fcmatch.study.verdicts import analysed_verdict

CSV_COLUMNS = ("judge", "a", "b", "verdict", "time", "kind", "choice", "flagged", "comment")
MATCH_FOLDERS = ("annotations", "judgements", "reliability")


def item_key(item: Item) -> str:
    """Export id of an item: ``"<sentence id>/<labeler>"`` (fcmatch.judge.judgements.item_id)."""
    return item_id(item.sentence.key, item.labeler)


@dataclass(frozen=True)
class VerdictRow:
    """One stored verdict as given (skips and "both bad" included): what exports and the results page list."""

    judge: str
    a: str
    b: str
    choice: str  # the judge's own answer, one of fcmatch.store.study_tables.VERDICTS
    time: str
    assignment: Assignment
    verdict: Verdict

    def comparison(self) -> Comparison | None:
        """The verdict as the analyses see it (fcmatch.study.verdicts), None for a skip."""
        verdict = analysed_verdict(self.choice)
        return None if verdict is None else Comparison(self.judge, self.a, self.b, verdict, self.time)


def study_verdicts(session: Session, study: Study) -> list[VerdictRow]:
    """Every verdict of a study as given (a = left item), oldest first."""
    rows = session.execute(
        select(Assignment, Verdict, Judge)
        .join(Verdict, Verdict.assignment_id == Assignment.id)
        .join(Judge, Judge.id == Assignment.judge_id)
        .where(Judge.study_id == study.id)
        .order_by(Verdict.created, Verdict.id)
    ).all()
    out = []
    for assignment, verdict, judge in rows:
        # SQLite hands back naive datetimes, PostgreSQL aware ones in the session's zone; all are UTC instants
        created = verdict.created.astimezone(timezone.utc) if verdict.created.tzinfo else verdict.created
        time = created.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
        out.append(VerdictRow(judge.name, item_key(assignment.item_a), item_key(assignment.item_b), verdict.verdict,
                              time, assignment, verdict))
    return out


def study_comparisons(session: Session, study: Study) -> list[tuple[Comparison, Assignment, Verdict]]:
    """Every analysed verdict of a study as a :class:`Comparison` (a = left item), oldest first.

    Skips are left out and "both bad" is a tie (:mod:`fcmatch.study.verdicts`).
    """
    out = []
    for row in study_verdicts(session, study):
        comp = row.comparison()
        if comp is not None:
            out.append((comp, row.assignment, row.verdict))
    return out


def file_stems(names: list[str]) -> dict[str, str]:
    """A distinct, file-safe stem per name (``"Dr. Ann/2"`` -> ``"Dr._Ann_2"``), for the MATCH files."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        base = re.sub(r"[^\w.-]+", "_", name).strip("._") or "unnamed"
        stem, k = base, 2
        while stem.lower() in used:  # case-insensitive: the folder may be copied to such a file system
            stem, k = f"{base}-{k}", k + 1
        used.add(stem.lower())
        out[name] = stem
    return out


def _file_order(stem: str) -> list[Any]:
    # the order read_match_study reads judge files in: judge10 after judge9, not after judge1
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", stem)]


def study_judgements(session: Session, study: Study) -> JudgementData:
    """The study as :func:`fcmatch.judge.judgements.read_match_study` returns a MATCH folder.

    Identical, up to verdict times and judge names made file-safe, to reading back the folder that
    :func:`write_match_folder` writes: ``judgements`` are every verdict, judge by judge in the order of
    their file names and each judge's oldest first; ``reliability`` the verdicts on the common pairs
    in that order; the items are every labeler's map of each sentence with at least one verdict.
    ``problems`` holds the study's notes (what the readers skipped when it was made).
    """
    rows = study_comparisons(session, study)
    stems = file_stems([j.name for j in study.judges])
    by_judge: dict[str, list[tuple[Comparison, Assignment]]] = {}
    for comp, assignment, _ in rows:
        by_judge.setdefault(comp.judge, []).append((comp, assignment))
    ordered = [row for name in sorted(by_judge, key=lambda n: _file_order(stems[n])) for row in by_judge[name]]
    judgements = [c for c, _ in ordered]
    reliability = [c for c, assignment in ordered if assignment.kind == "common"]
    judged = {sentence_of(c.a) for c in judgements}
    items: dict[str, JudgedItem] = {}
    sentences: dict[str, str] = {}
    for sentence in study.sentences:
        if sentence.key not in judged:
            continue
        sentences[sentence.key] = sentence.text
        for item in sentence.items:
            iid = item_id(sentence.key, item.labeler)
            cmap = CausalMap(sentence.text, item.edges(), item.labeler, {"labeler": item.labeler, "problems": []})
            items[iid] = JudgedItem(iid, sentence.key, item.labeler, cmap)
    return JudgementData(items, sentences, judgements, reliability, study.notes())


def load_study(db_url: str, study_id: int) -> JudgementData:
    """:func:`study_judgements` of study ``study_id`` in the database at ``db_url``.

    Raises:
        ValueError: no such study, or one without verdicts (nothing to align or report).
    """
    from fcmatch.study.create import get_study

    sessions = open_sessions(db_url)
    try:
        with sessions() as session:
            data = study_judgements(session, get_study(session, study_id))
    finally:
        sessions.kw["bind"].dispose()
    if not data.judgements:
        raise ValueError(f"study {study_id} has no verdicts yet")
    return data


def export_records(session: Session, study: Study, skipped: bool = False) -> list[dict[str, Any]]:
    """Verdicts in fcmatch's comparison JSONL format, plus ``kind`` (new/common/repeat), ``choice`` (the
    judge's own answer: ``both_bad`` where ``verdict`` says ``tie``), ``flagged`` and ``comment``.

    Args:
        skipped: also the skipped pairs, with ``verdict`` None (for the CSV; comparison JSONL readers
            refuse a line without a verdict, so the JSONL leaves skips out).
    """
    out = []
    for row in study_verdicts(session, study):
        comp = row.comparison()
        if comp is None and not skipped:
            continue
        record = comp.to_dict() if comp else {"judge": row.judge, "a": row.a, "b": row.b, "verdict": None,
                                              "time": row.time}
        out.append({**record, "kind": row.assignment.kind, "choice": row.choice, "flagged": row.verdict.flagged,
                    "comment": row.verdict.comment})
    return out


def records_jsonl(records: list[dict[str, Any]]) -> str:
    """Export records as JSONL text."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def records_csv(records: list[dict[str, Any]]) -> str:
    """Export records as CSV text (columns :data:`CSV_COLUMNS`), formula-like cells defused."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(safe_row([record.get(c) if record.get(c) is not None else "" for c in CSV_COLUMNS]))
    return out.getvalue()


def write_match_folder(session: Session, study: Study, folder: str | os.PathLike) -> int:
    """Write the study in the MATCH layout into ``folder`` (replaced whole if it is an earlier export).

    Returns:
        The number of verdicts written.

    Raises:
        ValueError: ``folder`` holds anything but an earlier export, or a labeler is called "Tie"
            (MATCH's spelling of a tie, so the file could not say who won).
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(p.name not in MATCH_FOLDERS for p in folder.iterdir())):
        raise ValueError(f"{folder}: exists and is not an earlier export; choose a new folder")
    data = study_judgements(session, study)
    labelers = sorted({it.labeler for it in data.items.values()})
    if any(name.strip().lower() == "tie" for name in labelers):
        raise ValueError("a labeler is called 'Tie', which MATCH files read as a tie; rename it before exporting")
    judge_stems = file_stems([j.name for j in study.judges])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for sub in ("annotations", "judgements"):
            (tmp / sub).mkdir()
        for labeler, stem in file_stems(labelers).items():
            maps = [it.map for it in data.items.values() if it.labeler == labeler]
            write_match_json(maps, tmp / "annotations" / f"{stem}.json", labeler)
        for sub, comparisons in (("judgements", data.judgements), ("reliability", data.reliability)):
            per_judge: dict[str, dict[str, list[Any]]] = {}
            for comp in comparisons:
                records = per_judge.setdefault(comp.judge, {})
                records[str(len(records))] = _match_record(data, comp)
            if per_judge:
                (tmp / sub).mkdir(exist_ok=True)
            for judge, records in per_judge.items():
                with atomic_write(tmp / sub / f"{judge_stems[judge]}.json") as handle:
                    json.dump(records, handle, ensure_ascii=False, indent=1)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(data.judgements)


def _match_record(data: JudgementData, comp: Comparison) -> list[Any]:
    a, b = data.items[comp.a], data.items[comp.b]
    number: int | str = int(a.sentence_id) if a.sentence_id.isdigit() else a.sentence_id
    winner = {"A": a.labeler, "B": b.labeler, "tie": "Tie"}[comp.verdict]
    return [data.sentences[a.sentence_id], [a.labeler, b.labeler], number, winner]


def export_format(path: str | os.PathLike) -> str:
    """``jsonl``, ``csv`` or ``match`` (a folder) from the output's name.

    Raises:
        ValueError: any other extension (e.g. ``.json``: one MATCH file cannot hold a study).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".csv"):
        return suffix[1:]
    if not suffix or path.is_dir() or str(path).endswith(os.sep):
        return "match"
    raise ValueError(
        f"{path}: cannot export to {suffix!r}; name a .jsonl file (comparisons), a .csv file (spreadsheet) "
        "or a folder without extension (the MATCH layout: annotations/, judgements/, reliability/)"
    )


def export_study(session: Session, study: Study, path: str | os.PathLike) -> int:
    """Write a study's verdicts to ``path`` in the format its name asks for (see the module docstring).

    Returns:
        How many verdicts were written.

    Raises:
        ValueError: an unknown extension (:func:`export_format`), or as :func:`write_match_folder`.
    """
    fmt = export_format(path)
    if fmt == "match":
        return write_match_folder(session, study, path)
    records = export_records(session, study, skipped=fmt == "csv")
    with atomic_write(path) as handle:
        handle.write(records_jsonl(records) if fmt == "jsonl" else records_csv(records))
    return len(records)


def study_summary(session: Session, study: Study) -> dict[str, Any]:
    """Counts for listings: sentences, maps, judges, verdicts (skips included), each one ``COUNT``
    query: loading a 100k-sentence study's rows to count them took seconds per listing."""
    verdicts = session.scalar(
        select(func.count(Verdict.id))
        .join(Assignment, Assignment.id == Verdict.assignment_id)
        .join(Judge, Judge.id == Assignment.judge_id)
        .where(Judge.study_id == study.id)
    )
    sentences = session.scalar(select(func.count(Sentence.id)).where(Sentence.study_id == study.id))
    maps = session.scalar(
        select(func.count(Item.id)).join(Sentence, Sentence.id == Item.sentence_id).where(Sentence.study_id == study.id)
    )
    judges = session.scalar(select(func.count(Judge.id)).where(Judge.study_id == study.id))
    return {
        "id": study.id,
        "name": study.name,
        "pairing": study.pairing,
        "per_judge": study.per_judge,
        "sentences": int(sentences or 0),
        "maps": int(maps or 0),
        "judges": int(judges or 0),
        "verdicts": int(verdicts or 0),
    }
