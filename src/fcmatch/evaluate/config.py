"""The configuration of ``fcmatch evaluate`` (each field is a flag); saved beside ``--out`` as ``<out>.config.yaml``."""

from __future__ import annotations

from dataclasses import dataclass

from fcmatch.config import check, setting
from fcmatch.evaluate.bootstrap import DEFAULT_RESAMPLES
from fcmatch.evaluate.matching import MATCHERS, check_threshold


@dataclass
class EvaluateConfig:
    """Edge P/R/F1 of a prediction file against a gold file, sentences paired by text."""

    gold: str = setting("", required=True, metavar="FILE")
    """Reference causal maps: fcmatch JSONL, causal-claims CSV or MATCH JSON."""
    pred: str = setting("", required=True, metavar="FILE")
    """Predicted causal maps, any of the same formats."""
    match: str = setting("exact", choices=tuple(MATCHERS))
    """Node matcher: how a predicted concept is paired with a gold one."""
    threshold: float | None = None
    """Node similarity threshold in [0, 1]; unset = the matcher's own."""
    json: bool = False
    """Print one JSON object (without per-sentence rows) instead of a table."""
    text_metrics: bool = False
    """Also BLEU, ROUGE-L, BERTScore and exact match of the serialised maps."""
    bertscore: bool = True
    """With text_metrics, compute BERTScore too (--no-bertscore skips it)."""
    bertscore_model: str | None = setting(None, metavar="PATH")
    """Local encoder folder for BERTScore; unset = the embedded MiniLM."""
    compare: str | None = setting(None, metavar="PRED2")
    """Second prediction file: its scores and a paired bootstrap of macro F1 (compare - pred)."""
    bootstrap: int = setting(DEFAULT_RESAMPLES, minimum=0)
    """Bootstrap resamples for the 95% intervals (0: no intervals)."""
    seed: int = 0
    """Bootstrap seed."""
    out: str | None = setting(None, metavar="FILE")
    """Write the full result with per-sentence rows as JSON here (and this config beside it)."""

    def __post_init__(self) -> None:
        check(self)

    def validate(self) -> None:
        """The threshold's range, the one check beyond those declared on the fields.

        Raises:
            ValueError: naming the threshold.
        """
        if self.threshold is not None:
            check_threshold(self.threshold)
