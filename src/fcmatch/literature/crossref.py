"""Crossref works search with a SQLite cache, and the check that decides whether a candidate is the reference.

A reference is looked up with ``GET /works?query.bibliographic=<title first-author year>&rows=5
&filter=from-pub-date:<year-1>,until-pub-date:<year+1>`` (Crossref's REST API; ``mailto`` puts the client
in the polite pool). A candidate is accepted only when its normalised title is similar enough (rapidfuzz
``ratio``, 0-100) and its year is within the tolerance; Crossref's own relevance score ranks candidates but
never accepts one, since a near-miss title scores high there too.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

from fcmatch.literature.client import PoliteClient, RequestFailed
from fcmatch.literature.config import HttpSettings
from fcmatch.literature.document import Reference
from fcmatch.literature.doi import normalize_doi
from fcmatch.literature.markers import fold

# records that share a title with the work they are about, and are not it
NOTICE = re.compile(r"^(?:correction|erratum|corrigendum|retraction|retracted|expression of concern|reply|"
                    r"response|comment|addendum|withdrawn)\b", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def normalize_title(title: str) -> str:
    """A title for comparison: markup and accents removed, lower case, punctuation to spaces."""
    text = unicodedata.normalize("NFKD", _TAGS.sub(" ", html.unescape(title)))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def title_similarity(a: str, b: str) -> float:
    """rapidfuzz ``ratio`` of the normalised titles, 0-100."""
    return fuzz.ratio(normalize_title(a), normalize_title(b))


@dataclass
class Candidate:
    """One Crossref work, reduced to what verification needs."""

    doi: str
    title: str
    year: int | None
    family: str
    venue: str
    score: float
    """Crossref's relevance score."""

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Candidate:
        titles = item.get("title") or [""]
        title = titles[0]
        if item.get("subtitle"):
            title = f"{title}: {item['subtitle'][0]}"
        year = None
        for key in ("issued", "published-print", "published-online", "published", "created"):
            parts = (item.get(key) or {}).get("date-parts") or [[None]]
            if parts and parts[0] and parts[0][0]:
                year = int(parts[0][0])
                break
        authors = item.get("author") or [{}]
        family = authors[0].get("family") or authors[0].get("name") or ""
        venue = (item.get("container-title") or [""])[0]
        return cls(normalize_doi(item.get("DOI", "")), title, year, family, venue, float(item.get("score") or 0))


@dataclass
class Verdict:
    """Whether a candidate is the reference, and why."""

    accepted: bool
    similarity: float
    reason: str
    year_ok: bool = True
    """Whether the year rule alone passes (for calibrating the title threshold afterwards)."""
    notice: bool = False
    """A correction, retraction or similar notice."""


def verify(ref: Reference, cand: Candidate, min_similarity: float, year_tolerance: int) -> Verdict:
    """Accept ``cand`` as ``ref`` when the titles agree (the better of title and title: subtitle) and the years
    are within ``year_tolerance``; a correction or retraction notice never stands for the work itself. A
    reference without a printed year needs a title similarity of at least 97."""
    similarity = max(title_similarity(ref.title, cand.title),
                     title_similarity(ref.title, cand.title.split(":")[0]) if ":" in cand.title else 0.0)
    notice = bool(NOTICE.match(normalize_title(cand.title))) and not NOTICE.match(normalize_title(ref.title))
    if ref.year is None:
        year_ok, year_reason = similarity >= 97, "no printed year and title similarity < 97"
    else:
        year_ok = cand.year is not None and abs(cand.year - ref.year) <= year_tolerance
        year_reason = f"year {cand.year} vs printed {ref.year}"
    if notice:
        return Verdict(False, similarity, "a notice about a work, not the work", year_ok, True)
    if similarity < min_similarity:
        return Verdict(False, similarity, f"title similarity {similarity:.1f} < {min_similarity:g}", year_ok)
    if not year_ok:
        return Verdict(False, similarity, year_reason, False)
    return Verdict(True, similarity, "title and year agree")


class ResponseCache:
    """Crossref answers by request (URL without ``mailto``), in SQLite: nothing is asked twice."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT, fetched REAL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, json.dumps(value), time.time()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._db.close()


class Crossref:
    """Bibliographic search of Crossref's ``/works``, cached.

    Args:
        base_url: the API root (``https://api.crossref.org`` or a stand-in).
        mailto: contact address for the polite pool; empty for none.
        cache: where answers are kept.
        settings: client settings.
        rows: candidates per query.
        client: a ready client (tests); default one built from the arguments.
    """

    def __init__(self, base_url: str, mailto: str, cache: ResponseCache, settings: HttpSettings, rows: int = 5,
                 client: PoliteClient | None = None) -> None:
        self.mailto, self.cache, self.rows = mailto, cache, rows
        self.client = client or PoliteClient(base_url, settings)
        self.requests = 0

    def query(self, ref: Reference) -> dict[str, Any]:
        """The ``/works`` parameters for ``ref`` (title, first author, year; the year window as a filter)."""
        words = [ref.title or ref.raw]
        if ref.authors:
            words.append(ref.authors[0])
        if ref.year:
            words.append(str(ref.year))
        params: dict[str, Any] = {"query.bibliographic": " ".join(words), "rows": self.rows}
        if ref.year:
            params["filter"] = f"from-pub-date:{ref.year - 1},until-pub-date:{ref.year + 1}"
        return params

    def candidates(self, ref: Reference) -> list[Candidate]:
        """Crossref's candidates for ``ref``, from the cache when it has them.

        Raises:
            RequestFailed: the request failed for good, or the answer is not Crossref's JSON (names the URL).
        """
        params = self.query(ref)
        key = self.client.url("/works", params)
        body = self.cache.get(key)
        if body is None:
            if self.mailto:
                params["mailto"] = self.mailto
            response = self.client.get("/works", params)
            self.requests += 1
            try:
                body = response.json()
                items = body["message"]["items"]
            except (ValueError, KeyError, TypeError):
                raise RequestFailed(key, f"not a Crossref works list: {response.text[:80]!r}") from None
            if not isinstance(items, list):
                raise RequestFailed(key, "message.items is not a list")
            self.cache.put(key, body)
        return [Candidate.from_item(item) for item in body["message"]["items"] if isinstance(item, dict)]

    def close(self) -> None:
        self.client.close()
        self.cache.close()


def family_agrees(ref: Reference, cand: Candidate) -> bool | None:
    """Whether the first authors' family names agree; None when either is missing."""
    if not ref.authors or not cand.family:
        return None
    return fold(ref.authors[0]) == fold(cand.family)
