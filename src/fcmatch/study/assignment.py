"""A judge's sequence of pairs, handed out one at a time, and the recording of their verdicts.

Each judge has a fixed, seeded *schedule* of ``per_judge`` slots: ``common`` slots (the study's shared
pairs, for inter-rater reliability), ``repeat`` slots (a pair the judge already judged, sides swapped,
for intra-rater reliability; only in the second half, so there is something to repeat) and ``new``
slots. A slot becomes an :class:`Assignment` only when the judge reaches it, so ``adaptive`` pairing
sees every verdict given before. The pairing strategies themselves are :data:`fcmatch.judge.pairing.PAIRING`;
this module only picks which sentence a new pair comes from (random: in proportion to the judge's
open pairs there, which is uniform over all open pairs; adaptive: the least-judged sentence).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fcmatch.judge.judgements import Comparison
from fcmatch.judge.pairing import PAIRING
from fcmatch.store.study_tables import VERDICTS, Assignment, Item, Judge, Sentence, Verdict
from fcmatch.study.verdicts import analysed_verdict

MAX_COMMENT = 2000  # characters kept of a judge's comment


class NotAssigned(LookupError):
    """The assignment does not exist or belongs to another judge."""


class AlreadyAnswered(ValueError):
    """The assignment already has a different verdict (the first one stands); ``stored`` is that verdict."""

    def __init__(self, assignment_id: int, stored: str):
        super().__init__(f"assignment {assignment_id} already has verdict {stored!r}")
        self.stored = stored


@dataclass
class Progress:
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@functools.lru_cache(maxsize=1024)
def schedule(per_judge: int, n_common: int, n_repeats: int, seed: int, judge_id: int) -> tuple[str, ...]:
    """The kind of each of a judge's slots (``new``/``common``/``repeat``), seeded by study seed and judge."""
    rng = np.random.default_rng([seed, judge_id])
    half = per_judge // 2
    repeats = set(rng.choice(np.arange(half, per_judge), size=min(n_repeats, per_judge - half), replace=False).tolist())
    rest = ["common"] * n_common + ["new"] * (per_judge - n_common - len(repeats))
    rng.shuffle(rest)
    it = iter(rest)
    return tuple("repeat" if k in repeats else next(it) for k in range(per_judge))


def progress(session: Session, judge: Judge) -> Progress:
    """Verdicts given and slots in total (a judge may finish early when no pair is left to show)."""
    done = session.scalar(
        select(func.count(Verdict.id)).join(Assignment, Assignment.id == Verdict.assignment_id)
        .where(Assignment.judge_id == judge.id)
    )
    assigned = session.scalar(select(func.count(Assignment.id)).where(Assignment.judge_id == judge.id))
    total = judge.study.per_judge
    if judge.finished_early:
        total = assigned
    return Progress(int(done or 0), int(total))


@dataclass(frozen=True)
class _Slot:
    """A judge's assignment as plain values: loading ORM objects for ~100 rows per request was most of its CPU."""

    id: int
    item_a_id: int
    item_b_id: int
    kind: str
    verdict: str | None

    @property
    def answered(self) -> bool:
        return self.verdict is not None


def _judge_pairs(session: Session, judge: Judge) -> list[_Slot]:
    rows = session.execute(
        select(Assignment.id, Assignment.item_a_id, Assignment.item_b_id, Assignment.kind, Verdict.verdict)
        .outerjoin(Verdict, Verdict.assignment_id == Assignment.id)
        .where(Assignment.judge_id == judge.id)
        .order_by(Assignment.position)
    ).all()
    return [_Slot(a, ia, ib, kind, v) for a, ia, ib, kind, v in rows]


