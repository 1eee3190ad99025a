"""The causal-map evaluator of a sweep: extract each test sentence's map, score edges against the gold maps.

Prompts, generation and parsing are those of ``fcmatch extract`` (zero-shot: a tuned model is prompted as it
was trained); scores are those of ``fcmatch evaluate`` (:func:`fcmatch.evaluate.graph.evaluate_maps`), with
its sentence bootstrap for the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.config import setting
from fcmatch.evaluate.bootstrap import DEFAULT_RESAMPLES
from fcmatch.evaluate.matching import MATCHERS


@dataclass
class CausalOptions:
    """How a sweep scores causal maps (the sweep file's ``eval:`` keys for task causal)."""

    match: str = setting("exact", choices=tuple(MATCHERS))
    """Node matcher: exact, fuzzy, token, embedding or paper (as ``fcmatch evaluate --match``)."""
    threshold: float | None = None
    """Node similarity threshold; unset = the matcher's default."""
    bootstrap: int = setting(DEFAULT_RESAMPLES, minimum=0)
    """Bootstrap resamples of the sentences for the 95% intervals (0 = no intervals)."""
    seed: int = 0
    """Bootstrap seed; every point is resampled on the same draws."""


class CausalEvaluator:
    """Macro and micro edge F1 (with intervals), precision and recall of extracted causal maps."""

    options = CausalOptions

    def read(self, path: str, limit: int) -> list[Any]:
        """Gold causal maps in any format ``fcmatch.data.read_maps`` reads."""
        from fcmatch.data.formats import read_maps

        maps = read_maps(path)
        return maps[:limit] if limit else maps

    def score(self, model: Any, tokenizer: Any, records: list[Any], settings: Any, options: CausalOptions,
              folder: Path, batch_size: int = 16) -> dict[str, Any]:
        """Extract, write ``pred.jsonl`` into ``folder``, score.

        Returns:
            ``{"metrics": {macro_f1, micro_f1, macro_precision, macro_recall, micro_precision, micro_recall},
            "per_sentence": evaluate_maps' rows}``.
        """
        from fcmatch.data.formats import write_jsonl
        from fcmatch.evaluate.bootstrap import bootstrap_ci, bootstrap_interval
        from fcmatch.evaluate.graph import evaluate_maps
        from fcmatch.extract.generation import chat_prompt, generate_texts
        from fcmatch.extract.pipeline import prediction
        from fcmatch.tasks.causal import prompt_messages

        prompts = [chat_prompt(tokenizer, prompt_messages(m)) for m in records]
        raw = dict(pair for batch in generate_texts(model, tokenizer, prompts, settings, batch_size)
                   for pair in batch)
        preds = [prediction(m, raw[i], "sweep", i) for i, m in enumerate(records)]
        write_jsonl(preds, folder / "pred.jsonl")
        result = evaluate_maps(records, preds, options.match, options.threshold)
        rows = result["per_sentence"]
        ci = bootstrap_ci(rows, options.bootstrap, options.seed) if options.bootstrap and rows else {}
        metrics: dict[str, dict[str, float | None]] = {}
        for kind in ("macro", "micro"):
            lo, hi = ci.get(f"{kind}_f1", (None, None))
            metrics[f"{kind}_f1"] = {"value": result[kind]["f1"], "ci_low": lo, "ci_high": hi}
        for part in ("precision", "recall"):  # the same draws as bootstrap_ci's (one seed)
            metrics[f"macro_{part}"] = bootstrap_interval([r[part] for r in rows], resamples=options.bootstrap,
                                                          seed=options.seed)
        for part in ("precision", "recall"):
            metrics[f"micro_{part}"] = {"value": result["micro"][part], "ci_low": None, "ci_high": None}
        return {"metrics": metrics, "per_sentence": rows}

    def compare(self, base: dict[str, Any], tuned: dict[str, Any], options: CausalOptions) -> dict[str, dict[str, float]]:
        """Paired bootstrap of macro F1, tuned - base (:func:`fcmatch.evaluate.bootstrap.paired_bootstrap`)."""
        from fcmatch.evaluate.bootstrap import paired_bootstrap

        if not base["per_sentence"]:
            return {}
        paired = paired_bootstrap(base["per_sentence"], tuned["per_sentence"], options.bootstrap or 1000, options.seed)
        lo, hi = paired["ci"]
        return {"macro_f1": {"difference": paired["difference"], "ci_low": lo, "ci_high": hi,
                             "p_value": paired["p_value"]}}
