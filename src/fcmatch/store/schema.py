"""The app's schema: one declarative ``Base`` for every table, the column shapes tables share, and
a small versioned-schema mechanism.

How a part of the library adds its tables::

    from fcmatch.store.schema import Base, Migration, register_migrations

    class Task(Base):
        __tablename__ = "annotate_task"
        ...

    # version 1 is the tables as first shipped; append Migration(2, ..., upgrade) when a table changes
    register_migrations("annotate", [Migration(1, "initial tables")])

``init_db(engine)`` then creates every missing table of ``Base`` and brings each registered
*component* to its newest schema version, recorded in the ``schema_version`` table (one row per
component). A fresh database is created at the newest version directly; an existing one runs only
the upgrades newer than its recorded version, each in its own transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Boolean, Connection, DateTime, Engine, String, Text, inspect, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fcmatch.data.causal_map import Edge
from fcmatch.store.engine import session_factory

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current time in UTC: the default of every ``created``/``updated`` column."""
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every table of the app (judging, annotation, settings)."""


class StoredMap:
    """Column mixin of a table holding one causal map of one sentence (a labeler's, a model's).

    The edges are one JSON list of :meth:`fcmatch.data.causal_map.Edge.to_dict`; the sentence text
    lives on the row's ``sentence``.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    edges_json: Mapped[str] = mapped_column(Text, default="[]")

    def edges(self) -> list[Edge]:
        """The stored edges, in stored order."""
        return [Edge(e["cause"], e["effect"], e["sign"]) for e in json.loads(self.edges_json)]

    def set_edges(self, edges: Iterable[Edge]) -> None:
        """Store ``edges`` (replacing what was there)."""
        self.edges_json = json.dumps([e.to_dict() for e in edges], ensure_ascii=False)


class Invitee:
    """Column mixin of a person invited by secret link (a judge, an annotator).

    ``token_hash`` is :func:`fcmatch.store.tokens.hash_token` of the link's token; the token itself is
    never stored, so a lost link can only be replaced.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # a revoked link opens nothing; reissuing makes a new token and clears this
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SchemaVersion(Base):
    """Newest migration applied, per component (``judge``, ``annotate``...)."""

    __tablename__ = "schema_version"

    component: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int]


class Setting(Base):
    """Small key-value store for app-wide values that must survive a restart (e.g. the CSRF secret)."""

    __tablename__ = "app_setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))


class AdminSession(Base):
    """One admin login: the browser holds a random session id, the database its SHA-256.

    Logging out deletes the row, so a copied cookie stops working at once; ``expires`` bounds a
    forgotten one.
    """

    __tablename__ = "app_admin_session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema.

    Attributes:
        version: 1, 2, 3... in order; version 1 is the initial tables and needs no ``upgrade``.
        description: one line, logged when the step runs.
        upgrade: ``fn(connection)`` that alters an existing database from ``version - 1`` (e.g.
            ``connection.exec_driver_sql("ALTER TABLE t ADD COLUMN c TEXT")``). New tables need no code:
            ``create_all`` makes them before upgrades run.
    """

    version: int
    description: str
    upgrade: Callable[[Connection], None] | None = None


MIGRATIONS: dict[str, list[Migration]] = {}


def add_column(table: str, column: str, ddl: str) -> Callable[[Connection], None]:
    """An upgrade step adding ``column`` (SQL type and default in ``ddl``) to ``table`` unless it is there.

    Idempotent on purpose: when a table is missing altogether, ``create_all`` makes it at the newest
    shape before the upgrades run, and the step must then leave it alone.

    Example: ``add_column("study", "notes", "TEXT NOT NULL DEFAULT '[]'")``.
    """

    def upgrade(conn: Connection) -> None:
        if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")

    return upgrade


def steps(*upgrades: Callable[[Connection], None]) -> Callable[[Connection], None]:
    """One upgrade made of several, run in order in the migration's transaction."""

    def upgrade(conn: Connection) -> None:
        for step in upgrades:
            step(conn)

    return upgrade


def register_migrations(component: str, migrations: list[Migration]) -> None:
    """Declare the ordered schema versions of one component; call at import time of its table module.

    Raises:
        ValueError: versions are not exactly 1, 2, ..., n.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise ValueError(f"migrations of {component!r} must be numbered 1..n in order, got {versions}")
    MIGRATIONS[component] = list(migrations)


def init_db(engine: Engine) -> dict[str, int]:
    """Create missing tables of ``Base`` and run pending migrations of every registered component.

    Returns:
        ``{component: version}`` after the run.

    Raises:
        RuntimeError: the database is newer than this code (recorded version > newest known).
    """
    Base.metadata.create_all(engine)
    done: dict[str, int] = {}
    factory = session_factory(engine)
    for component, migrations in sorted(MIGRATIONS.items()):
        newest = migrations[-1].version if migrations else 0
        with factory.begin() as session:
            row = session.get(SchemaVersion, component)
            if row is None:  # a fresh component: create_all just made its tables at the newest version
                session.add(SchemaVersion(component=component, version=newest))
                done[component] = newest
                continue
            current = row.version
        if current > newest:
            raise RuntimeError(
                f"database schema of {component!r} is version {current}, newer than this fcmatch ({newest})"
            )
        for migration in migrations[current:]:
            log.info("schema %s: upgrading to v%d (%s)", component, migration.version, migration.description)
            with engine.begin() as conn:
                if migration.upgrade is not None:
                    migration.upgrade(conn)
                conn.execute(
                    SchemaVersion.__table__.update()
                    .where(SchemaVersion.component == component)
                    .values(version=migration.version)
                )
        done[component] = newest
    return done


def schema_versions(engine: Engine) -> dict[str, int]:
    """``{component: version}`` as recorded in the database."""
    with session_factory(engine)() as session:
        return {row.component: row.version for row in session.scalars(select(SchemaVersion))}


def get_or_create_setting(engine: Engine, key: str, make: Callable[[], str]) -> str:
    """The stored value of ``key``, or store ``make()`` under it first (first writer wins)."""
    with session_factory(engine).begin() as session:
        row = session.get(Setting, key)
        if row is None:
            row = Setting(key=key, value=make())
            session.add(row)
        return row.value


register_migrations("app", [Migration(1, "settings, admin sessions")])
