"""One page of a listing, counted and cut in the database: an admin page over 100k rows reads 50 of them.

    page = paginate(session, select(Project).order_by(Project.id), number=3)
    for project in page.rows: ...
    page.pages, page.total  # for the pager

Rows are fetched with ``LIMIT``/``OFFSET`` on the statement's own ``ORDER BY`` (give it one on an
indexed column, e.g. a sentence's ``(project_id, position)``), and counted with one ``COUNT(*)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

PAGE_SIZE = 50  # rows per admin listing page


@dataclass(frozen=True)
class Page:
    """Rows of page ``number`` (1-based) of ``pages``, out of ``total`` rows, ``size`` to a page."""

    rows: list[Any]
    number: int
    pages: int
    total: int
    size: int = PAGE_SIZE

    @property
    def first(self) -> int:
        """1-based index of the page's first row (0 when there are none)."""
        return (self.number - 1) * self.size + 1 if self.rows else 0


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    """Pages needed for ``total`` rows (at least one, so an empty listing has a page 1)."""
    return max(1, -(-total // size))


def paginate(session: Session, stmt: Select, number: int, size: int = PAGE_SIZE, scalars: bool = True) -> Page:
    """Page ``number`` of ``stmt``'s rows; a number past the end shows the last page, below 1 the first.

    Args:
        session: open session.
        stmt: a ``select`` with an ``ORDER BY`` (without one the pages may overlap).
        number: 1-based page number, e.g. from ``?page=``.
        size: rows per page.
        scalars: rows as the first column's objects (``select(Project)``), else as row tuples.
    """
    total = int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    pages = page_count(total, size)
    number = min(max(number, 1), pages)
    cut = stmt.limit(size).offset((number - 1) * size)
    rows = list(session.scalars(cut)) if scalars else list(session.execute(cut).all())
    return Page(rows, number, pages, total, size)
