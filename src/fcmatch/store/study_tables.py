"""Tables of judging studies: studies, their sentences and labelers' maps (items), judges,
assignments (one pair shown to one judge) and verdicts. The logic over them is :mod:`fcmatch.study`.

Integrity lives in the schema, not in request code: a verdict is unique per assignment (a resubmitted
form stores nothing new), an assignment position is unique per judge (two racing requests cannot both
hand out slot 12), and every row of a study goes when its study goes (ON DELETE CASCADE).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fcmatch.data.causal_map import CausalMap
from fcmatch.store.schema import Base, Invitee, Migration, StoredMap, add_column, register_migrations, steps, utcnow

# what a judge can answer: a side, a tie, "both bad" (neither map is acceptable) or "skip" (cannot or
# will not judge this pair); how each reaches the analyses is fcmatch.study.export.analysed_verdict
VERDICTS = ("A", "B", "tie", "both_bad", "skip")
KINDS = ("new", "common", "repeat")


class Study(Base):
    __tablename__ = "study"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    pairing: Mapped[str] = mapped_column(String(32), default="random")
    per_judge: Mapped[int] = mapped_column(Integer, default=40)
    n_repeats: Mapped[int] = mapped_column(Integer, default=0)
    n_common: Mapped[int] = mapped_column(Integer, default=0)
    hide_labelers: Mapped[bool] = mapped_column(Boolean, default=True)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # the common (inter-rater) pairs, as JSON [[item_a_id, item_b_id], ...], fixed at creation
    common_pairs: Mapped[str] = mapped_column(Text, default="[]")
    # what the readers skipped when the study was made (e.g. an unknown edge direction), as a JSON list
    notes_json: Mapped[str] = mapped_column(Text, default="[]")

    sentences: Mapped[list[Sentence]] = relationship(
        back_populates="study", cascade="all, delete-orphan", order_by="Sentence.position"
    )
    judges: Mapped[list[Judge]] = relationship(back_populates="study", cascade="all, delete-orphan", order_by="Judge.id")

    def common(self) -> list[tuple[int, int]]:
        return [(a, b) for a, b in json.loads(self.common_pairs or "[]")]

    def notes(self) -> list[str]:
        return list(json.loads(self.notes_json or "[]"))


class Sentence(Base):
    __tablename__ = "study_sentence"
    __table_args__ = (UniqueConstraint("study_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # the sentence's id in the files the study was made from (MATCH's sentence number); exports and
    # `fcmatch align --study` use it, so item ids stay those of the source
    source_id: Mapped[str] = mapped_column(String(200), default="")

    study: Mapped[Study] = relationship(back_populates="sentences")

    @property
    def key(self) -> str:
        """The sentence id used in item ids: the source's id, else the study position."""
        return self.source_id or str(self.position)
    items: Mapped[list[Item]] = relationship(back_populates="sentence", cascade="all, delete-orphan", order_by="Item.id")


class Item(StoredMap, Base):
    """One labeler's causal map of one sentence: the thing judges compare."""

    __tablename__ = "study_item"
    __table_args__ = (UniqueConstraint("sentence_id", "labeler"),)

    sentence_id: Mapped[int] = mapped_column(ForeignKey("study_sentence.id", ondelete="CASCADE"), index=True)
    labeler: Mapped[str] = mapped_column(String(200))

    sentence: Mapped[Sentence] = relationship(back_populates="items")

    def causal_map(self) -> CausalMap:
        return CausalMap(self.sentence.text, self.edges(), source=self.labeler)


class Judge(Invitee, Base):
    """A judge of one study, holding the link ``/j/<token>``."""

    __tablename__ = "study_judge"
    __table_args__ = (UniqueConstraint("study_id", "name"),)

    study_id: Mapped[int] = mapped_column(ForeignKey("study.id", ondelete="CASCADE"), index=True)
    # set when no unjudged pair is left for this judge before per_judge is reached
    finished_early: Mapped[bool] = mapped_column(Boolean, default=False)

    study: Mapped[Study] = relationship(back_populates="judges")


class Assignment(Base):
    """Pair ``position`` (0-based) of one judge's sequence; ``item_a`` is shown on the left."""

    __tablename__ = "study_assignment"
    __table_args__ = (UniqueConstraint("judge_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    judge_id: Mapped[int] = mapped_column(ForeignKey("study_judge.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="new")
    item_a_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    item_b_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    judge: Mapped[Judge] = relationship()
    item_a: Mapped[Item] = relationship(foreign_keys=[item_a_id])
    item_b: Mapped[Item] = relationship(foreign_keys=[item_b_id])
    verdict: Mapped[Verdict | None] = relationship(back_populates="assignment", uselist=False)


class Verdict(Base):
    __tablename__ = "study_verdict"

    id: Mapped[int] = mapped_column(primary_key=True)
    # unique: the idempotency key of a submission is its assignment
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("study_assignment.id", ondelete="CASCADE"), unique=True, index=True
    )
    verdict: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str] = mapped_column(Text, default="")
    # the judge flagged the pair for the researcher (a broken sentence, a garbled map), whatever the verdict
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="verdict")


register_migrations("judge", [
    Migration(1, "studies, sentences, items, judges, assignments, verdicts"),
    Migration(2, "sentence source ids, study notes, revocable judge links", steps(
        add_column("study_sentence", "source_id", "VARCHAR(200) NOT NULL DEFAULT ''"),
        # a study made before source ids were kept was exported with its positions as ids
        lambda conn: conn.exec_driver_sql(
            "UPDATE study_sentence SET source_id = CAST(position AS VARCHAR(20)) WHERE source_id = ''"
        ),
        add_column("study", "notes_json", "TEXT NOT NULL DEFAULT '[]'"),
        add_column("study_judge", "revoked", "BOOLEAN NOT NULL DEFAULT FALSE"),
    )),
    # the new verdicts "both_bad" and "skip" fit the existing VARCHAR(8); only the flag needs a column
    Migration(3, "flagged verdicts", add_column("study_verdict", "flagged", "BOOLEAN NOT NULL DEFAULT FALSE")),
])
