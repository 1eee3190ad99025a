"""Tables of annotation projects: sentences, annotators, their tasks (one annotation each),
imported model predictions and what became of each suggested edge. The logic over them is
:mod:`fcmatch.annotate`.

Integrity lives in the schema: a person has at most one task per sentence, a model at most one
prediction per sentence, one outcome row per (task, model, suggestion), and everything of a project
goes when the project goes (ON DELETE CASCADE). ``Task.version`` is the optimistic-concurrency
counter that lets two tabs on one sentence detect each other instead of overwriting.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fcmatch.data.causal_map import CausalMap
from fcmatch.store.schema import Base, Invitee, Migration, StoredMap, add_column, register_migrations, utcnow


class Project(Base):
    __tablename__ = "annotate_project"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    overlap: Mapped[float] = mapped_column(Float, default=0.2)
    redundancy: Mapped[int] = mapped_column(Integer, default=2)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    ordering: Mapped[str] = mapped_column(String(32), default="input")
    # the model whose predictions pre-fill the editor ("" = none imported yet)
    suggest_model: Mapped[str] = mapped_column(String(200), default="")
    instructions: Mapped[str] = mapped_column(Text, default="")

    sentences: Mapped[list[ProjectSentence]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="ProjectSentence.position"
    )
    annotators: Mapped[list[Annotator]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Annotator.id"
    )


class ProjectSentence(Base):
    __tablename__ = "annotate_sentence"
    __table_args__ = (UniqueConstraint("project_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("annotate_project.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), default="")
    meta_json: Mapped[str] = mapped_column(Text, default="{}")
    # higher = annotate sooner (fcmatch.annotate.ordering); 0.0 keeps the input order
    priority: Mapped[float] = mapped_column(Float, default=0.0)

    project: Mapped[Project] = relationship(back_populates="sentences")
    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="sentence", cascade="all, delete-orphan", order_by="Prediction.id"
    )

    @property
    def meta(self) -> dict[str, Any]:
        return json.loads(self.meta_json or "{}")


class Annotator(Invitee, Base):
    """An annotator of one project, holding the link ``/annotate/a/<token>``."""

    __tablename__ = "annotate_annotator"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("annotate_project.id", ondelete="CASCADE"), index=True)

    project: Mapped[Project] = relationship(back_populates="annotators")
    tasks: Mapped[list[Task]] = relationship(back_populates="annotator", cascade="all, delete-orphan")


class Task(Base):
    """One sentence assigned to one annotator, holding that person's annotation of it."""

    __tablename__ = "annotate_task"
    __table_args__ = (UniqueConstraint("annotator_id", "sentence_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    annotator_id: Mapped[int] = mapped_column(ForeignKey("annotate_annotator.id", ondelete="CASCADE"), index=True)
    sentence_id: Mapped[int] = mapped_column(ForeignKey("annotate_sentence.id", ondelete="CASCADE"), index=True)
    # fcmatch.annotate.annotation.AnnotationDoc.to_dict(), as JSON
    doc_json: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | draft | done
    version: Mapped[int] = mapped_column(Integer, default=0)
    # fixed when the editor first opens, so suggestion indices in doc_json keep their meaning
    suggestion_model: Mapped[str | None] = mapped_column(String(200), nullable=True, default=None)
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    annotator: Mapped[Annotator] = relationship(back_populates="tasks")
    sentence: Mapped[ProjectSentence] = relationship()


class Prediction(StoredMap, Base):
    """One model's causal map of one sentence (``fcmatch extract`` output), the source of suggestions."""

    __tablename__ = "annotate_prediction"
    __table_args__ = (UniqueConstraint("sentence_id", "model"),)

    sentence_id: Mapped[int] = mapped_column(ForeignKey("annotate_sentence.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    meta_json: Mapped[str] = mapped_column(Text, default="{}")

    sentence: Mapped[ProjectSentence] = relationship(back_populates="predictions")

    def causal_map(self) -> CausalMap:
        return CausalMap(self.sentence.text, self.edges(), self.model, json.loads(self.meta_json or "{}"))


class SuggestionOutcome(Base):
    """What one annotator did with suggested edge ``index`` of ``model`` (see fcmatch.annotate.suggestions)."""

    __tablename__ = "annotate_suggestion_outcome"
    __table_args__ = (UniqueConstraint("task_id", "model", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("annotate_task.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    index: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))


register_migrations("annotate", [
    Migration(1, "projects, sentences, annotators, tasks, predictions, outcomes"),
    Migration(2, "revocable annotator links", add_column("annotate_annotator", "revoked", "BOOLEAN NOT NULL DEFAULT FALSE")),
])
