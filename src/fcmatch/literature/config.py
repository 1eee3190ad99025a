"""Configurations of the ``fcmatch lit`` commands (each field is a flag; the resolved config is saved beside
the output)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from fcmatch.config import ConfigError, check, setting

READERS = ("auto", "jats", "tei", "pdf")


@dataclass
class ParseConfig:
    """``fcmatch lit parse``: documents to cited sentences and reference lists."""

    inputs: list[str] = setting(default_factory=list, positional=True, metavar="FILE")
    """JATS (.nxml/.xml), GROBID TEI (.tei.xml) or PDF files, or folders of them."""
    out_dir: str = setting("", required=True, metavar="DIR")
    """Folder for documents.jsonl, sentences.jsonl, references.jsonl, maps.jsonl and config.yaml."""
    reader: str = setting("auto", choices=READERS)
    """Reader for every input; auto picks by extension and root element."""
    all_sentences: bool = False
    """Keep sentences that cite nothing too (default: only cited sentences)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class HttpSettings:
    """How a client talks to a web API: identity, pacing, retries."""

    user_agent: str = f"fcmatch/0.1 (literature pipeline; {os.environ.get('FCMATCH_MAILTO', 'no contact set')})"
    """User-Agent header; both arXiv and Crossref ask for a descriptive one."""
    timeout: float = setting(30.0, minimum=0.1)
    """Seconds to wait for a response."""
    retries: int = setting(4, minimum=0)
    """Retries after a 429, a 5xx, a timeout or a dropped connection."""
    backoff: float = setting(2.0, minimum=0)
    """First retry delay in seconds, doubled each retry (a Retry-After header wins)."""
    max_backoff: float = setting(60.0, minimum=0)
    """Longest single wait between retries, in seconds."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class ResolveConfig:
    """``fcmatch lit resolve``: verified Crossref DOIs for a references.jsonl."""

    references: str = setting("", positional=True, metavar="REFERENCES")
    """references.jsonl from ``lit parse``."""
    output: str = setting("", required=True, metavar="FILE")
    """The references again, each with resolved_doi and resolution (unresolved ones kept and marked)."""
    crossref_url: str = setting("https://api.crossref.org", metavar="URL")
    """Crossref REST API base URL (a local stand-in for measurements and tests)."""
    mailto: str = setting(os.environ.get("FCMATCH_MAILTO", ""), metavar="EMAIL")
    """Contact address for Crossref's polite pool (default $FCMATCH_MAILTO)."""
    cache: str = setting("", metavar="FILE")
    """SQLite cache of Crossref answers; default crossref-cache.sqlite beside the output."""
    rows: int = setting(5, minimum=5)
    """Candidates asked for per reference."""
    min_title_similarity: float = setting(90.0, minimum=0)
    """Least title similarity (rapidfuzz ratio of normalised titles, 0-100) to accept a candidate."""
    year_tolerance: int = setting(1, minimum=0)
    """Largest accepted difference between the printed year and the candidate's (online vs print years)."""
    include_printed: bool = False
    """Query references that print a DOI too (to measure the resolver against the printed DOIs)."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """Client settings."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if self.min_title_similarity > 100:
            raise ConfigError(f"--min-title-similarity must be <= 100, got {self.min_title_similarity}")


