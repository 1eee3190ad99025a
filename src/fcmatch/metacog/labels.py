"""DATASET+: answers labelled CORRECT/WRONG against their gold by a configurable rule, deduplicated.

The reference rule (preset ``reference``, the reference study's): CORRECT if the normalised answers match
exactly, or ROUGE-L F > 0.5 and BERTScore F1 >= 0.5, or ROUGE-L precision >= 0.6 or recall >= 0.6, or
BERTScore F1 > 0.9; else WRONG. Each clause can be switched off (threshold None). Exact match is SQuAD's
normalised one; ROUGE-L is rouge-score's (Porter stemming); BERTScore uses the embedded MiniLM, so its 0.5
and 0.9 do not mean what they meant with the reference's encoder. An answer that is empty after
normalisation is WRONG whatever the thresholds say: the reference study labelled its NaN predictions
CORRECT (its validator then learnt "Input: None -> CORRECT").
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from fcmatch.config import ConfigError, check, setting
from fcmatch.evaluate.text_metrics import bertscore, normalize_answer, normalized_exact_match, rouge

CORRECT, WRONG = "CORRECT", "WRONG"
PRESETS = ("reference", "exact", "custom")


@dataclass
class LabelRule:
    """When an answer counts as CORRECT (clauses are OR-ed; a None threshold switches its clause off)."""

    preset: str = setting("reference", choices=PRESETS)
    """reference (the reference study's thresholds), exact (exact match only) or custom (the thresholds below)."""
    exact_match: bool = True
    """Normalised exact match is CORRECT."""
    rouge_f_above: float | None = 0.5
    """ROUGE-L F strictly above this, together with BERTScore F1 >= bertscore_with_rouge ..."""
    bertscore_with_rouge: float | None = 0.5
    """... and BERTScore F1 at least this, is CORRECT (None: the ROUGE-L F clause alone)."""
    rouge_pr_at_least: float | None = 0.6
    """ROUGE-L precision or recall at least this is CORRECT."""
    bertscore_above: float | None = 0.9
    """BERTScore F1 strictly above this is CORRECT."""

    def __post_init__(self) -> None:
        check(self)

    def resolved(self) -> LabelRule:
        """The rule with its preset's thresholds (custom: as given)."""
        if self.preset == "reference":
            return replace(LabelRule(), preset="custom")
        if self.preset == "exact":
            return LabelRule("custom", True, None, None, None, None)
        return self

    @property
    def needs_bertscore(self) -> bool:
        """Whether any clause reads BERTScore."""
        r = self.resolved()
        return r.bertscore_above is not None or (r.rouge_f_above is not None and r.bertscore_with_rouge is not None)

    def validate(self) -> None:
        for name in ("rouge_f_above", "bertscore_with_rouge", "rouge_pr_at_least", "bertscore_above"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ConfigError(f"rule.{name}={value}: a threshold is in [0, 1] (or none)")


def label_of(metrics: dict[str, float], rule: LabelRule, prediction: str) -> str:
    """CORRECT or WRONG for one answer's metrics (keys ``exact_match``, ``rougeL_precision``, ``rougeL_recall``,
    ``rougeL_f1``, and ``bertscore_f1`` when the rule reads it). An empty answer is WRONG."""
    if not normalize_answer(prediction):
        return WRONG
    r = rule.resolved()
    bs = metrics.get("bertscore_f1", 0.0)
    if r.exact_match and metrics["exact_match"] == 1.0:
        return CORRECT
    if r.rouge_f_above is not None and metrics["rougeL_f1"] > r.rouge_f_above and (
            r.bertscore_with_rouge is None or bs >= r.bertscore_with_rouge):
        return CORRECT
    if r.rouge_pr_at_least is not None and max(metrics["rougeL_precision"], metrics["rougeL_recall"]) >= r.rouge_pr_at_least:
        return CORRECT
    if r.bertscore_above is not None and bs > r.bertscore_above:
        return CORRECT
    return WRONG


def answer_metrics(predictions: Sequence[str], golds: Sequence[str], with_bertscore: bool = True,
                   bertscore_model: str | os.PathLike | None = None) -> list[dict[str, float]]:
    """Per answer: normalised exact match, ROUGE-L precision/recall/F1 and (optionally) BERTScore F1."""
    preds, refs = list(predictions), list(golds)
    em = normalized_exact_match(preds, refs)
    rl = [r["rougeL"] for r in rouge(preds, refs, types=("rougeL",))]
    out = [{"exact_match": e, "rougeL_precision": r["precision"], "rougeL_recall": r["recall"], "rougeL_f1": r["f1"]}
           for e, r in zip(em, rl, strict=True)]
    if with_bertscore and preds:
        for row, s in zip(out, bertscore(preds, refs, bertscore_model), strict=True):
            row["bertscore_f1"] = s["f1"]
    return out


def label_rows(rows: Sequence[dict[str, Any]], rule: LabelRule,
               bertscore_model: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The rows (each with ``prediction`` and ``gold``) with ``metrics`` and ``label`` added."""
    metrics = answer_metrics([r["prediction"] for r in rows], [r["gold"] for r in rows], rule.needs_bertscore,
                             bertscore_model)
    return [{**row, "metrics": m, "label": label_of(m, rule, row["prediction"])}
            for row, m in zip(rows, metrics, strict=True)]


def deduplicate(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first row of each (question id, normalised prediction); later repeats are dropped."""
    seen, out = set(), []
    for row in rows:
        key = (row["question_id"], normalize_answer(row["prediction"]))
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def summary(rows: Sequence[dict[str, Any]], human_key: str = "human") -> dict[str, Any]:
    """Label balance, and agreement with a human label column where rows carry one (``human_key``)."""
    n = len(rows)
    correct = sum(r["label"] == CORRECT for r in rows)
    out: dict[str, Any] = {"rows": n, "correct": correct, "wrong": n - correct,
                           "correct_share": correct / n if n else 0.0,
                           "questions": len({r["question_id"] for r in rows})}
    rated = [r for r in rows if str(r.get(human_key, "")).upper() in (CORRECT, WRONG)]
    if rated:
        agree = sum(str(r[human_key]).upper() == r["label"] for r in rated)
        out["human_agreement"] = {"rows": len(rated), "agreement": agree / len(rated)}
    return out
