"""One committed transaction per request: ``with transaction(request) as session:``.

Its writes commit (and, on SQLite, are on disk: WAL with ``synchronous=FULL``) when the block exits,
so before the response that reports them is sent. The transaction queues on
``request.app.state.write_lock`` (:func:`fcmatch.store.engine.writer_lock`) so that concurrent SQLite
writers take turns instead of polling the busy handler.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session


@contextlib.contextmanager
def transaction(request: Any) -> Iterator[Session]:
    """``with transaction(request) as session:`` one committed transaction of the app's database.

    Commits when the block ends without an exception (rolls back otherwise); on SQLite the commit has
    reached the disk (WAL, ``synchronous=FULL``) when the block exits.
    """
    state = request.app.state
    with state.write_lock, state.sessions.begin() as session:
        yield session