def _sentence_comparisons(session: Session, sentence_id: int) -> list[Comparison]:
    rows = session.execute(
        select(Assignment.item_a_id, Assignment.item_b_id, Verdict.verdict, Assignment.judge_id)
        .join(Verdict, Verdict.assignment_id == Assignment.id)
        .join(Item, Item.id == Assignment.item_a_id)
        .where(Item.sentence_id == sentence_id)
    ).all()
    # "both bad" counts as a tie, a skip as no verdict (fcmatch.study.verdicts)
    return [Comparison(str(j), str(a), str(b), analysed_verdict(v)) for a, b, v, j in rows if analysed_verdict(v)]


def _new_pair(session: Session, judge: Judge, mine: list[_Slot], rng: np.random.Generator) -> tuple[int, int] | None:
    study = judge.study
    seen = {frozenset((a.item_a_id, a.item_b_id)) for a in mine}
    # the judge's common pairs still to come are not "new": reserve them as if judged
    reserved = {frozenset(p) for p in study.common()} - seen
    blocked = seen | reserved
    rows = session.execute(
        select(Item.id, Item.sentence_id).join(Sentence, Sentence.id == Item.sentence_id)
        .where(Sentence.study_id == study.id).order_by(Sentence.position, Item.id)
    ).all()
    members: dict[int, list[int]] = {}
    for item, sentence_id in rows:
        members.setdefault(sentence_id, []).append(item)
    sentence_of_item = {item: sentence_id for item, sentence_id in rows}
    sentences = list(members)
    open_counts = np.array([math.comb(len(members[s]), 2) for s in sentences], dtype=float)
    index = {s: k for k, s in enumerate(sentences)}
    for pair in blocked:
        open_counts[index[sentence_of_item[next(iter(pair))]]] -= 1
    if open_counts.sum() <= 0:
        return None
    if study.pairing == "adaptive":
        judged = np.array(
            [len(_sentence_comparisons(session, s)) if c > 0 else np.inf for s, c in zip(sentences, open_counts, strict=True)]
        )
        least = np.flatnonzero(judged == judged.min())
        chosen = sentences[int(rng.choice(least))]
    else:
        chosen = sentences[int(rng.choice(len(sentences), p=open_counts / open_counts.sum()))]
    items = [str(i) for i in members[chosen]]
    me = f"judge-{judge.id}"
    comparisons = [
        Comparison(me if c.judge == str(judge.id) else c.judge, c.a, c.b, c.verdict)
        for c in _sentence_comparisons(session, chosen)
    ]
    # pairs shown but not yet answered and reserved common pairs: count as judged by this judge
    answered = {c.pair() for c in comparisons if c.judge == me}
    for pair in blocked:
        a, b = sorted(pair)
        if {str(a), str(b)} <= set(items) and frozenset((str(a), str(b))) not in answered:
            comparisons.append(Comparison(me, str(a), str(b), "tie"))
    pair = PAIRING[study.pairing](items, comparisons, me, rng)
    return (int(pair[0]), int(pair[1])) if pair else None


def current_assignment(session: Session, judge: Judge) -> Assignment | None:
    """The judge's unanswered assignment, creating the next one from the schedule if needed.

    Args:
        session: a session inside a transaction (the caller commits; on SQLite that transaction holds
            the write lock, so two requests of one judge cannot both create slot ``k``).
        judge: the judge.

    Returns:
        The assignment to show, or None when the judge is finished.
    """
    return next_pair(session, judge)[0]


def next_pair(session: Session, judge: Judge) -> tuple[Assignment | None, Progress]:
    """:func:`current_assignment` and :func:`progress` from one read of the judge's assignments."""
    mine = _judge_pairs(session, judge)
    done = sum(a.answered for a in mine)
    assignment = _current(session, judge, mine)
    assigned = len(mine) + int(assignment is not None and assignment.id not in {a.id for a in mine})
    total = assigned if judge.finished_early else judge.study.per_judge
    return assignment, Progress(done, total)


