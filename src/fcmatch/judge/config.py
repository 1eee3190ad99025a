"""The configurations of ``fcmatch align``, ``fcmatch judge report`` and ``fcmatch judge scores``.

Each field is a flag; a command that writes a file writes its resolved config beside it
(``report.html`` -> ``report.config.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

from fcmatch.config import ConfigError, check, setting
from fcmatch.store.engine import DEFAULT_DB_URL


def _one_source(config: AlignConfig | JudgeReportConfig) -> None:
    if bool(config.data) == (config.study is not None):
        raise ConfigError("give either --data DIR (a MATCH-layout folder) or --study N (a study in --db), not both")


@dataclass
class AlignConfig:
    """Cross-validated agreement of automatic measures with the human verdicts of a study."""

    data: str = setting("", metavar="DIR")
    """Study folder with the layout of ../shared/data/match (or a `fcmatch study export` folder)."""
    study: int | None = setting(None, metavar="N")
    """Instead of --data: the id of a study in the web app's database (see `fcmatch study list`)."""
    db: str = setting(DEFAULT_DB_URL, metavar="URL")
    """SQLAlchemy URL of the web app's database, read with --study."""
    measures: list[str] = setting(default_factory=list, flag="--measure", repeat=True, metavar="NAME")
    """Measure name from fcmatch.judge.measures.MEASURES (repeatable); none given = every non-optional measure."""
    fit: str | None = setting(None, metavar="DIR")
    """Fit every measure on this study folder and score --data with the frozen fit (no cross-validation)."""
    frozen: str | None = setting(None, metavar="FILE")
    """Score --data with the measures frozen in this file (written by --save)."""
    save: str | None = setting(None, metavar="FILE")
    """Write the frozen measures (every parameter, JSON) fitted on all sentences here."""
    json: bool = False
    """Print one JSON object instead of a markdown table."""
    out: str | None = setting(None, metavar="FILE")
    """Also write the result as JSON here (and this config beside it)."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        _one_source(self)
        if self.fit is not None and self.frozen is not None:
            raise ConfigError("give --fit DIR or --frozen FILE, not both")


@dataclass
class JudgeReportConfig:
    """An HTML report of a study: Bradley-Terry scores, reliability and measure alignment."""

    data: str = setting("", metavar="DIR")
    """Study folder with the layout of ../shared/data/match (also given as the first argument)."""
    study: int | None = setting(None, metavar="N")
    """Instead of a folder: the id of a study in the web app's database (see `fcmatch study list`)."""
    db: str = setting(DEFAULT_DB_URL, metavar="URL")
    """SQLAlchemy URL of the web app's database, read with --study."""
    out: str = setting("judge-report.html", metavar="FILE")
    """HTML file to write; this config goes beside it as <name>.config.yaml."""
    measures: list[str] = setting(default_factory=list, flag="--measure", repeat=True, metavar="NAME")
    """Alignment measure (repeatable); none given = every measure."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        _one_source(self)


@dataclass
class JudgeScoresConfig:
    """Bradley-Terry (Davidson) scores, SEs and Elo per item of a study, plus reliability (printed only)."""

    data: str = setting("", positional=True)
    """Study folder with the layout of ../shared/data/match."""
    json: bool = False
    """Print one JSON object instead of a table."""

    def __post_init__(self) -> None:
        check(self)
