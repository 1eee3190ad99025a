"""The experiment folder that ``fcmatch report`` and ``make demo`` share, and its scoring into metrics.json.

Layout of an experiment folder ``DIR``::

    DIR/gold.jsonl            reference causal maps of the test sentences (fcmatch JSONL)
    DIR/pred_base.jsonl       the base model's predictions (``fcmatch extract`` output)
    DIR/pred_finetuned.jsonl  the fine-tuned model's predictions
    DIR/run/                  the training run (metrics.jsonl, config.yaml, manifest.json, adapter/)
    DIR/metrics.json          scores of every system under every matcher, with bootstrap CIs
    DIR/timings.json          wall time per stage (written by the demo)
    DIR/report/index.html     the report (self-contained) and its PNG figures

Every file but gold.jsonl is optional: the report shows what is there.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcmatch.data.causal_map import CausalMap
from fcmatch.data.formats import atomic_write, read_maps

GOLD, RUN, METRICS, TIMINGS, REPORT = "gold.jsonl", "run", "metrics.json", "timings.json", "report"
SYSTEMS = {"base": "pred_base.jsonl", "finetuned": "pred_finetuned.jsonl"}
"""System name -> prediction file in the experiment folder, in the order the report shows them."""
LABELS = {"base": "base (zero-shot)", "finetuned": "fine-tuned"}
DEFAULT_MATCHERS = ("exact", "embedding")


@dataclass
class Experiment:
    """The files of one experiment folder that exist."""

    root: Path
    gold: list[CausalMap]
    preds: dict[str, list[CausalMap]]
    run: Path | None

    @classmethod
    def open(cls, root: str | os.PathLike) -> Experiment:
        """Read an experiment folder.

        Raises:
            FileNotFoundError: no gold.jsonl in ``root``.
            FormatError: a malformed gold or prediction file (names the file and line).
        """
        root = Path(root)
        if not (root / GOLD).is_file():
            raise FileNotFoundError(f"{root / GOLD}: no such file; an experiment folder needs gold.jsonl")
        preds = {name: read_maps(root / file) for name, file in SYSTEMS.items() if (root / file).is_file()}
        run = root / RUN if (root / RUN / "metrics.jsonl").is_file() else None
        return cls(root, read_maps(root / GOLD), preds, run)


def _per_source(gold: list[CausalMap], rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Macro and micro F1 per gold ``source``; rows are evaluate_maps' per_sentence, in gold order."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cmap, row in zip(gold, rows, strict=True):
        groups[cmap.source or "(none)"].append(row)
    out = {}
    for source, group in sorted(groups.items()):
        tp = sum(r["tp"] for r in group)
        correct = sum(r["n_pred"] - r["fp"] for r in group)
        n_gold, n_pred = sum(r["n_gold"] for r in group), sum(r["n_pred"] for r in group)
        p = correct / n_pred if n_pred else 0.0
        r = tp / n_gold if n_gold else 0.0
        micro = 1.0 if not n_gold and not n_pred else (2 * p * r / (p + r) if p + r else 0.0)
        out[source] = {"sentences": len(group), "macro_f1": sum(x["f1"] for x in group) / len(group), "micro_f1": micro}
    return out


def score_experiment(
    root: str | os.PathLike,
    matchers: tuple[str, ...] = DEFAULT_MATCHERS,
    text: bool = True,
    bertscore: bool = True,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score every prediction file of an experiment folder and write ``metrics.json``.

    Args:
        root: the experiment folder (see the module docstring).
        matchers: node matchers to score under; the first is the report's primary one.
        text: also compute BLEU, ROUGE-L and exact match of the raw outputs.
        bertscore: with ``text``, also BERTScore (loads the embedded MiniLM, a few seconds).
        resamples: bootstrap resamples for the 95% intervals.
        seed: bootstrap seed.

    Returns:
        ``{"sentences", "matchers", "systems", "scores": {system: {matcher: {micro, macro, ci, counts}}},
        "per_source": {system: {source: {sentences, macro_f1, micro_f1}}} (primary matcher),
        "paired": {matcher: paired bootstrap of finetuned - base}, "text": {system: {...}},
        "per_sentence": {system: rows of the primary matcher}}``.

    Raises:
        FileNotFoundError: no gold.jsonl.
        ValueError: no prediction file, or an unknown matcher.
    """
    from fcmatch.evaluate.bootstrap import bootstrap_ci, paired_bootstrap
    from fcmatch.evaluate.graph import evaluate_maps

    exp = Experiment.open(root)
    if not exp.preds:
        raise ValueError(f"{exp.root}: no prediction file; expected one of {', '.join(SYSTEMS.values())}")
    result: dict[str, Any] = {"sentences": len(exp.gold), "matchers": list(matchers), "systems": list(exp.preds),
                              "scores": {}, "per_source": {}, "paired": {}, "text": {}, "per_sentence": {}}
    rows: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for system, preds in exp.preds.items():
        result["scores"][system] = {}
        for matcher in matchers:
            scored = evaluate_maps(exp.gold, preds, matcher)
            rows[system][matcher] = scored["per_sentence"]
            result["scores"][system][matcher] = {
                "micro": scored["micro"], "macro": scored["macro"], "counts": scored["counts"],
                "ci": bootstrap_ci(scored["per_sentence"], resamples, seed) if scored["per_sentence"] else None,
            }
        result["per_source"][system] = _per_source(exp.gold, rows[system][matchers[0]])
        result["per_sentence"][system] = rows[system][matchers[0]]
        if text:
            from fcmatch.evaluate.pairing import pair_maps
            from fcmatch.evaluate.text_metrics import text_metrics

            scores = text_metrics(pair_maps(exp.gold, preds).pairs, with_bertscore=bertscore)
            scores.pop("per_sentence")
            result["text"][system] = scores
    if {"base", "finetuned"} <= set(exp.preds) and exp.gold:
        for matcher in matchers:
            result["paired"][matcher] = paired_bootstrap(rows["base"][matcher], rows["finetuned"][matcher], resamples, seed)
    with atomic_write(exp.root / METRICS) as handle:
        json.dump(result, handle, indent=1)
        handle.write("\n")
    return result


def read_training_log(run: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a run's metrics.jsonl; a cut-off last line (a run still writing) is skipped.

    Raises:
        ValueError: a malformed line other than the last, naming the file and line.
    """
    path = Path(run) / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                continue
            raise ValueError(f"{path}:{number}: not valid JSON") from None
    return rows
