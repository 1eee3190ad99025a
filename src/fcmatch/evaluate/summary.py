"""One evaluation of prediction files against a gold file, as the ``fcmatch evaluate`` command runs it.

    fcmatch evaluate --gold val.csv --pred predictions.jsonl --match embedding --text-metrics --json

With ``--out result.json`` the full result is written there and the resolved config beside it
(``result.config.yaml``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from fcmatch.config import save_beside
from fcmatch.data.formats import atomic_write, read_maps
from fcmatch.evaluate.bootstrap import DEFAULT_RESAMPLES, bootstrap_ci, paired_bootstrap
from fcmatch.evaluate.config import EvaluateConfig
from fcmatch.evaluate.graph import evaluate_maps
from fcmatch.evaluate.pairing import pair_maps


def evaluate_files(
    gold: str | os.PathLike,
    pred: str | os.PathLike,
    matcher: str = "exact",
    threshold: float | None = None,
    text_metrics: bool = False,
    bertscore: bool = True,
    bertscore_model: str | os.PathLike | None = None,
    compare: str | os.PathLike | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    out: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Score a prediction file (and optionally a second one) against a gold file.

    Args:
        gold: reference causal maps, any format :func:`fcmatch.data.formats.read_maps` reads.
        pred: predicted causal maps, any format.
        matcher: node matcher (``exact``, ``fuzzy``, ``token``, ``embedding``, ``paper``).
        threshold: node similarity threshold; default the matcher's.
        text_metrics: also compute BLEU, ROUGE-L, exact match (and BERTScore unless ``bertscore`` is False).
        bertscore: with ``text_metrics``, compute BERTScore too.
        bertscore_model: local encoder folder for BERTScore; default the embedded MiniLM.
        compare: a second prediction file: adds its scores and a paired bootstrap of macro F1 (B - A).
        resamples: bootstrap resamples for the 95% intervals (0 skips them).
        seed: bootstrap seed.
        out: write the full result (with per-sentence rows) as JSON here.

    Returns:
        ``evaluate_maps``'s dict plus ``gold``, ``pred``, ``ci`` (bootstrap intervals), ``text``
        (with ``text_metrics``), ``compare`` (with ``compare``) and ``seconds``.

    Raises:
        FileNotFoundError: a missing input file.
        ValueError: a malformed file, unknown matcher, bad threshold or repeated sentence.
    """
    start = time.perf_counter()
    gold_maps, pred_maps = read_maps(gold), read_maps(pred)
    result: dict[str, Any] = {"gold": str(gold), "pred": str(pred)}
    result.update(evaluate_maps(gold_maps, pred_maps, matcher, threshold))
    rows = result["per_sentence"]
    if resamples and rows:
        result["ci"] = bootstrap_ci(rows, resamples, seed)
    if text_metrics:
        from fcmatch.evaluate.text_metrics import text_metrics as compute_text

        text = compute_text(pair_maps(gold_maps, pred_maps).pairs, bertscore_model, bertscore)
        for row, scores in zip(rows, text.pop("per_sentence"), strict=True):
            row.update(scores)
        result["text"] = text
    if compare is not None:
        other = evaluate_maps(gold_maps, read_maps(compare), matcher, threshold)
        result["compare"] = {
            "pred": str(compare),
            "micro": other["micro"],
            "macro": other["macro"],
            "counts": other["counts"],
        }
        if rows:
            result["compare"]["paired"] = paired_bootstrap(rows, other["per_sentence"], resamples or DEFAULT_RESAMPLES, seed)
    result["seconds"] = round(time.perf_counter() - start, 3)
    if out is not None:
        with atomic_write(out) as handle:
            json.dump(result, handle, indent=1)
            handle.write("\n")
    return result


def evaluate(config: EvaluateConfig) -> dict[str, Any]:
    """Run ``fcmatch evaluate``: :func:`evaluate_files` with ``config``, the config saved beside ``config.out``.

    Returns:
        :func:`evaluate_files`'s result.

    Raises:
        FileNotFoundError, ValueError: as :func:`evaluate_files`.
    """
    result = evaluate_files(
        config.gold,
        config.pred,
        matcher=config.match,
        threshold=config.threshold,
        text_metrics=config.text_metrics,
        bertscore=config.bertscore,
        bertscore_model=config.bertscore_model,
        compare=config.compare,
        resamples=config.bootstrap,
        seed=config.seed,
        out=config.out,
    )
    if config.out is not None:
        save_beside(config, config.out)
    return result


def _fmt_ci(ci: dict[str, Any] | None, key: str) -> str:
    if not ci:
        return ""
    lo, hi = ci[key]
    return f"[{lo:.3f}, {hi:.3f}]"


def format_table(result: dict[str, Any]) -> str:
    """A small human-readable table of an :func:`evaluate_files` result."""
    mode = "one-to-one" if result["one_to_one"] else "many-to-many"
    ci = result.get("ci")
    lines = [
        f"gold {result['gold']} ({result['sentences']} sentences) vs pred {result['pred']}",
        f"node matcher: {result['matcher']} (threshold {result['threshold']:g}, {mode})",
        "",
        f"{'':8}{'precision':>10}{'recall':>8}{'f1':>8}   95% CI of f1",
    ]
    for kind in ("micro", "macro"):
        s = result[kind]
        lines.append(f"{kind:8}{s['precision']:>10.3f}{s['recall']:>8.3f}{s['f1']:>8.3f}   {_fmt_ci(ci, kind + '_f1')}")
    c = result["counts"]
    lines += [
        "",
        f"edges: gold {c['n_gold']}, predicted {c['n_pred']}, correct {c['n_pred'] - c['fp']}, "
        f"sign errors {c['sign_errors']}, swapped {c['swapped']}",
        f"sentences: missing predictions {c['missing_predictions']}, extra predictions {c['extra_predictions']} (ignored)",
    ]
    if "text" in result:
        t = result["text"]
        parts = [f"BLEU {t['bleu']:.3f}", f"sentence BLEU {t['bleu_sentence']:.3f}", f"ROUGE-L {t['rougeL']:.3f}"]
        if "bertscore_f1" in t:
            parts.append(f"BERTScore F1 {t['bertscore_f1']:.3f}")
        parts.append(f"exact match {t['exact_match']:.3f}")
        lines.append("text: " + ", ".join(parts))
    if "compare" in result:
        comp = result["compare"]
        lines.append(f"compare {comp['pred']}: micro f1 {comp['micro']['f1']:.3f}, macro f1 {comp['macro']['f1']:.3f}")
        paired = comp.get("paired")
        if paired:
            lo, hi = paired["ci"]
            lines.append(
                f"  macro f1 difference (compare - pred) {paired['difference']:+.3f} "
                f"[{lo:+.3f}, {hi:+.3f}], p = {paired['p_value']:.3f}"
            )
    return "\n".join(lines)