def _current(session: Session, judge: Judge, mine: list[_Slot]) -> Assignment | None:
    open_ = [a for a in mine if not a.answered]
    if open_:
        return session.get(Assignment, open_[0].id)
    study = judge.study
    position = len(mine)
    if position >= study.per_judge or judge.finished_early:
        return None
    kind = schedule(study.per_judge, min(study.n_common, len(study.common())), study.n_repeats, study.seed, judge.id)[position]
    rng = np.random.default_rng([study.seed, judge.id, position])
    pair: tuple[int, int] | None = None
    if kind == "common":
        done = {frozenset((a.item_a_id, a.item_b_id)) for a in mine}
        todo = [p for p in study.common() if frozenset(p) not in done]
        pair = todo[0] if todo else None
        if pair and rng.random() < 0.5:
            pair = (pair[1], pair[0])
    elif kind == "repeat":
        repeated = {frozenset((a.item_a_id, a.item_b_id)) for a in mine if a.kind == "repeat"}
        # a skipped pair is not repeated: there is no verdict to be consistent with
        pool = [a for a in mine if a.kind != "repeat" and a.verdict != "skip"
                and frozenset((a.item_a_id, a.item_b_id)) not in repeated]
        if pool:
            first = pool[int(rng.integers(len(pool)))]
            pair = (first.item_b_id, first.item_a_id)  # sides swapped: a left/right habit shows up as disagreement
    if pair is None:
        kind = "new"
        pair = _new_pair(session, judge, mine, rng)
    if pair is None:
        judge.finished_early = True
        return None
    assignment = Assignment(judge_id=judge.id, position=position, kind=kind, item_a_id=pair[0], item_b_id=pair[1])
    try:
        with session.begin_nested():
            session.add(assignment)
    except IntegrityError:  # another request of this judge made slot ``position`` first (PostgreSQL)
        return current_assignment(session, judge)
    return assignment


def undo_last_verdict(session: Session, judge: Judge) -> Assignment | None:
    """Take back the judge's most recent verdict: its pair is shown again, as the judge's next one.

    Returns:
        The assignment that is open again, or None when the judge has given no verdict.
    """
    row = session.execute(
        select(Verdict, Assignment).join(Assignment, Assignment.id == Verdict.assignment_id)
        .where(Assignment.judge_id == judge.id).order_by(Verdict.created.desc(), Verdict.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    verdict, assignment = row
    session.delete(verdict)
    session.flush()
    session.expire(assignment)
    return assignment


def record_verdict(
    session: Session, judge: Judge, assignment_id: int, verdict: str, comment: str = "", flagged: bool = False
) -> Verdict:
    """Store a verdict for one of the judge's assignments; resubmitting the same verdict is a no-op.

    Args:
        session: a session inside a transaction (the caller commits before answering the request).
        judge: the judge submitting.
        assignment_id: which of their assignments.
        verdict: ``A``, ``B``, ``tie``, ``both_bad`` or ``skip`` (:mod:`fcmatch.study.verdicts`).
        comment: optional free text (cut to 2,000 characters).
        flagged: the judge flags the pair for the researcher.

    Returns:
        The stored verdict (the earlier one for a duplicate submission).

    Raises:
        ValueError: unknown verdict. NotAssigned: the assignment is not this judge's.
        AlreadyAnswered: it already has a different verdict.
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    assignment = session.get(Assignment, assignment_id)
    if assignment is None or assignment.judge_id != judge.id:
        raise NotAssigned(f"assignment {assignment_id} is not assigned to this judge")
    if assignment.verdict is not None:
        if assignment.verdict.verdict != verdict:
            raise AlreadyAnswered(assignment_id, assignment.verdict.verdict)
        return assignment.verdict
    stored = Verdict(assignment_id=assignment.id, verdict=verdict, comment=(comment or "").strip()[:MAX_COMMENT],
                     flagged=bool(flagged))
    try:
        with session.begin_nested():
            session.add(stored)
    except IntegrityError:  # the same form posted twice at once: the unique assignment_id kept one
        session.expire(assignment)
        return record_verdict(session, judge, assignment_id, verdict, comment, flagged)
    return stored
