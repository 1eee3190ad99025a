"""The causal-map evaluator of a sweep: extract each test sentence's map, score edges against the gold maps.

Prompts, generation and parsing are those of ``fcmatch extract`` (zero-shot: a tuned model is prompted as it
was trained); scores are those of ``fcmatch evaluate`` (:func:`fcmatch.evaluate.graph.evaluate_maps`), with
its sentence bootstrap for the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fcmatch.config import setting
from fcmatch.evaluate.matching import MATCHERS


@dataclass
class CausalOptions:
    """How a sweep scores causal maps (the sweep file's ``eval:`` keys for task causal)."""

    matcher: str = setting("exact", choices=tuple(MATCHERS))
    """Node matcher: exact, fuzzy, token, embedding or paper (docs/evaluation.md)."""
    threshold: float | None = None
    """Node similarity threshold; unset = the matcher's default."""
    resamples: int = setting(1000, minimum=0)
    """Bootstrap resamples of the sentences for the 95% intervals (0 = no intervals)."""
    seed: int = 0
    """Bootstrap seed; every point is resampled on the same draws."""
    batch_size: int = setting(16, minimum=1)
    """Sentences decoded together."""


def _interval(values: np.ndarray, resamples: int, seed: int) -> tuple[float | None, float | None]:
    """Percentile interval of a per-sentence mean, on the draws of :func:`fcmatch.evaluate.bootstrap_ci`."""
    if not resamples or not len(values):
        return None, None
    idx = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    lo, hi = np.percentile(values[idx].mean(axis=1), [2.5, 97.5])
    return float(lo), float(hi)


class CausalEvaluator:
    """Macro and micro edge F1 (with intervals), precision and recall of extracted causal maps."""

    options = CausalOptions

    def read(self, path: str, limit: int) -> list[Any]:
        """Gold causal maps in any format ``fcmatch.data.read_maps`` reads."""
        from fcmatch.data.formats import read_maps

        maps = read_maps(path)
        return maps[:limit] if limit else maps

    def score(self, model: Any, tokenizer: Any, records: list[Any], settings: Any, options: CausalOptions,
              folder: Path) -> dict[str, Any]:
        """Extract, write ``pred.jsonl`` into ``folder``, score.

        Returns:
            ``{"metrics": {macro_f1, micro_f1, macro_precision, macro_recall, micro_precision, micro_recall},
            "per_sentence": evaluate_maps' rows}``.
        """
        from fcmatch.data.formats import write_jsonl
        from fcmatch.evaluate.bootstrap import bootstrap_ci
        from fcmatch.evaluate.graph import evaluate_maps
        from fcmatch.extract.generation import chat_prompt, generate_texts
        from fcmatch.extract.pipeline import prediction
        from fcmatch.tasks.causal import prompt_messages

        prompts = [chat_prompt(tokenizer, prompt_messages(m)) for m in records]
        raw = dict(pair for batch in generate_texts(model, tokenizer, prompts, settings, options.batch_size)
                   for pair in batch)
        preds = [prediction(m, raw[i], "sweep", i) for i, m in enumerate(records)]
        write_jsonl(preds, folder / "pred.jsonl")
        result = evaluate_maps(records, preds, options.matcher, options.threshold)
        rows = result["per_sentence"]
        ci = bootstrap_ci(rows, options.resamples, options.seed) if options.resamples and rows else {}
        metrics: dict[str, dict[str, float | None]] = {}
        for kind in ("macro", "micro"):
            lo, hi = ci.get(f"{kind}_f1", (None, None))
            metrics[f"{kind}_f1"] = {"value": result[kind]["f1"], "ci_low": lo, "ci_high": hi}
        for part in ("precision", "recall"):
            lo, hi = _interval(np.array([r[part] for r in rows], dtype=np.float64), options.resamples, options.seed)
            metrics[f"macro_{part}"] = {"value": result["macro"][part], "ci_low": lo, "ci_high": hi}
        for part in ("precision", "recall"):
            metrics[f"micro_{part}"] = {"value": result["micro"][part], "ci_low": None, "ci_high": None}
        return {"metrics": metrics, "per_sentence": rows}

    def compare(self, base: dict[str, Any], tuned: dict[str, Any], options: CausalOptions) -> dict[str, dict[str, float]]:
        """Paired bootstrap of macro F1, tuned - base (:func:`fcmatch.evaluate.bootstrap.paired_bootstrap`)."""
        from fcmatch.evaluate.bootstrap import paired_bootstrap

        if not base["per_sentence"]:
            return {}
        paired = paired_bootstrap(base["per_sentence"], tuned["per_sentence"], options.resamples or 1000, options.seed)
        lo, hi = paired["ci"]
        return {"macro_f1": {"difference": paired["difference"], "ci_low": lo, "ci_high": hi,
                             "p_value": paired["p_value"]}}
