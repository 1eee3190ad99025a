"""Setting up a judging study: its settings, the labelers' causal maps it compares, the study
itself and the judges invited to it.

Used by both ``fcmatch study create|invite`` and the admin pages. Which pair a judge sees next is
:mod:`fcmatch.study.assignment`; reading the verdicts back out is :mod:`fcmatch.study.export`.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import read_maps
from fcmatch.judge.judgements import read_match_study
from fcmatch.judge.pairing import PAIRING
from fcmatch.store.inputs import read_named
from fcmatch.store.study_tables import Item, Judge, Sentence, Study
from fcmatch.store.tokens import hash_token, new_token

MAX_NAME = 200  # characters of a study, judge or labeler name (the columns' width)
MAX_SEED = 2**31 - 1  # the columns are 32-bit integers on PostgreSQL


@dataclass
class StudyConfig:
    """Settings of a study; every field is also a flag of ``fcmatch study create``."""

    name: str = "study"
    """Display name of the study."""
    per_judge: int = 40
    """Comparisons each judge is asked for (capped by the pairs available)."""
    pairing: str = "random"
    """How new pairs are chosen: ``random`` or ``adaptive`` (fcmatch.judge.pairing.PAIRING)."""
    n_repeats: int = 0
    """Pairs each judge sees a second time, sides swapped (intra-rater reliability); at most per_judge // 2."""
    n_common: int = 0
    """Pairs every judge sees (inter-rater reliability), drawn once per study."""
    hide_labelers: bool = True
    """Show "Map A"/"Map B" instead of labeler names on the judge page."""
    seed: int = 0
    """Seed of the common pairs and of every judge's schedule."""

    def validate(self) -> None:
        """Raises: ValueError naming the flag of a contradictory or out-of-range setting."""
        if self.pairing not in PAIRING:
            raise ValueError(f"--pairing must be one of {', '.join(PAIRING)}, got {self.pairing!r}")
        if self.per_judge < 1:
            raise ValueError(f"--per-judge must be at least 1, got {self.per_judge}")
        if self.n_repeats < 0 or self.n_common < 0:
            raise ValueError("--repeats and --common must be >= 0")
        if self.n_repeats > self.per_judge // 2:
            raise ValueError(f"--repeats ({self.n_repeats}) must be at most half of --per-judge ({self.per_judge})")
        if self.n_repeats + self.n_common > self.per_judge:
            raise ValueError(
                f"--repeats + --common ({self.n_repeats + self.n_common}) exceed --per-judge ({self.per_judge})"
            )
        if not self.name.strip() or len(self.name.strip()) > MAX_NAME:
            raise ValueError(f"--name must have 1 to {MAX_NAME} characters")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"--seed must lie in 0..{MAX_SEED}, got {self.seed}")
        if max(self.per_judge, self.n_repeats, self.n_common) > MAX_SEED:
            raise ValueError(f"--per-judge, --repeats and --common must be at most {MAX_SEED}")


