"""Files that people hand the app (uploads, paths on the command line): decoding errors that name the
file, and error messages that show the name a person gave instead of the server's temporary path.

The readers of :mod:`fcmatch.data` raise Python's bare ``UnicodeDecodeError`` ("'utf-8' codec can't
decode byte 0xe9 in position 3") for a Latin-1 or binary file, which names no file; every reader the
web app and the ``study``/``annotate`` commands call goes through :func:`read_named`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fcmatch.data.formats import FormatError

T = TypeVar("T")


def read_named(path: str | os.PathLike, reader: Callable[[Path], T]) -> T:
    """``reader(path)``, with a decoding error turned into a :class:`FormatError` that names the file.

    Raises:
        FormatError: ``"<path>: not UTF-8 text (byte 0xe9 at offset 3); save the file as UTF-8"``, and
            whatever ``reader`` raises.
    """
    path = Path(path)
    try:
        return reader(path)
    except UnicodeDecodeError as err:
        raise FormatError(
            f"{path}: not UTF-8 text (byte 0x{err.object[err.start]:02x} at offset {err.start}); "
            "save the file as UTF-8"
        ) from None


def shown_as(message: str, folder: str | os.PathLike, names: dict[str, str] | None = None) -> str:
    """``message`` with the paths under the temporary ``folder`` replaced by the uploaded file names.

    Args:
        message: an error message that may hold ``<folder>/<file>``.
        folder: the temporary folder the uploads were saved in.
        names: saved file name -> the name the person uploaded (default: the saved name).
    """
    prefix = str(folder).rstrip(os.sep) + os.sep
    for saved, shown in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        message = message.replace(prefix + saved, shown)
    return message.replace(prefix, "").replace(str(folder), "upload")
