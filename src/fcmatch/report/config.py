"""The configuration of ``fcmatch report`` (each field is a flag); saved as ``config.yaml`` in the report folder."""

from __future__ import annotations

from dataclasses import dataclass

from fcmatch.config import check, setting
from fcmatch.evaluate.matching import MATCHERS
from fcmatch.report.experiment import DEFAULT_MATCHERS


@dataclass
class ReportConfig:
    """An HTML report (plus PNGs) of an experiment folder or of a training run folder."""

    path: str = setting("", positional=True)
    """Experiment folder (gold.jsonl, pred_*.jsonl, run/) or a training run folder."""
    out: str | None = setting(None, metavar="DIR")
    """Report folder; unset = PATH/report."""
    rescore: bool = False
    """Recompute metrics.json even if it exists."""
    matchers: tuple[str, ...] = setting(DEFAULT_MATCHERS, choices=tuple(MATCHERS))
    """Node matchers to score under; the first is the primary one."""
    examples: int = setting(40, minimum=0)
    """Example sentences shown, worst first."""
    bertscore: bool = True
    """Include BERTScore when scoring (--no-bertscore skips it)."""

    def __post_init__(self) -> None:
        check(self)
