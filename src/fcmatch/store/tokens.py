"""Secret link tokens: judges and annotators hold a random token in their link, and the database
stores only its SHA-256 (:func:`hash_token`), so a copy of the database hands out no working links.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(nbytes: int = 24) -> str:
    """A URL-safe random secret (``nbytes`` of entropy; 24 bytes -> 32 characters)."""
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token: what the database stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
