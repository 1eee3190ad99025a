"""An annotation project in the database: create it from sentences, invite annotators, assign
sentences with overlap, import model predictions and order the remaining work.

Every function takes an open SQLAlchemy session (``with factory.begin() as session``) and leaves the
commit to its caller, so one web request or one CLI command is one transaction.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fcmatch.annotate.assignment import plan_assignments
from fcmatch.annotate.ordering import ORDERINGS, priorities
from fcmatch.annotate.sentences import SentenceRecord
from fcmatch.data.causal_map import CausalMap, clean_concept
from fcmatch.store.annotation_tables import Annotator, Prediction, Project, ProjectSentence, Task
from fcmatch.store.tokens import hash_token, new_token

MAX_NAME_CHARS = 200


def create_project(
    session: Session,
    name: str,
    sentences: Sequence[SentenceRecord],
    overlap: float = 0.2,
    redundancy: int = 2,
    seed: int = 0,
    instructions: str = "",
) -> Project:
    """Store a new project and its sentences (in the given order).

    Args:
        session: open session.
        name: unique project name.
        sentences: from :func:`fcmatch.annotate.sentences.read_sentences`.
        overlap: share of sentences done by ``redundancy`` people, in [0, 1].
        redundancy: people per overlapping sentence (>= 2 when ``overlap`` > 0).
        seed: seeds the assignment.
        instructions: shown to annotators above the editor.

    Raises:
        ValueError: empty or taken name, no sentences, bad ``overlap``/``redundancy``.
    """
    name = clean_concept(name)
    if not name or len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a project needs a name of 1 to {MAX_NAME_CHARS} characters")
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise ValueError(f"a project named {name!r} exists already; choose another --name")
    if not sentences:
        raise ValueError("a project needs at least one sentence")
    if not 0 <= seed <= 2**31 - 1 or not 1 <= redundancy <= 100:  # 32-bit columns on PostgreSQL
        raise ValueError(f"--seed must lie in 0..{2**31 - 1} and --redundancy in 1..100")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"--overlap must lie in [0, 1], got {overlap}")
    if overlap > 0 and redundancy < 2:
        raise ValueError(f"--redundancy must be at least 2 when --overlap > 0, got {redundancy}")
    project = Project(name=name, overlap=overlap, redundancy=redundancy, seed=seed, instructions=instructions)
    for position, record in enumerate(sentences):
        project.sentences.append(
            ProjectSentence(
                position=position, text=record.text, source=record.source, meta_json=json.dumps(record.meta)
            )
        )
    session.add(project)
    session.flush()
    return project


def get_project(session: Session, name: str) -> Project:
    """The project called ``name`` (or, failing that, whose id is ``name``).

    Raises:
        ValueError: no such project; the message lists the existing ones.
    """
    project = session.scalar(select(Project).where(Project.name == clean_concept(name)))
    if project is None and name.strip().isdigit():
        project = session.get(Project, int(name))
    if project is None:
        names = session.scalars(select(Project.name).order_by(Project.id)).all()
        raise ValueError(f"no project named {name!r}; projects: {', '.join(names) or '(none)'}")
    return project


def invite(session: Session, project: Project, names: Iterable[str]) -> list[tuple[str, str]]:
    """Add annotators, each with a fresh secret token (only its hash is stored).

    Returns:
        ``[(name, token)]``; the link is ``<base url>/annotate/a/<token>``. Show it once: it cannot be
        recovered later, only replaced with :func:`reissue_link`.

    Raises:
        ValueError: an empty, too long or already used name.
    """
    taken = {a.name for a in project.annotators}
    out = []
    for raw in names:
        name = clean_concept(raw)
        if not name or len(name) > MAX_NAME_CHARS:
            raise ValueError(f"an annotator needs a name of 1 to {MAX_NAME_CHARS} characters, got {raw!r}")
        if name in taken:
            raise ValueError(f"project {project.name!r} already has an annotator named {name!r}")
        token = new_token()
        project.annotators.append(Annotator(name=name, token_hash=hash_token(token)))
        taken.add(name)
        out.append((name, token))
    session.flush()
    return out


def reissue_link(session: Session, project: Project, name: str) -> str:
    """Replace an annotator's token (a lost or leaked link); their work stays. Returns the new token.

    Raises:
        ValueError: no annotator of that name in the project.
    """
    annotator = _annotator_named(project, name)
    token = new_token()
    annotator.token_hash = hash_token(token)
    annotator.revoked = False
    session.flush()
    return token


def revoke_link(session: Session, project: Project, name: str) -> None:
    """Make an annotator's link open nothing (a leaked link); their work stays. :func:`reissue_link` undoes it.

    Raises:
        ValueError: no annotator of that name in the project.
    """
    annotator = _annotator_named(project, name)
    annotator.token_hash = hash_token(new_token())  # nobody holds this token: the old link is dead
    annotator.revoked = True
    session.flush()


def _annotator_named(project: Project, name: str) -> Annotator:
    annotator = next((a for a in project.annotators if a.name == clean_concept(name)), None)
    if annotator is None:
        raise ValueError(f"project {project.name!r} has no annotator named {name!r}")
    return annotator


def annotator_for_token(session: Session, token: str) -> Annotator | None:
    """The annotator whose secret link carries ``token``, or None."""
    if not token or len(token) > 200:
        return None
    return session.scalar(select(Annotator).where(Annotator.token_hash == hash_token(token), Annotator.revoked.is_(False)))


def assign(session: Session, project: Project) -> dict[str, int]:
    """Assign every sentence nobody has yet, with the project's overlap, to the current annotators.

    Run it again after adding sentences or people: assigned sentences stay where they are and the new
    work goes to whoever has least.

    Returns:
        ``{annotator name: sentences newly assigned}``.

    Raises:
        ValueError: no annotators, or fewer than the project's redundancy (see
            :func:`fcmatch.annotate.assignment.plan_assignments`).
    """
    assigned = set(
        session.scalars(select(Task.sentence_id).join(ProjectSentence).where(ProjectSentence.project_id == project.id))
    )
    todo = [s.id for s in project.sentences if s.id not in assigned]
    load = dict(
        session.execute(
            select(Task.annotator_id, func.count())
            .join(Annotator)
            .where(Annotator.project_id == project.id)
            .group_by(Task.annotator_id)
        ).all()
    )
    people = {a.id: a for a in project.annotators}
    plan = plan_assignments(todo, list(people), project.overlap, project.redundancy, project.seed, load)
    for annotator_id, sentence_ids in plan.items():
        for sentence_id in sentence_ids:
            session.add(Task(annotator_id=annotator_id, sentence_id=sentence_id))
    session.flush()
    return {people[a].name: len(s) for a, s in plan.items()}


def import_predictions(
    session: Session, project: Project, maps: Iterable[CausalMap], model: str | None = None
) -> dict[str, Any]:
    """Store model predictions (``fcmatch extract`` output) as suggestions for the project's sentences.

    A prediction is matched to a sentence by its whitespace-cleaned text; a second import of the same
    model replaces its earlier predictions. The first model imported pre-fills the editor.

    Args:
        session: open session.
        project: the project.
        maps: predicted maps; the model name comes from ``meta["model"]``.
        model: name to use when a map has no ``meta["model"]`` (and to override it).

    Returns:
        ``{"models": {name: predictions stored}, "unmatched": predictions whose sentence is not in the project}``.

    Raises:
        ValueError: no prediction at all (an empty file), or a prediction without a model name and no
            ``model`` given.
    """
    maps = list(maps)
    if not maps:
        raise ValueError("no predictions to import (the file is empty); expected fcmatch extract output (.jsonl)")
    by_text = {s.text: s for s in project.sentences}
    existing = {
        (p.sentence_id, p.model): p
        for p in session.scalars(
            select(Prediction).join(ProjectSentence).where(ProjectSentence.project_id == project.id)
        )
    }
    stored: Counter[str] = Counter()
    unmatched = 0
    for number, cmap in enumerate(maps, start=1):
        name = clean_concept(model or str(cmap.meta.get("model") or ""))[:MAX_NAME_CHARS]
        if not name:
            raise ValueError(f"prediction {number} has no meta.model; name the model with --model")
        sentence = by_text.get(clean_concept(cmap.text))
        if sentence is None:
            unmatched += 1
            continue
        meta = {k: v for k, v in cmap.meta.items() if k in ("uncertainty", "mean_logprob", "confidence", "problems")}
        row = existing.get((sentence.id, name))
        if row is None:
            row = Prediction(sentence_id=sentence.id, model=name)
            session.add(row)
            existing[(sentence.id, name)] = row
        row.set_edges(cmap.edges)
        row.meta_json = json.dumps(meta)
        stored[name] += 1
    if stored and not project.suggest_model:
        project.suggest_model = next(iter(stored))
    session.flush()
    if project.ordering != "input" and stored:
        set_ordering(session, project, project.ordering)
    return {"models": dict(stored), "unmatched": unmatched}


def set_ordering(session: Session, project: Project, by: str, matcher: str = "exact") -> int:
    """Order the project's sentences by ``by`` (``input``, ``uncertainty`` or ``disagreement``).

    Returns:
        How many sentences got a priority from model predictions.

    Raises:
        ValueError: unknown ordering, or ``disagreement`` without two models' predictions.
    """
    if by not in ORDERINGS:
        raise ValueError(f"--order must be one of {', '.join(ORDERINGS)}, got {by!r}")
    preds = {s.id: [p.causal_map() for p in s.predictions] for s in project.sentences if s.predictions}
    scores = priorities(preds, by, matcher)
    # unscored sentences sort after every scored one: no evidence that they are hard
    floor = min(scores.values(), default=0.0) - 1.0 if by != "input" else 0.0
    for sentence in project.sentences:
        sentence.priority = scores.get(sentence.id, floor)
    project.ordering = by
    session.flush()
    return len(scores) if by != "input" else 0
