"""The app's database, shared by the library, the command line and the web app: engine and
sessions (:mod:`~fcmatch.store.engine`), the versioned schema (:mod:`~fcmatch.store.schema`), secret
link tokens (:mod:`~fcmatch.store.tokens`) and every table: judging studies
(:mod:`~fcmatch.store.study_tables`) and annotation projects (:mod:`~fcmatch.store.annotation_tables`).

Importing this package registers every table on :class:`~fcmatch.store.schema.Base`, so
:func:`~fcmatch.store.schema.init_db` creates them all whichever part of the app opens the database.
"""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from fcmatch.store import annotation_tables, study_tables  # noqa: F401  (registers the tables on Base)
from fcmatch.store.engine import DEFAULT_DB_URL, make_engine, session_factory
from fcmatch.store.schema import init_db


def open_sessions(url: str = DEFAULT_DB_URL) -> sessionmaker:
    """Open the database at ``url``, bring its schema up to date and return its session factory.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///fcmatch-web.sqlite`` (its folder is created).

    Returns:
        A ``sessionmaker``: ``with open_sessions(url).begin() as session:`` is one committed transaction.

    Raises:
        RuntimeError: the database's schema is newer than this fcmatch.
    """
    engine = make_engine(url)
    init_db(engine)
    return session_factory(engine)