def load_labelled_maps(paths: Iterable[str | os.PathLike]) -> list[CausalMap]:
    """Read causal maps from several labelers; each map's ``source`` becomes its labeler.

    Args:
        paths: files or folders. A folder with the MATCH layout (``annotations/`` and ``judgements/``)
            is read with :func:`fcmatch.judge.judgements.read_match_study`, which gives each sentence its
            MATCH sentence number; another folder contributes its ``*.json`` / ``*.jsonl`` files (or those
            of its ``annotations/`` subfolder). For a MATCH annotation file the labeler is the record's
            ``meta_data.labeler`` (else the file stem); for JSONL (``fcmatch extract`` output) the labeler
            is the file stem.

    Returns:
        The maps, labeler in ``source``; a sentence id, where the input has one, in
        ``meta["sentence_id"]``; what a reader skipped in ``meta["problems"]``.

    Raises:
        FileNotFoundError: a path does not exist. ValueError: no maps found, or a file that is not
            UTF-8 text (the message names it).
    """
    files: list[Path] = []
    maps: list[CausalMap] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and (path / "annotations").is_dir() and (path / "judgements").is_dir():
            maps += _match_study_maps(path)
        elif path.is_dir():
            folder = path / "annotations" if (path / "annotations").is_dir() else path
            files += sorted(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl"))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    for path in files:
        for cmap in read_named(path, read_maps):
            labeler = cmap.meta.get("labeler") if path.suffix == ".json" else None
            cmap.source = str(labeler or path.stem)
            sentence_id = cmap.meta.get("sentence_id", cmap.meta.get("id"))
            if sentence_id is not None and str(sentence_id).strip():
                cmap.meta["sentence_id"] = str(sentence_id).strip()
            maps.append(cmap)
    if not maps:
        raise ValueError(f"no causal maps in {[str(p) for p in paths]}")
    return maps


def _match_study_maps(folder: Path) -> list[CausalMap]:
    data = read_named(folder, read_match_study)
    maps = []
    for item in data.items.values():
        cmap = item.map
        cmap.source = item.labeler
        cmap.meta["sentence_id"] = item.sentence_id
        maps.append(cmap)
    return maps


def _sentence_ids(usable: dict[str, dict[str, CausalMap]]) -> tuple[list[str], list[str]]:
    """The source's sentence ids when every sentence has one, distinct; else positions. Also notes."""
    ids = []
    for per in usable.values():
        given = {m.meta["sentence_id"] for m in per.values() if m.meta.get("sentence_id")}
        ids.append(sorted(given)[0] if len(given) == 1 else None)
    if all(ids) and len(set(ids)) == len(ids) and all(len(i) <= MAX_NAME for i in ids):
        return [str(i) for i in ids], []
    positions = [str(k) for k in range(len(usable))]
    if any(ids):
        return positions, ["some sentences had no (or no single, distinct) sentence id; ids are study positions"]
    return positions, []


def create_study(session: Session, maps: Iterable[CausalMap], config: StudyConfig) -> Study:
    """Store a study: sentences with at least two labelers, their items, and the common pairs.

    Args:
        session: an open session (the caller commits).
        maps: causal maps with the labeler in ``source``; maps of one sentence share ``text``.
        config: the study settings (validated here).

    Returns:
        The new :class:`Study` (flushed, so it has an id). Its sentences keep the input's sentence ids
        (``meta["sentence_id"]``, e.g. MATCH sentence numbers) when every sentence has a distinct one,
        else their positions; what the readers skipped is in ``study.notes()``.

    Raises:
        ValueError: invalid settings, a labeler with two maps of one sentence, or fewer than one
            sentence with two labelers.
    """
    config.validate()
    by_text: dict[str, dict[str, CausalMap]] = {}
    notes: list[str] = []
    for cmap in maps:
        notes += [f"skipped: {p}" for p in cmap.meta.get("problems", [])]
        labeler = cmap.source or "unknown"
        if len(labeler) > MAX_NAME:
            raise ValueError(f"labeler name {labeler[:40]!r}... is longer than {MAX_NAME} characters")
        per = by_text.setdefault(cmap.text.strip(), {})
        if labeler in per:
            raise ValueError(f"labeler {labeler!r} has two maps of the sentence {cmap.text[:60]!r}")
        per[labeler] = cmap
    usable = {text: per for text, per in by_text.items() if len(per) >= 2}
    if not usable:
        raise ValueError("no sentence has maps from two labelers; a study needs something to compare")
    sentence_ids, id_notes = _sentence_ids(usable)
    dropped = len(by_text) - len(usable)
    if dropped:
        notes.append(f"{dropped} sentence(s) with a map from one labeler only are not compared")
    study = Study(
        name=config.name.strip(), pairing=config.pairing, per_judge=config.per_judge, n_repeats=config.n_repeats,
        n_common=config.n_common, hide_labelers=config.hide_labelers, seed=config.seed,
        notes_json=json.dumps(notes + id_notes, ensure_ascii=False),
    )
    session.add(study)
    for position, ((text, per), source_id) in enumerate(zip(usable.items(), sentence_ids, strict=True)):
        sentence = Sentence(position=position, text=text, source_id=source_id)
        for labeler in sorted(per):
            item = Item(labeler=labeler)
            item.set_edges(per[labeler].edges)
            sentence.items.append(item)
        study.sentences.append(sentence)
    session.flush()
    pairs = [
        (a.id, b.id) for sentence in study.sentences for a, b in itertools.combinations(sentence.items, 2)
    ]
    study.per_judge = min(config.per_judge, len(pairs) + config.n_repeats)
    rng = np.random.default_rng(config.seed)
    chosen = rng.choice(len(pairs), size=min(config.n_common, len(pairs)), replace=False) if pairs else []
    study.common_pairs = json.dumps([list(pairs[int(k)]) for k in chosen])
    session.flush()
    return study


def invite_judge(session: Session, study: Study, name: str) -> tuple[Judge, str]:
    """Add a judge to a study.

    Args:
        session: an open session (the caller commits).
        study: the study.
        name: the judge's name, unique within the study (shown in exports, never to other judges).

    Returns:
        ``(judge, token)``; the judge's link is ``/j/<token>``. Only the token's hash is stored, so this
        is the one chance to hand it out.

    Raises:
        ValueError: empty or duplicate name.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"a judge needs a name of 1 to {MAX_NAME} characters")
    taken = session.scalar(select(func.count()).where(Judge.study_id == study.id, Judge.name == name))
    if taken:
        raise ValueError(f"study {study.id} already has a judge called {name!r}")
    token = new_token()
    judge = Judge(study_id=study.id, name=name, token_hash=hash_token(token))
    session.add(judge)
    session.flush()
    return judge, token


def judge_by_token(session: Session, token: str) -> Judge | None:
    """The judge holding ``token``, or None (also for a revoked link)."""
    if not token or len(token) > 200:
        return None
    return session.scalar(select(Judge).where(Judge.token_hash == hash_token(token), Judge.revoked.is_(False)))


def revoke_link(judge: Judge) -> None:
    """Make the judge's link open nothing (a leaked link); their verdicts stay. :func:`reissue_link` undoes it."""
    judge.token_hash = hash_token(new_token())  # nobody holds this token: the old link is dead
    judge.revoked = True


def reissue_link(judge: Judge) -> str:
    """Give the judge a new link (the old one stops working); returns the new token, to be shown once."""
    token = new_token()
    judge.token_hash = hash_token(token)
    judge.revoked = False
    return token


def get_study(session: Session, study_id: int) -> Study:
    """The study with id ``study_id``.

    Raises:
        ValueError: there is none (the message points at ``fcmatch study list``).
    """
    study = session.get(Study, study_id)
    if study is None:
        raise ValueError(f"no study {study_id}; see `fcmatch study list`")
    return study