@dataclass
class CalibrateConfig:
    """``fcmatch lit calibrate``: the resolver against the printed DOIs, offline, through the local stand-in."""

    references: str = setting("", positional=True, metavar="REFERENCES")
    """references.jsonl from ``lit parse`` (those printing a DOI are the truth)."""
    out_dir: str = setting("", required=True, metavar="DIR")
    """Folder for resolved.jsonl, thresholds.json and config.yaml."""
    drop_every: int = setting(3, minimum=0)
    """Leave the true record of one work in this many out of the stand-in (0: none), so only decoys answer."""
    thresholds: list[float] = setting(default_factory=lambda: [50.0, 60.0, 70.0, 80.0, 85.0, 90.0, 95.0, 99.0])
    """Title-similarity thresholds to tabulate."""
    min_title_similarity: float = setting(90.0, minimum=0)
    """The resolver's title threshold (as ``lit resolve --min-title-similarity``)."""
    year_tolerance: int = setting(1, minimum=0)
    """The resolver's year tolerance (as ``lit resolve --year-tolerance``)."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class SearchConfig:
    """``fcmatch lit search``: arXiv metadata for a query, as JSONL."""

    query: str = setting("", positional=True, metavar="QUERY")
    """arXiv search_query, e.g. 'all:"causal map"' or 'ti:weeds AND cat:q-bio.PE' (URL-encoded for you)."""
    output: str = setting("", required=True, metavar="FILE")
    """JSONL, one paper a line: id, title, summary, authors, published, updated, doi, categories, pdf_url."""
    max_results: int = setting(100, minimum=1)
    """Most papers to fetch metadata for."""
    page_size: int = setting(100, minimum=1)
    """Papers per API call (arXiv allows up to 2000; smaller pages are kinder to it)."""
    sort_by: str = setting("relevance", choices=("relevance", "lastUpdatedDate", "submittedDate"))
    """Order of results."""
    delay: float = setting(3.0, minimum=0)
    """Seconds between API calls; arXiv's API terms ask for 3."""
    arxiv_url: str = setting("https://export.arxiv.org", metavar="URL")
    """arXiv API base URL (a local stand-in for tests)."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """Client settings."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class FetchConfig:
    """``fcmatch lit fetch``: the PDFs of a ``lit search`` file into a content-addressed cache, resumable."""

    metadata: str = setting("", positional=True, metavar="FILE")
    """JSONL from ``lit search`` (each line's pdf_url is downloaded)."""
    cache_dir: str = setting("", required=True, metavar="DIR")
    """Cache folder: objects/<sha256[:2]>/<sha256>.pdf and index.json (arXiv id -> object)."""
    max_results: int = setting(0, minimum=0)
    """Fetch at most this many papers from the file (0: all)."""
    delay: float = setting(3.0, minimum=0)
    """Seconds between downloads (arXiv asks for 3 between calls)."""
    http: HttpSettings = field(default_factory=HttpSettings)
    """Client settings."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        check(self)


@dataclass
class PairsConfig:
    """``fcmatch lit pairs``: cited sentences -> Alpaca records asking for the supporting literature."""

    parsed: str = setting("", positional=True, metavar="DIR")
    """Output folder of ``lit parse`` (sentences.jsonl, references.jsonl)."""
    out_dir: str = setting("", required=True, metavar="DIR")
    """Folder for train.json, test.json (Alpaca), works.jsonl (the known works) and config.yaml."""
    references: str = setting("", metavar="FILE")
    """References with DOIs to use instead of the parsed ones, e.g. ``lit resolve``'s output."""
    require: str = setting("all", choices=("all", "any"))
    """Keep a sentence when all of its cited works have a DOI (all) or at least one (any; the answer then lists
    only those)."""
    test_fraction: float = setting(0.2, minimum=0)
    """Share of documents whose sentences go to the test split (at least one document when there are two)."""
    split: str = setting("document", choices=("document", "sentence"))
    """document: test sentences come from papers never seen in training. sentence: held-out sentences whose
    every cited work is also cited by some training sentence (a new claim for a work seen in training; one
    text never on both sides); --test-fraction is then a share of the sentences."""
    seed: int = 0
    """Seed of the split and of the template draw."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        if self.test_fraction >= 1:
            raise ConfigError(f"--test-fraction must be < 1, got {self.test_fraction}")


@dataclass
class EvaluateConfig:
    """``fcmatch lit evaluate``: citation answers scored against the test pairs; a retrieval baseline."""

    pairs: str = setting("", positional=True, metavar="DIR")
    """Output folder of ``lit pairs`` (train.json, test.json, works.jsonl)."""
    predictions: list[str] = setting(default_factory=list, repeat=True, flag="--predictions", metavar="FILE")
    """Predictions to score (``fcmatch generate`` JSONL: id, prediction); repeat for several systems."""
    out: str = setting("", required=True, metavar="FILE")
    """The scores, JSON (config beside it); the retrieval baseline's answers go beside it too."""
    baseline: bool = True
    """Also run and score the retrieval baseline (MiniLM nearest training sentences, their DOIs)."""
    k: int = setting(5, minimum=1)
    """Training sentences the baseline takes its DOIs from (and the largest recall@k reported)."""
    encoder: str | None = setting(None, metavar="DIR")
    """Sentence encoder folder for the baseline; unset = the embedded all-MiniLM-L6-v2."""

    def __post_init__(self) -> None:
        check(self)
