"""CSV cells that a spreadsheet will not run: every CSV the app exports from its database (verdicts,
annotations) passes its text cells through :func:`safe_cell`.

A cell starting with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel, LibreOffice and Google
Sheets, so a judge's comment or a concept such as ``=HYPERLINK("http://evil", "x")`` would run when
the researcher opens the export. The defence OWASP recommends is a leading ``'``, which spreadsheets
hide and read as "this is text". Plain numbers (``-0.5``) and a lone sign (``+``, ``-``) are no
formula and stay as they are, so sign columns and scores keep their values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@")
# also tab and carriage return: some spreadsheets strip them and then read what follows
_LEADING = ("\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` with a ``'`` in front when a spreadsheet would read it as a formula; other values unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_LEADING) or (
        value.startswith(FORMULA_START) and value not in ("+", "-") and not _NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of every value of one row."""
    return [safe_cell(v) for v in values]
